# Two entry points for a new machine: `make demo` (the main job) and `make test` (every test).
# Each creates .venv when missing and installs what it needs; re-runs reuse it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch first, pinned: 2.13.0 is the CPU build on this machine's disk (a newer one is a CUDA download).
TORCH := torch==2.13.0

.PHONY: demo test lint bench clean venv-base

$(VENV)/.base:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	touch $@

$(VENV)/.demo: $(VENV)/.base pyproject.toml
	$(PIP) install -q -e ".[torch,dashboard]"
	touch $@

$(VENV)/.dev: $(VENV)/.base pyproject.toml
	$(PIP) install -q -e ".[torch,dev,ray,dask,postgres,dashboard]"
	touch $@ $(VENV)/.demo

demo: $(VENV)/.demo
	$(VENV)/bin/hpsearch run examples/cnn_digits/study.yaml --overwrite

test: $(VENV)/.dev
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy

bench: $(VENV)/.dev
	$(PIP) install -q -e ".[bench]"
	$(PY) benchmarks/overhead.py

clean:
	rm -rf $(VENV) .pytest_cache hpsearch.db hpsearch.db-wal hpsearch.db-shm
