# The kit's entry points. `make main` and `make test` are the two commands in README.md.
# Offline or behind a firewall: NNKIT_DATA_SOURCE=/folder/or/cifar-10-python.tar.gz make ...

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: setup sandbox browser postgres data main check-grading train-reference test test-fast benchmark benchmark-grading benchmark-gradebook benchmark-cluster benchmark-data benchmark-faults benchmark-live-checks

setup: $(VENV)/.installed sandbox

# bubblewrap, the sandbox for student code while grading (needs root or sudo; without it
# grading still runs, unconfined, and says so).
sandbox:
	bash scripts/install_sandbox.sh

# Chromium and chromedriver from Debian (needs root or sudo): the formgrader browser test
# drives them; grading never needs a browser.
browser:
	bash scripts/install_browser.sh

# PostgreSQL's server from Debian (needs root or sudo): the tests of the PostgreSQL gradebook
# (`grade --db`) start a throw-away server with it; grading itself never needs one here.
postgres:
	bash scripts/install_postgres.sh

# Set-up needs the package index (PyPI) once; check_python.sh says what to install when the
# given Python is too old or cannot make virtual environments.
$(VENV)/.installed: pyproject.toml requirements.lock
	bash scripts/check_python.sh $(PYTHON)
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

# The test suite's own packages (pytest, ...), on top of the kit's.
$(VENV)/.installed-test: $(VENV)/.installed requirements-test.lock
	$(PY) -m pip install --quiet -r requirements-test.lock
	touch $@

# Everything, datasets and the PostgreSQL server included: a test that needs one fails when
# it is missing.
test: data browser postgres $(VENV)/.installed-test
	NNKIT_TESTS_NEED_DATA=1 NNKIT_TESTS_NEED_POSTGRES=1 $(PY) -m pytest

# No training, notebook execution or real grading runs, and no data fetched: tests that need
# CIFAR-10 or MNIST skip, saying so, when `make data` has not been run.
test-fast: setup $(VENV)/.installed-test
	$(PY) -m pytest -m "not slow"

benchmark: data
	$(PY) benchmarks/bench_layers.py

# Grading one submission against executing its notebooks bare; 1 vs 2 workers (~15 min).
benchmark-grading: data
	$(PY) benchmarks/bench_grading.py

# The same batch graded into SQLite and into PostgreSQL (a throw-away local server): seconds
# side by side, and the gradebook's own share (~10 min).
benchmark-gradebook: data postgres
	$(PY) benchmarks/bench_gradebook.py

# The same 16 trimmed submissions graded with 1 and 2 local workers and on a Dask cluster of
# 2 workers started on loopback: throughput side by side, Dask's overhead per submission.
benchmark-cluster: data
	$(PY) benchmarks/bench_cluster.py

# CIFAR-10 loading in a fresh process: the batches (before the cache) against the cache.
benchmark-data: data
	$(PY) benchmarks/bench_data.py

# Grading a submission with an endless loop next to the reference, side by side (~5 min).
benchmark-faults: data
	$(PY) benchmarks/bench_faults.py

# The source notebooks with and without their hidden sections (run() outside grading); a
# git commit to compare with: make benchmark-live-checks BASELINE=<commit> (~5 min).
benchmark-live-checks: data
	$(PY) benchmarks/bench_live_checks.py $(if $(BASELINE),--baseline $(BASELINE))
