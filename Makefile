# Quick start: `make demo` runs the demo, `make test` runs the tests. Each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml setup.py $(wildcard gateway/_fast/*.pyx)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel Cython
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

.PHONY: install demo test typecheck bench
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/gateway demo

test: $(VENV)/.installed
	$(PY) -m pytest -q

typecheck: $(VENV)/.installed
	$(PY) -m mypy
