# Two set-up commands that work on a fresh machine: `make demo` and `make test`.
# Both create .venv and install what they need; `.ci/run` calls `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test test-fast test-oldest fuzz lint format golden bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,engines,cluster,dbt,compare]'
	touch $@

$(VENV)/.installed-core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

demo: $(VENV)/.installed-core
	$(BIN)/semseg compile segment_specs/offer_seeker.yml --dialect snowflake
	$(BIN)/semseg verify segment_specs/offer_seeker.yml

lint: $(STAMP)
	$(BIN)/ruff check semseg tests benchmarks scripts
	$(BIN)/ruff format --check semseg
	$(BIN)/mypy semseg

test: lint
	$(BIN)/python -m pytest -q -n 2 --dist worksteal --durations=15 -m 'engines or dbt or not (engines or dbt)'

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m 'not (engines or dbt)'

# The fit on the oldest numpy and scikit-learn the pyproject allows must write the committed
# model byte for byte (tests/test_fit_portable.py); .ci/run runs this after `make test`.
# This venv has no engine drivers: tests marked `engines` ran in `make test` already.
OLDEST := .venv-oldest
OLDEST_PINS := numpy==1.26.4 scikit-learn==1.5.0 scipy==1.11.4
$(OLDEST)/.installed: pyproject.toml
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet --upgrade pip
	$(OLDEST)/bin/pip install --quiet -e '.[dev,cluster]' $(OLDEST_PINS)
	touch $@

test-oldest: $(OLDEST)/.installed
	$(OLDEST)/bin/python -m pytest -q -p no:cacheprovider -m 'not engines' \
		tests/test_fit_portable.py tests/test_cluster.py tests/test_cluster_boxes.py

fuzz: $(STAMP)
	SEMSEG_FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest -q tests/test_fuzz.py -k mutated

format: $(STAMP)
	$(BIN)/ruff format semseg
	$(BIN)/ruff check --fix semseg tests benchmarks

golden: $(STAMP)
	$(BIN)/python -m tests.golden_regen

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.cluster
	$(BIN)/python -m benchmarks.cluster --sizes 10000000 --repeat 1 --out benchmarks/results/cluster_10m.md --title '## Clustering 10M customers x 5 features end to end (`benchmarks/cluster.py`)'
	$(BIN)/python -m benchmarks.time
	$(BIN)/python -m benchmarks.predict
	$(BIN)/python -m benchmarks.history --repeat 3
	$(BIN)/python -m benchmarks.assign
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) $(OLDEST) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
