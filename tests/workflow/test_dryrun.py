# SPDX-License-Identifier: MIT
"""Once list_revisions has run against the Hub stand-in, a dry-run of the real config.yaml
schedules 6 models x 37 steps of fetches, one measure_checkpoint per checkpoint (every estimator
and the geometry from one kNN; 1131 jobs before issue 12, 453 now) and one random baseline per
model x tensor; with both tensors, twice the per-checkpoint jobs. A revision_pattern reaches the
listing and the summary."""
from __future__ import annotations

import pytest
import yaml

from embdim.config import expand_steps, model_slug
from tests.fixtures import make_pythia_like_repo
from tests.hubs.hubserver import FakeHub
from tests.workflow.conftest import REPO, job_counts, make_workdir, snakemake, sweep_env

pytestmark = pytest.mark.slow


def test_dry_run_schedules_the_paper_sweep(tmp_path):
    paper = yaml.safe_load((REPO / "config.yaml").read_text())
    steps = expand_steps(paper["steps"])
    assert len(paper["models"]) == 6 and len(steps) == 37
    with FakeHub() as hub:
        for i, repo in enumerate(paper["models"]):  # tiny files, the paper's branches (+ step0, main)
            make_pythia_like_repo(hub, repo, [0, *steps], vocab=8, dim=4, pad_rows=0, seed=i)
        wd = make_workdir(tmp_path / "wd", paper)
        env = sweep_env(hub, wd / "hf-home")
        listings = [f"results/{model_slug(m)}/revisions.tsv" for m in paper["models"]]
        snakemake(wd, "--cores", "2", *listings, env=env)
    for path in listings:  # step0 + 37 steps + main, all with the tensor
        assert len((wd / path).read_text().splitlines()) == 1 + 39

    # the Hub is gone now: planning needs only the listings
    proc = snakemake(wd, "-n", env=env)
    counts = job_counts(proc.stdout)
    assert counts.get("fetch_embedding") == 6 * 37, counts
    assert counts.get("measure_checkpoint") == 6 * 37, counts
    assert "estimate_id" not in counts and "measure_geometry" not in counts, counts
    assert counts.get("estimate_baseline") == 6, counts
    # + summarize, plot, the integrity audit, all
    assert counts.get("total") == 6 * 37 * 2 + 6 + 4 == 454, counts
    assert counts.get("report_integrity") == 1, counts
    assert "list_revisions" not in counts and counts.get("summarize_sweep") == 1, counts

    both = job_counts(snakemake(wd, "-n", "--config", "tensors=[embed_in,embed_out]", env=env).stdout)
    assert both.get("fetch_embedding") == both.get("measure_checkpoint") == 2 * 6 * 37, both
    # + summarize, a plot job per tensor, report_integrity, all
    assert both.get("estimate_baseline") == 2 * 6 and both.get("total") == 2 * (6 * 37 * 2 + 6) + 5, both

    own = snakemake(wd, "-n", "-p", "--forcerun", "list_revisions", "summarize_sweep", "--config",
                    "revision_pattern=step(?P<step>[0-9]+)", "tokens_per_step=1000", "x_axis=tokens", env=env).stdout
    assert own.count("--revision-pattern 'step(?P<step>[0-9]+)'") == 6 + 1, own[-3000:]  # 6 listings + summary
    assert "--tokens-per-step 1000" in own and "--x-axis tokens" in own, own[-3000:]
