# The kit's entry points. `make main` and `make test` are the two commands in README.md.
# Offline or behind a firewall: NNKIT_DATA_SOURCE=/folder/or/cifar-10-python.tar.gz make ...

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: setup sandbox data main check-grading train-reference test test-fast benchmark benchmark-grading benchmark-faults

setup: $(VENV)/.installed sandbox

# bubblewrap, the sandbox for student code while grading (needs root or sudo; without it
# grading still runs, unconfined, and says so).
sandbox:
	bash scripts/install_sandbox.sh

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

data: setup
	PYTHON=$(abspath $(PY)) bash datasets/get_datasets.sh

# The main job: regenerate the student release, build sample submissions from it (the
# reference solution, the blank release, partial ones) and grade them with 2 workers.
# Grades, feedback and the report land in out/main/graded/.
main: data
	$(PY) -m autograder release fcnet
	rm -rf out/main/submissions
	$(PY) -m autograder samples fcnet --out out/main/submissions
	$(PY) -m autograder grade fcnet --submissions out/main/submissions --out out/main/graded --workers 2

# Grade the samples and fail unless every score is exactly what it must be.
check-grading: data
	$(PY) -m autograder check fcnet --workers 2

# Train the reference recipes on CIFAR-10 and print their accuracies against the targets.
train-reference: data
	$(PY) scripts/train_reference.py

test: data
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

benchmark: data
	$(PY) benchmarks/bench_layers.py

# Grading one submission against executing its notebooks bare; 1 vs 2 workers (~15 min).
benchmark-grading: data
	$(PY) benchmarks/bench_grading.py

# Grading a submission with an endless loop next to the reference, side by side (~5 min).
benchmark-faults: data
	$(PY) benchmarks/bench_faults.py
