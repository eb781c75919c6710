# SPDX-License-Identifier: MIT
"""Local run directories as models (the demo's case): slugs, provenance from the weight file,
the demo marker dependency, and the resources measure_checkpoint asks for."""
from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from embdim.config import estimate_mem_mb, estimate_runtime_min
from embdim.formats.safetensors import write_safetensors
from embdim.summary import read_summary
from tests.workflow.conftest import case_config, job_counts, make_workdir, snakemake, sweep_env

pytestmark = pytest.mark.slow


class NoHub:  # local models need no Hub; an unroutable endpoint proves nothing calls it
    url = "http://127.0.0.1:9"


def test_local_run_directory_sweep(tmp_path):
    run = tmp_path / "runs" / "my run"  # a space: quoting and slugs must cope
    rng = np.random.default_rng(0)
    for step in (0, 100):
        (run / f"step{step}").mkdir(parents=True)
        x = (rng.standard_normal((80, 6)) @ rng.standard_normal((6, 24))).astype(np.float16)
        write_safetensors(run / f"step{step}/model.safetensors", {"gpt_neox.embed_in.weight": x})
    wd = make_workdir(tmp_path / "wd", case_config("local_run", models=[str(run)]))
    env = sweep_env(NoHub, wd / "hf-home")
    snakemake(wd, "--cores", "2", env=env)
    rows = read_summary(wd / "results/summary.tsv")
    assert [(r["step"], r["status"]) for r in rows] == [(0, "ok"), (100, "ok"), (200, "missing")]
    for r in rows[:2]:  # a local run's commit is the weight file's sha256
        blob = (run / f"step{r['step']}/model.safetensors").read_bytes()
        assert r["commit"] == hashlib.sha256(blob).hexdigest() and r["model"] == str(run)
        assert r["n"] == 80 and 1 < r["id"] < 24
    slug = "local--" + "-".join(p.replace(" ", "_") for p in run.parts[1:])
    assert (wd / "results" / slug / "embed_in/step100/embedding.safetensors").is_file()
    assert (wd / "results" / slug / "embed_in/step100/lid.npz").is_file()

    # measure_checkpoint asks for memory/time from its input's size, and GPUs when the config says so
    proc = snakemake(wd, "-n", "-p", "--forcerun", "measure_checkpoint", "--config", "gpu=1", env=env)
    size_mb = (wd / "results" / slug / "embed_in/step0/embedding.safetensors").stat().st_size / 2**20
    res = re.findall(r"rule measure_checkpoint:.*?resources: ([^\n]*)", proc.stdout, re.S)
    assert len(res) == 2, proc.stdout[-3000:]
    assert f"mem_mb={estimate_mem_mb(size_mb)}" in res[0] and "gpu=1" in res[0], res[0]
    assert f"runtime={estimate_runtime_min(size_mb)}" in res[0], res[0]


def test_demo_run_waits_for_its_training(tmp_path):
    wd = make_workdir(tmp_path / "wd", case_config("demo_run"))
    proc = snakemake(wd, "-n", env=sweep_env(NoHub, wd / "hf-home"))
    counts = job_counts(proc.stdout)
    assert counts.get("train_demo_model") == 1 and counts.get("list_revisions") == 1, counts
