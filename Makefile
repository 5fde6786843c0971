# The two commands a newcomer needs: `make demo` and `make test`. Everything installs into .venv.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast coverage lint typecheck pytest faults bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,uvloop]'
	touch $(STAMP)

## demo: start loopback targets, run the agent against them, print the status, SLA report and credits
demo: $(STAMP)
	$(BIN)/python -m probe_agent.demo

## test: lint, type-check and run the whole test suite (pytest's "no tests" exit code 5 fails the build)
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check probe_agent tests bench
	$(BIN)/ruff format --check probe_agent tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## The suite mostly waits (daemon subprocesses, sockets, real-time cadences: ~1/4 of its wall time is CPU), so it
## runs in PYTEST_WORKERS pytest-xdist processes, one more than CI's 2 cores (4 was faster still, but starved daemons
## of CPU: probes later than the 500 ms grace, no_data the tests do not expect); `worksteal` evens out the long
## daemon tests. Tests marked `solo` (kill -9 under 160 results/s, the libfaketime clock steps) run while no other
## test runs (tests/solo.py). PYTEST_WORKERS=0 runs it in this one process (pytest's own order, e.g. with --pdb).
PYTEST_WORKERS ?= 3
XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),-p no:xdist,-n $(PYTEST_WORKERS) --dist worksteal)

pytest: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider $(XDIST) -m "not long_fault"

## test-fast: every test but the `slow` (seconds-long daemon runs) and `long_fault` ones; no lint or type-check
test-fast: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider $(XDIST) -m "not slow and not long_fault"

## coverage: the test suite with line coverage of probe_agent/agent measured in the test processes (pytest-cov
## combines the xdist workers'; daemons run as
## subprocesses by tests/e2e are not counted: what is covered here is what the in-process tests exercise)
coverage: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider $(XDIST) -m "not long_fault" --cov=probe_agent.agent \
		--cov-report=term-missing:skip-covered --cov-fail-under=85

## faults: the fault suite (every test marked `fault`, long ones included); writes FAULTS.md from this run
faults: $(STAMP)
	FAULTS_MD=FAULTS.md $(BIN)/pytest -q -p no:cacheprovider $(XDIST) -m fault

## bench: run the benchmarks in bench/ and print their figures (copy them into BENCHMARKS.md)
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache demo-out .coverage
