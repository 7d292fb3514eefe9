# The newcomer's contract: `make demo` and `make test` do all set-up themselves.
# PYTHON names the interpreter and VENV its virtualenv; CI keeps one per interpreter
# (`make test PYTHON=/opt/python3.13/bin/python3.13 VENV=.venv-3.13`, see .ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Whether the venv's interpreter is free-threaded (CPython built with --disable-gil, 3.13t).
FREE_THREADED = $(BIN)/python -c 'import sys, sysconfig; \
	sys.exit(0 if sysconfig.get_config_var("Py_GIL_DISABLED") else 1)'

.PHONY: venv demo test lint types unit cov bench clean

# The `dev-gil-only` extra (grpcio, mypy and the other packages with no free-threaded wheels) is
# replaced by `dev-free-threaded` on a free-threaded interpreter; tests needing what is missing
# skip there, saying why.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	if $(FREE_THREADED); then extras=dev,dev-free-threaded; else extras=dev,dev-gil-only; fi; \
		$(BIN)/python -m pip install -q -e ".[$$extras]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m puregrpc generate -I examples/hello --out examples/hello examples/hello/hello.proto
	$(BIN)/python examples/hello/demo.py

lint: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .

# A free-threaded interpreter can install neither mypy (its librt has no such wheels) nor the
# grpcio packages it checks tests/ and interop/ against: there `make types` says so and checks
# nothing (the same code, with the same `python_version`, is checked where there is a GIL).
types: $(STAMP)
	@if $(FREE_THREADED); then \
		echo "make types: skipped on free-threaded $$($(BIN)/python -V): mypy (librt) and" \
			"grpcio have no wheels for it; make types runs on 3.11 and 3.13"; \
	else echo $(BIN)/mypy; $(BIN)/mypy; fi

unit: $(STAMP)
	$(BIN)/pytest

test: lint types unit

# Branch coverage of src/ over the whole suite, floor in pyproject.toml ([tool.coverage.report]).
# Measured on one interpreter, the one PYTHON names: CI runs it on 3.11. Code only 3.12+ runs
# (the native eager start of server handlers) counts as missed there; the 3.13 suite runs it.
cov: $(STAMP)
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report

$(VENV)/.installed-bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,dev-gil-only,bench]'
	touch $@

bench: $(VENV)/.installed-bench
	.ci/system-packages valgrind
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/grpc_bench.py
	$(BIN)/python bench/memory_bench.py
	$(BIN)/python bench/replay_bench.py --callgrind --layers

clean:
	rm -rf $(VENV) build src/*.egg-info .mypy_cache .pytest_cache .ruff_cache .hypothesis \
		.coverage .coverage.*
