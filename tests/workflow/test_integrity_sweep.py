# SPDX-License-Identifier: MIT
"""Issue 13 end to end: one sweep over the planted stand-in repos (tests/hubs/defects.py) plus an
HF Trainer run directory. The summary flags exactly the planted defects, the Integrity section
lists them, tokens come from names or tokens_per_step, the figures draw flagged steps hollow."""
from __future__ import annotations

import csv

import pytest

from embdim.plots import id_vs_step, mark_flagged
from embdim.summary import read_summary
from tests.hubs import defects as D
from tests.hubs.hubserver import FakeHub
from tests.workflow.conftest import make_workdir, snakemake, sweep_env

pytestmark = pytest.mark.slow
# The defects that need the workflow's own paths (different blobs of one tensor, a step shared
# across models, a no-weights branch, OLMo names, a Trainer directory); the rest of the planted
# repos run through the same commands in tests/cli/test_integrity_cli.py. Step 3 is missing everywhere.
HUB_MODELS = [D.M28, D.SEED1, D.SEED2, D.OLMO]
STEPS = [1, 2, 3, 1000]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("integrity")
    with FakeHub() as hub:
        planted = {m: revs for m, revs in D.plant(hub).items() if m in HUB_MODELS}
        run = tmp / "trainer_out"
        trainer = D.trainer_run_dir(run)
        wd = make_workdir(tmp / "wd", {
            "models": HUB_MODELS + [str(run)], "steps": STEPS,
            "estimators": [{"name": "mle", "k": 5}], "geometry": False, "baseline": False,
            "bootstrap": 0, "k_curve": 0, "threads": 1, "x_axis": "tokens"})
        env = sweep_env(hub, wd / "hf-home")
        snakemake(wd, "--cores", "2", env=env)
        snakemake(wd, "--report", "report.html", env=env)
        yield wd, planted, trainer, str(run)


def test_summary_flags_exactly_the_planted_defects(sweep):
    wd, planted, trainer, run = sweep
    rows = read_summary(wd / "results/summary.tsv")
    D.check_summary(rows, planted, trainer, run, STEPS)
    flagged = {(r["model"], r["step"]) for r in rows if r["duplicate_of"] or r["same_as_final"]}
    assert flagged == {(D.M28, 2), (D.M28, 1000), (D.SEED2, 1)} | {(m, 1000) for m in HUB_MODELS + [run]}


def test_integrity_section(sweep):
    wd, _, _, run = sweep
    with open(wd / "results/integrity.tsv") as f:
        entries = list(csv.DictReader(f, delimiter="\t"))
    got = {(e["model"], int(e["step"])): e["issue"] for e in entries}
    assert got == D.expected_issues(HUB_MODELS, run, STEPS)
    html = (wd / "results/integrity.html").read_text()
    assert html.count("<tr>") == 1 + len(got) and f"{D.SEED1}@1" in html
    report = (wd / "report.html").read_text(errors="replace")
    assert "Integrity" in report and "integrity.html" in report and "integrity.tsv" in report


def test_figures_draw_flagged_steps_hollow_on_the_tokens_axis(sweep):
    wd = sweep[0]
    assert (wd / "results/plots/embed_in/id_vs_step.png").stat().st_size > 5000
    rows = [r for r in read_summary(wd / "results/summary.tsv") if r["model"] == D.M28]
    fig = id_vs_step(mark_flagged(rows), x_axis="tokens")
    lines = fig.axes[0].get_lines()
    joined = [ln for ln in lines if ln.get_linestyle() != "None"]
    hollow = [ln for ln in lines if ln.get_linestyle() == "None" and ln.get_markerfacecolor() == "none"
              and len(ln.get_xdata())]
    tps = 2097152
    assert [list(ln.get_xdata()) for ln in joined] == [[tps, 1000 * tps]]  # step 2 left out
    assert [list(ln.get_xdata()) for ln in hollow] == [[2 * tps]]
    assert "tokens seen" in fig.axes[0].get_xlabel()
