# The README's two commands are `make demo` and `make test`; everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
BENCH_ARGS ?=

AIRFLOW_VENV := .venv-airflow

.PHONY: setup setup-test airflow-env demo test test-fast check bench lint format wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Fetches Delta's JARs into the Ivy cache once, so later Spark starts (and tests) reuse them.
setup: $(VENV)/.installed
	$(BIN)/rebalance warm-jars --log $(VENV)/warm-jars.log

$(AIRFLOW_VENV)/.installed: dags/requirements-airflow.txt
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/pip install --quiet -r dags/requirements-airflow.txt
	touch $@

airflow-env: $(AIRFLOW_VENV)/.installed

setup-test: setup $(VENV)/.installed-test airflow-env

demo: setup
	$(BIN)/rebalance demo

# The pure core, the planner and the CLI's parsing: no JVM, seconds. For every edit.
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not jvm" $(PYTEST_ARGS)

# Types (strict on the core) and the import contracts (the core never imports Spark; no floor
# imports one above it).
check: $(VENV)/.installed-test
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup-test check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

# Benchmark (not part of CI but its 200k-row smoke run): regenerates bench/RESULTS.md.
# make bench BENCH_ARGS="--rows 20000000 --repeat 1"
bench: setup $(VENV)/.installed-bench
	$(BIN)/python bench/run_bench.py $(BENCH_ARGS)

lint: setup-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

wheel: setup
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) dist build .rebalance-demo *.egg-info
