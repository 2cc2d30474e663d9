# One command each: `make run` serves the API with demo data, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n auto

.PHONY: run test test-fast install install-dev lint format openapi bench clean chromium poppler

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[dev]"
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
	RUN_CONTRACT_TESTS=1 $(BIN)/pytest -p no:xdist -m contract tests/contract

# tests/browser drives Debian's Chromium: installed here when missing and root with apt may;
# otherwise that test skips and says why.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium (apt-get) for tests/browser"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "WARNING: chromium could not be installed; tests/browser will skip"; \
	fi

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
