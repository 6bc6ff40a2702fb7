# streamcolor: `make demo` colorizes a generated clip; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test lint bench gpu-check clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# ensurepip's setuptools (65) cannot read the SPDX license string; the wheel test builds
	# without isolation, so the venv itself needs setuptools>=77.
	$(PY) -m pip install -q --upgrade pip 'setuptools>=77'
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: install
	$(PY) -m streamcolor.cli.demo demo

test: install
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check streamcolor tests benchmarks

# Throughput per resolution and batch, the CPU efficiency against 1 / (t_encode + t_model) (#18;
# needs ../shared/datasets), the seed comparison, flat memory on a long input, live latency.
bench: install
	$(VENV)/bin/streamcolor bench --resolutions 480p,720p,1080p --batch-sizes 1,8 --plot bench.png
	$(PY) benchmarks/efficiency.py --rounds 5 --json efficiency.json
	cd benchmarks && ../$(PY) compare_seed.py --resolutions 720p,1080p
	$(PY) benchmarks/memory_long.py --frames 50000
	$(PY) benchmarks/live_latency.py --seconds 20

# On a GPU machine, with that machine's own Python, from a plain checkout; installs nothing and
# reports what is missing. Writes gpu-check/gpu_check.json and gpu-check/gpu_check.md.
gpu-check:
	PYTHONPATH=. $(PYTHON) benchmarks/gpu_check.py --out gpu-check

clean:
	rm -rf $(VENV) demo .pytest_cache
