# The README's two commands are `make demo` and `make test`; everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# make test runs test modules in parallel, each whole on one worker (its fixtures shared; the
# modules that share a server together, conftest.py), in the order conftest.py gives them (the
# longest first), not by their count of tests. Two workers on two cores: a third JVM taking turns
# with them burns more CPU than it overlaps (docs/development.md).
TEST_WORKERS ?= 2
BENCH_ARGS ?=

AIRFLOW_VENV := .venv-airflow
MLFLOW_VENV := .venv-mlflow
S3_VENV := .venv-s3
# The exact versions everything is tested with (pyproject.toml declares ranges).
PIP_INSTALL = $(BIN)/pip install --quiet --constraint constraints.txt

.PHONY: setup setup-test airflow-env mlflow-env s3-env s3a-jars class-archive demo test test-fast check docs bench lint format wheel lock lanes clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[test]'
	touch $@

# Fetches Delta's JARs into the Ivy cache once, so later Spark starts (and tests) reuse them.
setup: $(VENV)/.installed
	$(BIN)/rebalance warm-jars --log $(VENV)/warm-jars.log

# A tool's own virtualenv (the target's folder) from its requirements file (the first
# prerequisite).
define TOOL_VENV
$(PYTHON) -m venv $(@D)
$(@D)/bin/pip install --quiet --upgrade pip
$(@D)/bin/pip install --quiet -r $<
touch $@
endef

$(AIRFLOW_VENV)/.installed: dags/requirements-airflow.txt
	$(TOOL_VENV)

airflow-env: $(AIRFLOW_VENV)/.installed

# The MLflow tracking server the tests start (tests/mlflow_server.py), in its own virtualenv.
$(MLFLOW_VENV)/.installed: tests/requirements-mlflow.txt
	$(TOOL_VENV)

mlflow-env: $(MLFLOW_VENV)/.installed

# The S3 API server the tests start (tests/s3_server.py: moto's) and boto3, in their own virtualenv.
$(S3_VENV)/.installed: tests/requirements-s3.txt
	$(TOOL_VENV)

s3-env: $(S3_VENV)/.installed

# S3A's JARs (hadoop-aws for the Hadoop inside pyspark, and the AWS SDK bundle it names: about
# 690 MB), fetched once into the Ivy cache beside Delta's, for the suite's s3a:// tests.
s3a-jars: $(VENV)/.installed
	$(BIN)/rebalance warm-jars --s3a --log $(VENV)/warm-s3a-jars.log

# The suite's Spark drivers map Spark's classes from an archive recorded by one demo run
# (tests/class_archive.py), instead of loading and verifying them at each start.
class-archive: $(VENV)/.installed-test
	$(BIN)/python tests/class_archive.py

setup-test: setup $(VENV)/.installed-test airflow-env mlflow-env s3-env s3a-jars class-archive

demo: setup
	$(BIN)/rebalance demo

# The pure core, the planner and the CLI's parsing: no JVM, seconds. For every edit.
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not jvm" $(PYTEST_ARGS)

# Lint and format (ruff), types (strict on the core), the import contracts (the core never
# imports Spark; no floor imports one above it) and the docs site.
check: $(VENV)/.installed-test docs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The documentation site (mkdocs.yml, docs/), into the venv; --strict turns a broken link or
# anchor, a page left out of the navigation or a docstring griffe cannot read into a failure
# (not with --quiet, which hides the warnings strict mode counts: the build would pass).
# The API reference is read from the source statically: no Spark starts. (The variable quiets
# Material's notice about a future MkDocs.)
docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(VENV)/site

# Everything, timed: the suite's own seconds are its budget (10 minutes on 2 cores).
test: setup-test check
	@started=$$(date +%s); status=0; $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=20 $(PYTEST_ARGS) || status=$$?; \
	echo "make test: the test suite took $$(( $$(date +%s) - started )) s"; exit $$status

$(VENV)/.installed-bench: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[bench]'
	touch $@

# Benchmark (not part of CI but its 50k-row smoke run): regenerates bench/RESULTS.md.
# make bench BENCH_ARGS="--rows 20000000 --repeat 1"
bench: setup $(VENV)/.installed-bench
	$(BIN)/python bench/run_bench.py $(BENCH_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# An sdist and a wheel in dist/, checked as a package index would check them.
wheel: $(VENV)/.installed-test
	rm -rf dist
	$(BIN)/python -m build --sdist --wheel --outdir dist . >$(VENV)/build.log
	$(BIN)/twine check --strict dist/*

# Re-pin constraints.txt from what the project's ranges resolve to today, in a scratch venv.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip
	.venv-lock/bin/pip install --quiet -e '.[test]'
	{ sed -n '/^#/p' constraints.txt; .venv-lock/bin/pip freeze --exclude-editable; } >constraints.new
	mv constraints.new constraints.txt && rm -rf .venv-lock

# The other Pythons we support: the fast lane and one local run each (scripts/python_lane.sh).
lanes:
	scripts/python_lane.sh 3.12 lowest
	scripts/python_lane.sh 3.13

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) $(MLFLOW_VENV) $(S3_VENV) .venv-3.* dist build .rebalance-demo *.egg-info
