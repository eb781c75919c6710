# SPDX-License-Identifier: MIT
"""A real SLURM: tests/slurm/setup_slurm.sh starts a one-node cluster, then a small sweep runs
through sbatch with --profile profiles/slurm against the Hub stand-in.

Skipped only where `sbatch` is absent; with EMBDIM_REQUIRE_SLURM=1 (CI) it fails instead.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from embdim.summary import read_summary
from tests.hubs.hubserver import FakeHub
from tests.workflow.conftest import (REPO, case_config, check_summary, make_workdir, snakemake,
                                     sweep_env, tiny_hub_sweep)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
SETUP = REPO / "tests/slurm/setup_slurm.sh"
CONFIG = case_config("slurm_profile")
# The profile keeps the plugin's own intervals (first check after 40 s, then every 10 s);
# the test polls every 2 s. MinJobAge (300 s in setup_slurm.sh) stays >= 3 x the first delay,
# so the plugin keeps polling squeue.
FAST_STATUS_CHECKS = ("--slurm-init-seconds-before-status-checks", "2",
                      "--seconds-between-status-checks", "2")


def test_slurm_profile_is_portable():
    """No partition, account or test-tuned polling in the shipped profile: a cluster uses its
    defaults (the test cluster's only partition is `debug`, the default)."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert "slurm_partition" not in profile.get("default-resources", {})
    assert "slurm_account" not in profile.get("default-resources", {})
    for key in ("slurm-init-seconds-before-status-checks", "seconds-between-status-checks"):
        assert key not in profile, key


def test_slurm_sweep(tmp_path):
    required = os.environ.get("EMBDIM_REQUIRE_SLURM") == "1"
    if shutil.which("sbatch") is None and not required:
        pytest.skip("sbatch is absent (EMBDIM_REQUIRE_SLURM=1 makes this a failure)")
    setup = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=600)
    assert setup.returncode == 0, f"setup_slurm.sh failed:\n{setup.stdout}\n{setup.stderr}"
    assert shutil.which("sbatch"), "setup_slurm.sh ran but sbatch is still absent"
    again = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "setup_slurm: node" in again.stderr, again.stderr
    assert not re.search(r"starting|writing|installing", again.stderr), "setup is not idempotent"

    with FakeHub() as hub:
        fixtures = tiny_hub_sweep(hub)
        wd = make_workdir(tmp_path / "sweep", CONFIG)
        env = sweep_env(hub, wd / "hf-home")
        proc = snakemake(wd, "--profile", "profiles/slurm", *FAST_STATUS_CHECKS, env=env,
                         timeout=900)

    out = proc.stdout + proc.stderr
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", out)
    # list 2 + fetch 3 + measure 3 + baseline 2 (one per model x tensor) + summarize + plot
    # + report_integrity, each its own sbatch job
    assert len(submitted) == 13, out[-3000:]
    for slug in ("EleutherAI--pythia-14m", "EleutherAI--pythia-70m"):
        assert (wd / f"results/{slug}/embed_in/baseline.json").stat().st_size > 0
    rows = read_summary(wd / "results/summary.tsv")
    assert len(rows) == 4
    check_summary(rows, fixtures, [("mle", 5)])
    assert [r["status"] for r in rows].count("missing") == 1
    pngs = list((wd / "results/plots/embed_in").glob("*.png"))
    assert len(pngs) == 8 and all(p.stat().st_size > 5000 for p in pngs)
