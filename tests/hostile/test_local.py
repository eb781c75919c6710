# SPDX-License-Identifier: MIT
"""Hostile local run directories and output paths (issue 10, items 7, 8, 9) through the real CLI.

Special files (a FIFO, a link to /dev/zero, a step directory linking to /, symlink loops), step
names that are not canonical ``step<N>``, and ``--out`` paths that cannot be written: each gives
the documented exit code with one line on stderr, within a time bound, leaving nothing behind.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from embdim.formats.safetensors import write_safetensors
from tests.hostile.test_server import TOKEN, run_cli

EMBED = "gpt_neox.embed_in.weight"


def cli_env(tmp: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "EMBDIM_"))}
    # An unroutable endpoint: nothing here may reach a Hub.
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp / "hf_home"), HF_HUB_DISABLE_TELEMETRY="1",
               HF_TOKEN=TOKEN, RSS_FILE=str(tmp / "rss"), EMBDIM_MAX_RETRIES="0")
    env.update(extra)
    return env


def checkpoint(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(seed).standard_normal((80, 8)).astype(np.float16)  # > k-curve rows
    write_safetensors(path, {EMBED: x})


def run_with(tmp: Path, make) -> Path:
    """A run directory: step0 is a good checkpoint, ``make(run)`` adds the hostile part."""
    run = tmp / "run"
    checkpoint(run / "step0/model.safetensors")
    make(run)
    return run


def fifo(run):
    (run / "step1").mkdir()
    os.mkfifo(run / "step1/model.safetensors")


def dev_zero(run):
    (run / "step1").mkdir()
    (run / "step1/model.safetensors").symlink_to("/dev/zero")


def link_to_root(run):
    (run / "step1").symlink_to("/")


def file_loop(run):
    (run / "step1").mkdir()
    (run / "step1/model.safetensors").symlink_to("model.safetensors")


def dir_loop(run):
    (run / "step1").symlink_to("step1")


def outside_file(run):  # a regular checkpoint, but outside the run directory
    checkpoint(run.parent / "elsewhere/model.safetensors")
    (run / "step1").mkdir()
    (run / "step1/model.safetensors").symlink_to(run.parent / "elsewhere/model.safetensors")


def inside_link(run):  # a link to another step's file inside the run: allowed (deduplicated runs)
    (run / "step1").mkdir()
    (run / "step1/model.safetensors").symlink_to("../step0/model.safetensors")


SPECIAL = {"fifo": fifo, "dev-zero": dev_zero, "link-to-root": link_to_root, "file-symlink-loop": file_loop,
           "dir-symlink-loop": dir_loop, "link-outside-run": outside_file}


def check_failure(res, cmd: str, rc: int, seconds: float = 20.0) -> None:
    assert res.rc is not None, f"still running after {res.seconds:.0f} s"
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.rc == rc, res.stderr[-3000:]
    assert "Traceback" not in res.stderr and len(lines) == 1 and lines[0].startswith(f"embdim {cmd}: error: "), \
        res.stderr[-3000:]
    assert TOKEN not in res.stdout + res.stderr
    assert res.seconds < seconds, f"took {res.seconds:.1f} s"


@pytest.mark.parametrize("kind", SPECIAL)
def test_revisions_lists_special_files_as_no_weights(kind, tmp_path):
    run = run_with(tmp_path, SPECIAL[kind])
    out = tmp_path / "out/revisions.tsv"
    res = run_cli(["revisions", str(run), "--out", str(out)], cli_env(tmp_path), timeout=40)
    assert res.rc == 0 and res.seconds < 20, (res.rc, res.seconds, res.stderr[-2000:])
    assert "Traceback" not in res.stderr and TOKEN not in res.stdout + res.stderr
    rows = {ln.split("\t")[0]: ln.split("\t") for ln in out.read_text().splitlines()[1:]}
    assert rows["step0"][-1] == "ok"
    if kind != "dir-symlink-loop":  # a link loop is no directory: nothing to list
        assert rows["step1"][-1] == "no-weights", rows
        assert any("step1" in ln and "warning" in ln for ln in res.stderr.splitlines()), res.stderr


@pytest.mark.parametrize("kind", [k for k in SPECIAL if k != "dir-symlink-loop"])
def test_fetch_refuses_special_files(kind, tmp_path):
    run = run_with(tmp_path, SPECIAL[kind])
    (tmp_path / "out").mkdir()
    res = run_cli(["fetch", str(run), "--revision", "step1", "--out", str(tmp_path / "out/e.safetensors")],
                  cli_env(tmp_path), timeout=40)
    check_failure(res, "fetch", 2)
    assert list((tmp_path / "out").iterdir()) == []


def test_links_inside_the_run_directory_still_work(tmp_path):
    run = run_with(tmp_path, inside_link)
    res = run_cli(["revisions", str(run), "--json"], cli_env(tmp_path), timeout=40)
    assert res.rc == 0, res.stderr
    assert '"duplicate_of": "step0"' in res.stdout


# -- step names (item 7) ---------------------------------------------------------------------------
ALIASES = ["step-1", "step_1", "step01", "global_step01", "step\u0663", "step1 ", "Step1", "step+1"]


def test_parse_step_is_strict():
    from embdim.config import parse_step
    assert [parse_step(n) for n in ("step0", "step1", "step143000")] == [0, 1, 143000]
    for bad in ALIASES + ["step", "step00", "main", "step1a", "step\uff11", "step1\n"]:
        assert parse_step(bad) is None, bad


def test_revisions_lists_aliases_as_unnumbered(tmp_path):
    run = tmp_path / "run"
    checkpoint(run / "step1/model.safetensors")
    for i, name in enumerate(ALIASES):
        checkpoint(run / name / "model.safetensors", seed=i + 1)
    out = tmp_path / "revisions.tsv"
    res = run_cli(["revisions", str(run), "--out", str(out)], cli_env(tmp_path), timeout=60)
    assert res.rc == 0, res.stderr
    rows = [ln.split("\t") for ln in out.read_text().splitlines()[1:]]
    assert [r[:2] for r in rows if r[1]] == [["step1", "1"]]
    assert sorted(r[0] for r in rows if r[-1] == "unnumbered") == sorted(ALIASES)


def test_directory_names_with_control_characters_are_skipped(tmp_path):
    run = tmp_path / "run"
    checkpoint(run / "step1/model.safetensors")
    checkpoint(run / "step2\tok\nstep7" / "model.safetensors", seed=1)
    out = tmp_path / "revisions.tsv"
    res = run_cli(["revisions", str(run), "--out", str(out)], cli_env(tmp_path), timeout=60)
    assert res.rc == 0 and "control character" in res.stderr, res.stderr
    assert [ln.split("\t")[0] for ln in out.read_text().splitlines()[1:]] == ["step1"]


@pytest.mark.slow
def test_sweep_over_a_run_with_step_aliases_schedules_only_canonical_steps(tmp_path):
    """Before: `step-1/` etc. parsed as step 1, the sweep asked for revision `global_step1`, which no
    rule can make (MissingInputException). Up to the fetches, so the measuring rules do not matter."""
    from tests.workflow.conftest import job_counts, make_workdir, snakemake, sweep_env

    class NoHub:
        url = "http://127.0.0.1:9"
    run = tmp_path / "run"
    checkpoint(run / "step1/model.safetensors")
    # global_step1 is step 1 too (Megatron's name); step1, matched by the first pattern, is the one measured
    for i, name in enumerate(["step-1", "step01", "global_step1", "step\u0663"]):
        checkpoint(run / name / "model.safetensors", seed=i + 1)
    wd = make_workdir(tmp_path / "wd", {"models": [str(run)], "steps": [1, 3],
                                         "estimators": [{"name": "mle", "k": 5}],
                                         "geometry": False, "baseline": False, "threads": 1})
    env = sweep_env(NoHub, wd / "hf-home")
    snakemake(wd, "--cores", "2", "--until", "list_revisions", env=env, timeout=300)
    plan = snakemake(wd, "-n", "-p", env=env, timeout=300).stdout  # the DAG after the listing
    assert job_counts(plan).get("fetch_embedding") == 1, plan[-3000:]
    assert re.findall(r"--revision (\S+)", plan) == ["step1"], plan[-3000:]
    (tsv,) = (wd / "results").rglob("revisions.tsv")
    status = {ln.split("\t")[0]: ln.split("\t")[-1] for ln in tsv.read_text().splitlines()[1:]}
    assert status == {"step1": "ok", "step-1": "unnumbered", "step01": "unnumbered",
                      "global_step1": "ok", "step\u0663": "unnumbered"}


# -- --out paths that cannot be written (item 9): refused before any work --------------------------
def test_out_refused_before_work(tmp_path):
    run = tmp_path / "run"
    checkpoint(run / "step0/model.safetensors")
    emb = run / "step0/model.safetensors"
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    outdir = tmp_path / "a_dir"
    outdir.mkdir()
    env = cli_env(tmp_path)
    cases = [
        ["fetch", str(run), "--revision", "step0", "--out", str(blocker / "e.safetensors")],
        ["fetch", str(run), "--revision", "step0", "--out", str(outdir)],
        ["fetch", "EleutherAI/pythia-14m", "--revision", "step0", "--out", str(blocker / "sub/e.npy")],
        ["revisions", str(run), "--out", str(blocker / "r.tsv")],
        ["revisions", str(run), "--out", str(outdir)],
        ["revisions", "EleutherAI/pythia-14m", "--out", str(outdir)],
        ["estimate", str(emb), "--k", "5", "--out", str(outdir)],
        ["estimate", str(emb), "--k", "5", "--out", str(blocker / "id.json")],
        ["geometry", str(emb), "--out", str(outdir)],
        ["baseline", "random", "--n", "50", "--dim", "4", "--k", "5", "--out", str(outdir)],
        ["summarize", str(tmp_path), "--model", str(run), "--steps", "0", "--estimator", "mle:5",
         "--out", str(outdir)],
        ["plot", str(tmp_path / "s.tsv"), "--out-dir", str(blocker)],
        ["train-demo", "--out", str(blocker), "--optimizer", "adam", "--steps", "1"],
    ]
    for args in cases:
        res = run_cli(args + ["--json"], env, timeout=60)
        check_failure(res, args[0], 2, seconds=30)
        assert "--out" in res.stderr, (args, res.stderr)
        assert blocker.read_text() == "x" and list(outdir.iterdir()) == [], args
