# The two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: demo test check unit integration bench schema clean

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "riskmon needs Python 3.11 or newer (found: $$($(PYTHON) --version)); set PYTHON=python3.x"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed-run: $(VENV)/.python-ok pyproject.toml
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.python-ok pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed-run

demo: $(VENV)/.installed-run  ## embedded broker + PostgreSQL, worker, gateway, simulator
	$(BIN)/riskmon demo $(ARGS)

test: $(VENV)/.installed-dev check  ## lint, types, import rules, then every test
	$(BIN)/pytest

check: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -m "not integration"

integration: $(VENV)/.installed-dev
	$(BIN)/pytest -m integration

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench

schema: $(VENV)/.installed-dev
	$(BIN)/riskmon schema --out streams/schemas

clean:
	rm -rf $(VENV) .riskmon .mypy_cache .ruff_cache .pytest_cache
