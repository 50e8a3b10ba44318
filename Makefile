# Two commands work on a fresh machine with Python 3.11+: `make demo` and `make test`.
# Both create .venv when it is missing and install the project into it (never system-wide).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck bench screenshots emulator clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "vdc-tui needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vdc-tui --demo

test: $(STAMP) peer-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check vdc_tui tests scripts bench

typecheck: $(STAMP)
	$(BIN)/mypy vdc_tui bench tests

bench: $(STAMP)
	$(BIN)/python -m bench

screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

emulator: $(STAMP)
	$(BIN)/vdc-tui emulator

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# --- oidc-provider peer (tests/peers; owned by the conformance tests) ---------------------
# Node.js 20+ and npm from the machine's packages, then the peer's locked tree (npm ci).
# The peer fixture runs `npm ci` itself when node_modules is missing; this target also
# installs Node.js where it can (root with apt-get), or says in one line what is missing.
PEER_DIR := tests/peers/oidc

.PHONY: peer-deps
peer-deps:
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; \
	  else \
	    echo "peer tests need Node.js 20+ and npm on PATH (apt-get install nodejs npm)" >&2; exit 1; \
	  fi; \
	fi
	@test -f $(PEER_DIR)/node_modules/oidc-provider/package.json || \
	  (cd $(PEER_DIR) && npm ci --no-audit --no-fund --loglevel=error)
