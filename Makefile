# The kit's entry points. `make main` and `make test` are the two commands in README.md.
# Offline or behind a firewall: NNKIT_DATA_SOURCE=/folder/or/cifar-10-python.tar.gz make ...

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: setup data main test test-fast benchmark

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

data: setup
	PYTHON=$(abspath $(PY)) bash datasets/get_datasets.sh

main: data
	$(PY) scripts/train_reference.py

test: data
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

benchmark: data
	$(PY) benchmarks/bench_layers.py
