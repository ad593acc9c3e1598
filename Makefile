# flowpbx — `make run` starts the demo PBX, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= data

.PHONY: install sysdeps run test lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

install: $(VENV)/.installed

sysdeps:
	bash scripts/install-system-deps.sh

run: install
	FLOWPBX_DATA_DIR=$(DATA) $(BIN)/flowpbx db upgrade
	FLOWPBX_DATA_DIR=$(DATA) $(BIN)/flowpbx demo
	FLOWPBX_DATA_DIR=$(DATA) $(BIN)/flowpbx serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: install sysdeps lint typecheck
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
