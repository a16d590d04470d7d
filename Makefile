# The two set-up commands (README): `make demo` and `make test`. Both create .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest compat fuzz faults test-ray bench clean

# uv installs (bootstrapped by pip): seconds where pip alone takes over a minute.
UV := $(BIN)/uv pip install --quiet --python $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(UV) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(UV) -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/python examples/demo.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/ruff check src tests examples bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# The coverage floor only rises (91 % measured when it was last raised; processes the tests start are
# not counted).
# One worker per core (at most 4), a test file per worker: most tests wait on servers and replicas,
# and a file's module-scoped server is started once.
pytest: $(VENV)/.installed-dev
	$(BIN)/pytest -n auto --maxprocesses 4 --dist loadfile --cov=kiln --cov-branch --cov-report=term:skip-covered --cov-fail-under=90 --durations=25

test: lint typecheck pytest

# The conformance suite's long profile: every moto module, SDK v3, XGBoost/PyTorch patterns.
# (`make pytest` runs its short profile; client virtualenvs are cached in .venv-compat/.)
compat: $(VENV)/.installed-dev
	KILN_COMPAT_PROFILE=long $(BIN)/pytest -m compat tests/compat

# The fuzz suite's long profile: 1,000 examples per test, new inputs each run, a memory run of
# ~12,000 requests. (`make pytest` runs its short profile, the same inputs every run.)
fuzz: $(VENV)/.installed-dev
	HYPOTHESIS_PROFILE=long $(BIN)/pytest -m fuzz tests/fuzz --timeout 3600 --hypothesis-show-statistics

# The fault suite's long profile: kill -9, a full disk, bombs (docs/faults.md). `make pytest`
# runs its short profile (tests/faults/test_faults.py).
faults: $(VENV)/.installed-dev
	PYTHONPATH=tests $(BIN)/python -m faults --profile long

# The Ray long profile: every integration test with its servers on a two-node Ray cluster on
# 127.0.0.1, one per xdist worker (docs/scale-out.md, "Testing on Ray"). `make pytest` runs
# tests/ray_backend, the Ray tests proper.
test-ray: $(VENV)/.installed-dev
	KILN_TEST_BACKEND=ray $(BIN)/pytest -n 2 --dist loadfile tests/integration

bench: $(VENV)/.installed
	$(BIN)/python bench/training_overhead.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/auth_cost.py
	$(BIN)/python bench/sdk_roundtrip.py

clean:
	rm -rf $(VENV) .venv-compat .pytest_cache .mypy_cache .ruff_cache .hypothesis
