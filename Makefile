# Two commands do everything on a fresh machine:
#   make run   - set up .venv, install topogcn, run the main job (synthetic data)
#   make test  - set up .venv if needed, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONSTRAINTS := requirements/constraints.txt
STAMP := $(VENV)/.topogcn-installed
RUN_DIR ?= runs/synthetic-default

.PHONY: run test lint venv docs scatter bench clean

venv: $(STAMP)

$(STAMP): setup.py pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c $(CONSTRAINTS) torch==2.13.0
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[test,docs,export,lint]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/topogcn train --out $(RUN_DIR) --overwrite
	$(VENV)/bin/topogcn analyze --checkpoint $(RUN_DIR)/checkpoints/best.ckpt --out $(RUN_DIR)/analysis
	@echo "Open the report: $(RUN_DIR)/analysis/index.html"

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# pyflakes/pycodestyle rules (ruff), and names used before they are bound
# or shadowed by an import inside a function (pylint's checks of that kind)
lint: $(STAMP)
	$(VENV)/bin/ruff check topogcn tests benchmarks docs/conf.py
	$(VENV)/bin/pylint --disable=all --score=n --enable=used-before-assignment,possibly-used-before-assignment,undefined-variable,redefined-outer-name,reimported topogcn benchmarks

# torch-scatter is a source build (about 8 minutes on 2 cores; pip caches the wheel).
scatter: $(STAMP)
	$(PY) -c "import torch_scatter" 2>/dev/null || \
	  $(PIP) install -c $(CONSTRAINTS) --no-build-isolation "torch-scatter>=2.1"

docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

bench: $(STAMP)
	$(PY) benchmarks/bench_sgconv.py
	$(PY) benchmarks/bench_model.py --alternate 8
	$(PY) benchmarks/bench_model.py --configs ntu25 --repeats 3 --impls plain topogcn --keep-memory
	$(PY) benchmarks/bench_spotting.py

clean:
	rm -rf docs/_build .pytest_cache
