PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test test-any-hour lint bench bench-check bench-scale soak soak-fleet clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP)

demo: $(STAMP)
	$(BIN)/lifecycle demo

lint: $(TEST_STAMP)
	$(BIN)/ruff check lifecycle tests bench migrations
	$(BIN)/ruff format --check lifecycle tests bench migrations
	$(BIN)/lint-imports
	$(BIN)/mypy lifecycle

# The suite runs on PYTEST_WORKERS processes (pytest-xdist; `auto` is one per core): much
# of it waits on child processes, sockets and PostgreSQL, so two cores finish it in about
# half the time. PYTEST_WORKERS=0 runs it in this one process.
PYTEST_WORKERS ?= auto

test: lint
	$(BIN)/lifecycle check rules.yaml
	$(BIN)/lifecycle check --accounts deploy/accounts.example.yaml rules.yaml
	$(BIN)/lifecycle test rules.test.yaml
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

# The wall-clock tests under faketime at awkward instants (.ci/any-hour says which).
# Separate from `test`: the three instants run side by side. Needs `apt-get install faketime`.
test-any-hour: $(TEST_STAMP)
	PYTHON=$(BIN)/python .ci/any-hour

bench: $(STAMP)
	$(BIN)/python bench/bench_tick.py

# What `lifecycle check` costs at 120 to 1,000 rules, in-process and as the CLI.
bench-check: $(STAMP)
	$(BIN)/python bench/bench_check.py

# Issue 11's figures at 1k/10k/100k campaigns side by side, with verdicts (README,
# Benchmarks; a few minutes). BENCH_SCALE_ARGS=--quick for 1k/10k only.
BENCH_SCALE_ARGS ?=
bench-scale: $(STAMP)
	$(BIN)/python bench/bench_scale.py $(BENCH_SCALE_ARGS)

# Two daemons on PostgreSQL behind a fault proxy, frozen and killed at random (README,
# Soak). Minutes of real time; not part of `test`. Exit 1 when a target figure is not 0.
SOAK_MINUTES ?= 10
SOAK_SEED ?= 1
soak: $(STAMP)
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES) --seed $(SOAK_SEED)

# Issue 9's fleet test for SOAK_MINUTES: 3 daemons, 12 accounts, random kill -9 / restart.
soak-fleet: $(TEST_STAMP)
	FLEET_MINUTES=$(SOAK_MINUTES) FLEET_SEED=$(SOAK_SEED) $(BIN)/python -m pytest -q -s \
		-p no:cacheprovider tests/test_fleet.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
