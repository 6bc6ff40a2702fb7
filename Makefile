# streamcolor: `make demo` colorizes a generated clip; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: install
	$(PY) -m streamcolor.demo demo

test: install
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check streamcolor tests benchmarks

bench: install
	$(PY) benchmarks/pipeline_throughput.py

clean:
	rm -rf $(VENV) demo .pytest_cache
