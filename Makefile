# hybridlib — two commands: `make run` (the study, quick preset) and `make test`.
# Each installs what it needs first; re-running skips what is already up to date.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PRESET ?= quick
PYTEST_ARGS ?=
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONUNBUFFERED := 1

.PHONY: setup run test test-fast test-unit bench chromium clean help lab
help:  ## this list
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

setup: $(VENV)/.stamp node_modules/.stamp chromium  ## venv + pinned Python deps, npm assets, Debian chromium

# uv (pinned, from PyPI) installs the same pinned lock as pip would, several times faster;
# `make setup INSTALLER=pip` keeps plain pip. --compile-bytecode: pip writes .pyc files at install
# time and uv does not, and where PYTHONDONTWRITEBYTECODE is set (this machine, CI) nothing writes
# them later, so every process compiled TensorFlow's sources again: +5.5 CPU-s per server start-up,
# 07 +45 s, the smoke study 460 → 673 s (docs/HISTORY.md)
UV_VERSION := 0.13.10
INSTALLER ?= uv
ifeq ($(INSTALLER),uv)
PIP_INSTALL = $(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode
else
PIP_INSTALL = $(BIN)/python -m pip install --quiet
endif

$(VENV)/.stamp: requirements.lock requirements-nodeps.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(filter uv,$(INSTALLER)),$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION),$(BIN)/python -m pip install --quiet --upgrade pip)
	$(PIP_INSTALL) -r requirements.lock
	$(PIP_INSTALL) --no-deps -r requirements-nodeps.txt
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name hybridlib --display-name "hybridlib (.venv)" >/dev/null
	@touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

chromium:  ## Debian's chromium for the browser parts (never a browser download)
	@bash scripts/ensure-chromium.sh

run: setup  ## run the whole study (PRESET=quick by default) into reports/$(PRESET)/
	$(BIN)/hybridlib run --preset $(PRESET)

lab: setup  ## JupyterLab on 127.0.0.1 only, with the project's kernel, to follow the notebooks live
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks \
	  --MappingKernelManager.default_kernel_name=hybridlib $(if $(filter 0,$(shell id -u)),--allow-root)

# Three workers on two cores: most integration tests wait on servers, browsers and links, so
# they overlap; one worker runs the smoke study and every test that reads it (tests/README.md)
TEST_WORKERS ?= 3
test: setup  ## unit, integration and notebook tests (pytest-xdist, TEST_WORKERS=3)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test-fast: setup  ## the inner loop: every test not marked slow (≤ 3 min on 2 cores; tests/README.md)
	$(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

test-unit: setup
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

bench: setup  ## benchmarks/ scripts: side-by-side ratios, never timed tests
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove generated data and reports (keeps data/raw and the venv)
	rm -rf data/synthetic data/processed reports/smoke reports/quick reports/full
