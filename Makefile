# FaceGate: `make run` starts the app, `make test` runs the checks, `make test-fast` the quick tier
# (lint, types, and the tests that need neither the shared face data nor much time). All set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= dev,train,relays

.PHONY: run test test-fast lint typecheck pytest pytest-fast bench package clean setup services

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
	$(BIN)/mypy desktop_app/core desktop_app/ui trainer

# Real counterparts the door-output tests talk to: Debian's mosquitto MQTT broker, and PostgreSQL 15
# for the central server tests (the tests start their own server in a temporary folder). Installed when
# absent (as root, or through passwordless sudo); otherwise one line says so and the MQTT tests skip.
services:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; \
	  else SUDO=none; fi; \
	  if [ "$$SUDO" != none ] && command -v apt-get >/dev/null 2>&1 && \
	     $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq mosquitto >/dev/null; then \
	    echo "services: installed mosquitto"; \
	  else \
	    echo "services: mosquitto is not installed and could not be installed here (needs apt-get and root or sudo);" \
	         "the MQTT tests will skip. Install it with: sudo apt-get install mosquitto"; \
	  fi; }
	@test -x /usr/lib/postgresql/15/bin/initdb || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; \
	  else SUDO=none; fi; \
	  if [ "$$SUDO" != none ] && command -v apt-get >/dev/null 2>&1 && \
	     $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql >/dev/null; then \
	    echo "services: installed postgresql"; \
	  else \
	    echo "services: postgresql is not installed and could not be installed here (needs apt-get and root or sudo);" \
	         "the central server tests will skip. Install it with: sudo apt-get install postgresql"; \
	  fi; }

# Two test processes (pytest-xdist), each taking whole files (a file's module fixtures are built
# once); PYTEST_WORKERS=0 runs them in this process, one at a time.
PYTEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)

pytest: $(STAMP) services
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider $(XDIST) $(PYTEST_ARGS)

pytest-fast: $(STAMP) services
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider $(XDIST) -m "not slow and not data" $(PYTEST_ARGS)

test: lint typecheck pytest

test-fast: lint typecheck pytest-fast

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/lfw.py

package: $(STAMP)
	$(BIN)/python -m pip install --quiet pyinstaller==6.22.3
	$(BIN)/pyinstaller --noconfirm --distpath dist --workpath build/pyinstaller packaging/facegate.spec

clean:
	rm -rf build dist .mypy_cache .ruff_cache .pytest_cache
