# Everyday commands. Each runs inside the project's virtual environment (.venv by default;
# override with `make test VENV=.venv-ci`). Windows users can run the commands directly.
VENV ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: setup test lint figures notebooks-small

## setup: create the virtual environment and install the pinned requirements and the package
setup:
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -r requirements.txt
	$(PYTHON) -m pip install -e . --no-deps

## test: the whole test suite (tests needing FER2013 skip, with the reason, when it is missing)
test:
	$(PYTHON) -m pytest

## lint: ruff on the code, the tests, the scripts and the notebooks' paired .py files
lint:
	$(PYTHON) -m ruff check src tests scripts notebooks/*.py

## figures: run every notebook on the full data with papermill, rewriting the README figures in
## reports/figures and saving each executed notebook (outputs included) and its .py in place
figures:
	$(PYTHON) -m emotion_classification notebooks

## notebooks-small: a quick check that every notebook runs (few images, figures to a temp folder)
notebooks-small:
	$(PYTHON) -m emotion_classification notebooks --small
