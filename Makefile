# pytool: `make demo` and `make test` work on a fresh machine (they install first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# workers for `make test` (pytest-xdist); PYTEST_WORKERS=0 runs the suite in one process
PYTEST_WORKERS ?= 2

.PHONY: install demo test bench lint clean

install: $(STAMP)
	@# bytecode for pytool itself, as pip writes it for an installed package (the editable install has none, and
	@# with PYTHONDONTWRITEBYTECODE every run would compile it again); quick when nothing changed
	@$(BIN)/python -m compileall -q pytool > /dev/null

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pytool needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,labgrid]'
	@touch $@

demo: install
	$(BIN)/pytool demo

test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run_all.py

lint: install
	$(BIN)/ruff check pytool tests bench
	$(BIN)/ruff format --check pytool tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
