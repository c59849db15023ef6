# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine with
# Python 3.11+: they create .venv and install arsbridge into it first. `make test` also
# installs the system packages its tests use (mosquitto, chromium) where they are missing,
# on Debian and Ubuntu; elsewhere it says what to install.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test system-deps lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/arsbridge demo

# system-deps comes first: a missing system package stops the run before anything else.
test: system-deps lint typecheck
	$(BIN)/python -m pytest -q

system-deps:
	@sh tools/require-system-packages.sh

lint: $(STAMP)
	$(BIN)/ruff check arsbridge bridge drivers api firmware_sim tests bench
	$(BIN)/ruff format --check arsbridge bridge drivers api firmware_sim tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .hypothesis
