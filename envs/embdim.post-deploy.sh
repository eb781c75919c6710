#!/usr/bin/env bash
# Install embdim from the checkout the Snakefile lives in (EMBDIM_SRC is set by common.smk);
# its dependencies come from embdim.yaml.
set -euo pipefail
python -m pip install --no-deps --quiet "${EMBDIM_SRC:?EMBDIM_SRC is set by the Snakefile}"
