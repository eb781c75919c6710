# SPDX-License-Identifier: MIT
"""Helpers for the workflow tests: a scratch working directory that links the repository's
Snakefile, and Snakemake runs against the loopback Hub stand-in (tests/hubs/hubserver.py)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures import hub_env, make_pythia_like_repo

REPO = Path(__file__).resolve().parents[2]
LINKED = ("Snakefile", "workflow", "profiles", "envs")


def make_workdir(path: Path, config: dict) -> Path:
    """A directory that looks like a checkout (links to the real workflow) with its own
    config.yaml, so the README's commands run there verbatim and results stay out of the repo."""
    path.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        (path / name).symlink_to(REPO / name)
    (path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def sweep_env(hub, home: Path) -> dict:
    """Environment for Snakemake and its jobs: the stand-in Hub, and this interpreter's
    `embdim` first on PATH (a pyenv shim would otherwise pick the interpreter)."""
    env = hub_env(hub, home)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def snakemake(workdir: Path, *args: str, env: dict, timeout: float = 600,
              check: bool = True) -> subprocess.CompletedProcess:
    """Run `snakemake ARGS` in ``workdir``; on an unexpected exit code, fail with the output
    and the job logs (the only way to see why a job failed)."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"snakemake {' '.join(args)} exited {proc.returncode}\n"
                    f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}\n{job_logs(workdir)}")
    return proc


def job_logs(workdir: Path, limit: int = 4000) -> str:
    text = ""
    for log in sorted((workdir / "logs").rglob("*")) if (workdir / "logs").exists() else []:
        if log.is_file() and log.stat().st_size:
            text += f"--- {log.relative_to(workdir)}\n{log.read_text(errors='replace')[-800:]}\n"
    return text[-limit:]


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of `snakemake -n` as {rule: count}."""
    counts = {}
    table = dry_run_output.split("Job stats:", 1)[-1]
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def readme_block(section: str) -> list[str]:
    """Command lines of the first fenced block under the README heading ``## {section}``."""
    text = (REPO / "README.md").read_text()
    m = re.search(rf"^## {re.escape(section)}\b.*?^```\w*\n(.*?)^```", text, re.M | re.S)
    assert m, f"README.md has no fenced block under '## {section}'"
    return [ln.strip() for ln in m.group(1).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def tiny_hub_sweep(hub, models=("EleutherAI/pythia-14m", "EleutherAI/pythia-70m")) -> dict:
    """Two tiny Pythia-like repos: steps 1000..4000, model 0 lacks step 3000, model 1's step
    4000 is byte-identical to its step 3000. Returns {model: fixture revisions}."""
    out = {}
    for i, repo in enumerate(models):
        out[repo] = make_pythia_like_repo(
            hub, repo, [1000, 2000, 3000, 4000], vocab=48 + 16 * i, dim=12 + 4 * i, seed=i,
            missing=[3000] if i == 0 else [], identical=[4000] if i == 1 else [])
    return out


CASES = Path(__file__).resolve().parent / "configs"


def case_config(name: str, **overrides) -> dict:
    """The config of the named case, ``tests/workflow/configs/<name>/config.yaml``, plus overrides."""
    config = yaml.safe_load((CASES / name / "config.yaml").read_text())
    config.update(overrides)
    return config


TINY_CONFIG = case_config("hub_sweep")


def check_summary(rows: list[dict], fixtures: dict, estimators) -> None:
    """Every summary row against the fixture checkpoints: status, provenance, n, and the ID
    recomputed with the Python API from the fixture's own tensor (not from any sweep file)."""
    import numpy as np

    from embdim import estimate

    by_key = {(r["model"], r["step"], r["estimator"], r["k"]): r for r in rows}
    expected = 0
    for repo, revisions in fixtures.items():
        for rev, info in revisions.items():
            if rev == "main" or (repo, info["step"], *estimators[0]) not in by_key:
                continue
            for est, k in estimators:
                expected += 1
                row = by_key[(repo, info["step"], est, k)]
                if info["missing"]:  # absent on the Hub: a row, not a failure
                    assert (row["status"], row["id"], row["commit"]) == ("missing", None, None), row
                    continue
                x = info["tensors"]["gpt_neox.embed_in.weight"].array().astype(np.float32)
                ref = estimate(x, estimator=est, k=k, device="cpu")
                assert row["status"] == "ok", row
                assert (row["revision"], row["commit"]) == (rev, info["commit"])
                assert row["n"] == x.shape[0] and row["n_unique"] == len(np.unique(x, axis=0))
                assert row["id"] == pytest.approx(ref.id, rel=1e-6)
                assert row["mean_cosine"] is not None  # geometry joined on model x step
    assert expected == len(rows)
