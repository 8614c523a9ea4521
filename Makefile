# The two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: demo test check unit integration bench schema clean browser

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

# Browser tests drive Debian's Chromium with Playwright's Python package (no browser downloads).
CHROMIUM ?= /usr/bin/chromium
browser:  ## Debian's chromium and CJK fonts for the browser tests (apt-get as root, else sudo)
	@if [ -x $(CHROMIUM) ] && fc-list 2>/dev/null | grep -qi "noto.*cjk"; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	else echo "browser tests need $(CHROMIUM) and fonts-noto-cjk: apt-get install -y chromium fonts-noto-cjk"; exit 1; fi; \
	echo "installing chromium and fonts-noto-cjk (apt-get)"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null

demo: $(VENV)/.installed-run  ## embedded broker + PostgreSQL, worker, gateway, simulator
	$(BIN)/riskmon demo $(ARGS)

test: $(VENV)/.installed-dev browser check  ## lint, types, import rules, then every test
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
