# Every setup path installs torch 2.13.0 first: on a machine without torch, letting pip
# pick torch for pyro-ppl would download the newest CUDA build (several GB).
PYTHON ?= python3
PIP = $(PYTHON) -m pip
TORCH ?= torch==2.13.0

.PHONY: install demo test test-fast lint bench docs

install:
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[test]"

demo: install
	$(PYTHON) -m pyro_local demo --out runs/demo

test: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest -q || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests" >&2; exit $$rc; }

test-fast: install
	$(PYTHON) -m pytest -q -m "not slow"

# The API reference; -n -W: a broken cross-reference (or any warning) fails the build;
# -E rereads every page, so that a cached page cannot hide its warnings.
docs: install
	$(PYTHON) -m sphinx -E -W --keep-going -n -b html docs/api build/docs

lint:
	$(PYTHON) -m ruff check .

bench: install
	$(PYTHON) benchmarks/bench_engine.py --cpu
