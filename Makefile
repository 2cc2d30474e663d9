# One command each: `make run` serves the API with demo data, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n auto --timeout 240

.PHONY: run test test-fast install install-dev lint format openapi bench clean chromium poppler pgbouncer lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Every install takes the exact versions in constraints.txt (`make lock` refreshes them).
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/homework-api migrate
	$(BIN)/homework-api seed-demo
	$(BIN)/homework-api serve --host $(HOST) --port $(PORT)

test: install-dev
	@$(MAKE) --no-print-directory poppler
	$(BIN)/pytest $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory chromium
	$(BIN)/pytest -p no:xdist -m "sdk or faults or browser" tests/sdk tests/faults tests/browser
	@$(MAKE) --no-print-directory pgbouncer
	# The live-server steps that wait on their server more than they compute run side by side:
	# schemathesis as each role, and the API behind PgBouncer (each with its own database).
	RUN_CONTRACT_TESTS=1 $(BIN)/pytest -n 3 --dist loadgroup -m "contract or pooler" \
		tests/contract tests/pooler

# tests/browser drives Debian's Chromium: installed here when missing and root with apt may;
# otherwise that test skips and says why.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium (apt-get) for tests/browser"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "WARNING: chromium could not be installed; tests/browser will skip"; \
	fi

# tests/pooler starts a PgBouncer of its own (never the machine's service) from Debian's package:
# installed here when missing and root with apt may; otherwise that step skips and says why.
pgbouncer:
	@if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing pgbouncer (apt-get) for tests/pooler"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null) \
			|| echo "WARNING: pgbouncer could not be installed; tests/pooler will skip"; \
	fi

# constraints.txt: the exact version of every package the project installs (runtime and dev),
# the ones the suite passed with. `make lock` resolves pyproject.toml's dependencies afresh in
# a throwaway venv and writes what that installed; then `make test` and commit constraints.txt.
lock:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	$(PYTHON) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["dev"]))' > "$$tmp/requirements.txt"; \
	"$$tmp/venv/bin/pip" install --quiet --disable-pip-version-check -r "$$tmp/requirements.txt"; \
	{ echo "# The exact versions of every package homework-api installs (its dependencies and the dev"; \
	  echo "# extra's, with theirs), used by make install, make test, .ci/run and the Dockerfile."; \
	  echo "# Written by \`make lock\` from pyproject.toml; do not edit by hand."; \
	  "$$tmp/venv/bin/pip" freeze --exclude-editable; } > "$$tmp/constraints.txt"; \
	mv "$$tmp/constraints.txt" constraints.txt; \
	echo "constraints.txt: $$(grep -c '==' constraints.txt) pins; run make test, then commit it"

# tests/reports renders the PDF report to PNG pages with poppler's pdftoppm: installed here
# when missing and root with apt may; otherwise those checks skip and say why.
poppler:
	@if ! command -v pdftoppm >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing poppler-utils (apt-get) for tests/reports"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null) \
			|| echo "WARNING: poppler-utils could not be installed; the PDF page checks will skip"; \
	fi

test-fast: install-dev
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

openapi: install
	$(BIN)/homework-api openapi

bench: install-dev
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) homework.db homework.db-wal homework.db-shm .pytest_cache
