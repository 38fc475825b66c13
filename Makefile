# hyperstep: two commands do everything on a fresh machine with Python 3.11+.
#   make demo  - virtualenv, install, run a real tuning job locally, print the best trial
#   make test  - virtualenv, dev dependencies, all tests
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench venv clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hyperstep needs Python 3.11+, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/hyperstep validate examples/svm-breast-cancer/spec.yaml
	$(BIN)/hyperstep --store .hyperstep/demo.db run examples/svm-breast-cancer/spec.yaml --out runs/demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .hyperstep runs build *.egg-info
