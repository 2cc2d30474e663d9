# One command each: `make run` serves the API with demo data, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n auto

.PHONY: run test test-fast install install-dev lint format openapi bench clean

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
	$(BIN)/pytest $(PYTEST_ARGS)
	$(BIN)/pytest -p no:xdist -m "sdk or faults" tests/sdk tests/faults
	RUN_CONTRACT_TESTS=1 $(BIN)/pytest -p no:xdist -m contract tests/contract

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
