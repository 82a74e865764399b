# FaceGate: `make run` starts the app, `make test` runs the checks. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= dev,train

.PHONY: run test lint typecheck pytest bench package clean setup

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	@$(BIN)/python -m desktop_app.syscheck
	$(BIN)/facegate $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check desktop_app trainer tests bench

typecheck: $(STAMP)
	$(BIN)/mypy desktop_app/core

pytest: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/lfw.py

package: $(STAMP)
	$(BIN)/python -m pip install --quiet pyinstaller==6.22.3
	$(BIN)/pyinstaller --noconfirm --distpath dist --workpath build/pyinstaller packaging/facegate.spec

clean:
	rm -rf build dist .mypy_cache .ruff_cache .pytest_cache
