# Quick start on a fresh machine that has only Python >= 3.11 and make:
#   make demo   project-local virtual environment .venv, CPU torch, embdim; then the offline demo
#   make test   the test extras (and the layers/static extras the tests cover) into the same
#               .venv; then the whole test suite
# Both are idempotent: the installs run again only when pyproject.toml changes (stamp files in
# .venv/), and Snakemake reruns only what is missing. Delete .venv/ to start over.
#
# Variables (make demo VAR=value):
#   PYTHON       interpreter for the new .venv (default: the first python3, python3.13,
#                python3.12, python3.11 on PATH that is >= 3.11)
#   TORCH        torch requirement installed before embdim (default torch==2.13.0). pip finds
#                a CPU build here; where PyPI would serve a CUDA build (Linux), add
#                TORCH_PIP_ARGS='--index-url https://download.pytorch.org/whl/cpu'
#   CORES        cores for the demo's Snakemake (default 2)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
TORCH ?= torch==2.13.0
TORCH_PIP_ARGS ?=
CORES ?= 2
# --no-compile, then one compileall over both cores: pip byte-compiles file by file on one core
# (torch alone: 40 CPU-seconds). Compiled once here, because PYTHONDONTWRITEBYTECODE (set on some
# machines) would otherwise leave every job compiling torch again at import.
PIP := $(VENV)/bin/python -m pip --disable-pip-version-check
PIP_INSTALL := $(PIP) install --no-compile
# exit 1 only says some file did not compile (a package's py2 test data): pip ignores those too
COMPILE := $(VENV)/bin/python -m compileall -q -j 0 $(VENV)/lib >/dev/null || true
# The venv's bin first, so Snakemake's jobs and the tests find its `embdim` and `snakemake`.
RUN := PATH="$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)"

PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && { command -v $$p; break; }; done)

.PHONY: help demo test

help:
	@echo "make demo   create .venv (if missing), install CPU torch and embdim, run the offline demo"
	@echo "make test   install the test extras into .venv, run the whole test suite"

# The target is pip, not python: a venv whose pip failed to install (Debian without
# python3-venv) is made again on the next run.
$(VENV)/bin/pip:
	@if [ -z "$(PYTHON)" ]; then echo "make: no python3 >= 3.11 on PATH (set PYTHON=...)" >&2; exit 1; fi
	@echo "make: creating the virtual environment $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)

# torch first and alone: embdim asks for any torch >= 2.1, so pip keeps this build afterwards.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/pip
	@echo "make: installing $(TORCH) into $(VENV)"
	$(PIP_INSTALL) $(TORCH_PIP_ARGS) '$(TORCH)'
	@echo "make: installing embdim (editable, with Snakemake, its SLURM plugin and transformers) into $(VENV)"
	$(PIP_INSTALL) -e '.[layers]'
	$(COMPILE)
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	@echo "make: installing the test extras (pytest, snakefmt; transformers, gensim, sentencepiece) into $(VENV)"
	$(PIP_INSTALL) -e '.[test,layers,static]'
	$(COMPILE)
	@touch $@

demo: $(VENV)/.installed
	@echo "make: running the offline demo (trains two tiny models, sweeps their checkpoints; results/)"
	$(RUN) $(VENV)/bin/snakemake --cores $(CORES) --configfile config/demo.yaml

test: $(VENV)/.installed-test
	@echo "make: running the test suite"
	$(RUN) $(VENV)/bin/python -m pytest -q tests
