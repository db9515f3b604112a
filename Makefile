# Quick start: `make demo` runs the demo, `make test` runs the tests. Each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml setup.py $(wildcard gateway/_fast/*.pyx)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel Cython
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

.PHONY: install demo dev test typecheck bench
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/gateway demo

# A whole local stack to try Gateway or load-test it (README "Load testing"); Ctrl-C stops it.
dev: $(VENV)/.installed
	$(VENV)/bin/gateway dev

# The whole suite (twin-agreement tests run both implementations of every _fast module), then the engine's
# end-to-end tests again with the pure-Python twins forced, as a deployment without a compiler would run.
test: $(VENV)/.installed
	$(PY) -m pytest -q
	GATEWAY_NO_EXTENSIONS=1 $(PY) -m pytest -q tests/integration/test_email_engine.py

typecheck: $(VENV)/.installed
	$(PY) -m mypy
