# SPDX-License-Identifier: MIT
"""End to end against the Hub stand-in: a 2-model x 4-step sweep (one step missing, one
byte-identical checkpoint), its summary rows, plots and report, and resuming after SIGKILL."""
from __future__ import annotations

import base64
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from embdim.baseline import random_baseline
from embdim.config import model_slug
from embdim.summary import read_summary
from tests.hubs.hubserver import FakeHub
from tests.workflow.conftest import (TINY_CONFIG, check_summary, make_workdir, readme_block,
                                     snakemake, sweep_env, tiny_hub_sweep)

pytestmark = pytest.mark.slow
EMBED = "gpt_neox.embed_in.weight"
RESULT_GLOBS = ("*/revisions.tsv", "*/*/step*/embedding.safetensors", "*/*/step*/measure.json",
                "*/*/step*/lid.npz", "*/*/baseline.json")


@pytest.fixture(scope="module")
def hub():
    with FakeHub() as h:
        h.fixtures = tiny_hub_sweep(h)
        yield h


@pytest.fixture(scope="module")
def full_run(hub, tmp_path_factory):
    """One uninterrupted sweep, shared by the checks below."""
    wd = make_workdir(tmp_path_factory.mktemp("full"), TINY_CONFIG)
    env = sweep_env(hub, wd / "hf-home")
    snakemake(wd, "--cores", "2", env=env)
    return wd, env


def test_summary_rows(hub, full_run):
    wd, _ = full_run
    rows = read_summary(wd / "results/summary.tsv")
    assert len(rows) == 2 * 4 * 2  # models x steps x estimators
    required = ["model", "tensor", "step", "revision", "commit", "estimator", "k", "normalization",
                "aggregate", "id", "ci_low", "ci_high", "se", "ed", "redundancy", "n", "n_unique",
                "status", "duplicate_of"]
    assert list(rows[0])[:len(required)] == required
    check_summary(rows, hub.fixtures, [("mle", 5), ("twonn", 2)])
    # pythia-70m step4000 is a byte copy of step3000; nothing else is a duplicate
    dups = {(r["model"], r["step"]): r["duplicate_of"] for r in rows if r["duplicate_of"] is not None}
    assert dups == {("EleutherAI/pythia-70m", 4000): 3000}
    assert [r["status"] for r in rows].count("missing") == 2
    ok = [r for r in rows if r["status"] == "ok"]
    assert all(r["ci_low"] < r["id"] < r["ci_high"] and r["se"] > 0 for r in ok)
    assert {r["tensor"] for r in rows} == {"embed_in"}
    assert {(r["normalization"], r["aggregate"]) for r in ok} == {("k-1", "harmonic"), (None, None)}


def test_plots_and_report(full_run):
    wd, env = full_run
    plots = sorted((wd / "results/plots/embed_in").iterdir())
    assert {p.suffix for p in plots} == {".png", ".svg"} and len(plots) == 16
    for p in plots:
        data = p.read_bytes()
        assert len(data) > 5000, p
        assert data.startswith(b"\x89PNG") if p.suffix == ".png" else b"<svg" in data[:2000]
    snakemake(wd, "--report", "report.html", env=env)
    html = (wd / "report.html").read_text(errors="replace")
    assert len(html) > 100_000 and "final_id_vs_size" in html and "summary.tsv" in html
    assert "lid_histograms" in html and "id_vs_k" in html


def test_random_baselines(hub, full_run):
    """Per model x tensor, every estimator: N(0, I) shaped like the last measured step
    (step4000 for both; pythia-14m lacks step3000), its ID joined as baseline_id and drawn in
    final_id_vs_size."""
    wd, _ = full_run
    rows = read_summary(wd / "results/summary.tsv")
    for repo, revisions in hub.fixtures.items():
        x = revisions["step4000"]["tensors"][EMBED].array().astype(np.float32)
        n_unique, dim = len(np.unique(x, axis=0)), x.shape[1]
        assert n_unique < x.shape[0]  # the fixture pads duplicate rows: n_unique, not n, counts
        res = json.loads((wd / f"results/{model_slug(repo)}/embed_in/baseline.json").read_text())
        assert (res["n"], res["dim"], res["seed"]) == (n_unique, dim, 0)
        assert [(e["estimator"], e["k"]) for e in res["estimates"]] == [("mle", 5), ("twonn", 2)]
        for e in res["estimates"]:
            ref = random_baseline(n_unique, dim, k=e["k"], estimator=e["estimator"], seed=0,
                                  device="cpu")
            assert e["id"] == pytest.approx(ref["id"], rel=1e-6)
            joined = {r["baseline_id"] for r in rows
                      if r["model"] == repo and r["estimator"] == e["estimator"]}
            assert joined == {e["id"]}
    for ext in ("png", "svg"):
        plot = wd / f"results/plots/embed_in/final_id_vs_size.{ext}"
        assert plot.stat().st_mtime_ns >= (wd / "results/summary.tsv").stat().st_mtime_ns


def _incomplete(wd: Path) -> set[Path]:
    """Outputs Snakemake marked as being written (decoded from .snakemake/incomplete)."""
    root = wd / ".snakemake/incomplete"
    out = set()
    for f in root.rglob("*") if root.exists() else []:
        if f.is_file() and f.name != "migration_underway":
            parts = f.relative_to(root).parts
            key = "".join(p.lstrip("@") for p in parts)
            out.add((wd / base64.urlsafe_b64decode(key).decode()).resolve())
    return out


def _finished(wd: Path) -> dict[Path, int]:
    busy = _incomplete(wd)
    files = [p for g in RESULT_GLOBS for p in (wd / "results").glob(g)]
    return {p: p.stat().st_mtime_ns for p in files if p.resolve() not in busy}


def test_resume_after_sigkill(hub, full_run, tmp_path):
    wd = make_workdir(tmp_path / "killed", TINY_CONFIG)
    env = sweep_env(hub, wd / "hf-home")
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=wd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # own process group: the kill reaches its jobs
    deadline = time.time() + 300
    try:
        while len(list((wd / "results").glob("*/*/step*/measure.json"))) < 3:
            assert proc.poll() is None, "the sweep ended before it could be interrupted"
            assert time.time() < deadline, "no estimate finished within 300 s"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (wd / "results/summary.tsv").exists(), "killed too late to test resuming"
    done = _finished(wd)
    assert any(p.name == "measure.json" for p in done)

    time.sleep(0.05)  # a recomputed file would get a later mtime
    for line in readme_block("Resuming"):
        args = shlex.split(line, comments=True)
        assert args[0] == "snakemake", line
        snakemake(wd, *args[1:], env=env)

    after = {p: p.stat().st_mtime_ns for p in done}
    recomputed = [str(p.relative_to(wd)) for p in done if after[p] != done[p]]
    assert not recomputed, f"finished outputs were recomputed: {recomputed}"
    full = full_run[0]
    assert (wd / "results/summary.tsv").read_text() == (full / "results/summary.tsv").read_text()
    assert len(list((wd / "results/plots/embed_in").glob("*.png"))) == 8
