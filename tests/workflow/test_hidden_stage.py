# SPDX-License-Identifier: MIT
"""The hidden-state stage end to end on the demo's shape: two tiny runs trained with Adam and
Coupled Adam (train.json present, so train_demo_model does not run), a requested step the runs
lack, results/layers.tsv and the figures."""
from __future__ import annotations

import pytest

from embdim.demo.model import NeoXConfig
from embdim.demo.train import TrainSettings, train_demo
from embdim.hidden.table import COLUMNS, read_layers_tsv
from embdim.hidden.plots import FIGURES
from tests.workflow.conftest import make_workdir, snakemake, sweep_env

pytestmark = pytest.mark.slow

TINY = NeoXConfig(vocab_size=512, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=32)
ISSUE_COLUMNS = ["model", "step", "revision", "commit", "layer", "depth", "n", "n_unique", "d",
                 "estimator", "k", "id", "ci_low", "ci_high"]
TAIL_COLUMNS = ["m", "v", "q", "v_within", "v_between", "corpus_sha256", "sample_sha256", "status"]


class NoHub:  # local models need no Hub; an unroutable endpoint proves nothing calls it
    url = "http://127.0.0.1:9"


def test_hidden_stage_on_demo_runs(tmp_path):
    wd = tmp_path / "wd"
    for opt in ("adam", "coupled_adam"):
        train_demo(wd / "results/demo" / opt,
                   TrainSettings(optimizer=opt, steps=4, every=2, seed=3, batch_size=4, seq_len=32,
                                 lr=1e-2, warmup=1, threads=1, corpus_bytes=200_000, model=TINY),
                   log=None)
    cfg = {"models": ["results/demo/adam", "results/demo/coupled_adam"], "steps": [0, 4, 8],
           "estimators": [{"name": "mle", "k": 5}, {"name": "twonn"}], "bootstrap": 10,
           "k_curve": 8, "baseline": False, "device": "cpu", "threads": 1,
           "hidden": {"enabled": True, "corpus": "pydoc", "n_seq": 16, "seq_len": 24,
                      "n_points": 60, "steps": [0, 4, 8]}}
    make_workdir(wd, cfg)
    targets = ["results/layers.tsv"] + [f"results/plots/layers/{n}.{e}" for n in FIGURES
                                        for e in ("png", "svg")]
    proc = snakemake(wd, "--cores", "2", *targets, env=sweep_env(NoHub, wd / "hf-home"))
    assert "measure_checkpoint" not in proc.stderr  # only the hidden stage (and the listings)
    header = (wd / "results/layers.tsv").read_text().splitlines()[0].split("\t")
    assert header[:len(ISSUE_COLUMNS)] == ISSUE_COLUMNS and header == COLUMNS
    assert header[header.index("m"):header.index("status") + 1] == TAIL_COLUMNS
    rows = read_layers_tsv(wd / "results/layers.tsv")
    ok = [r for r in rows if r["status"] == "ok"]
    # 2 runs x 2 steps x 3 layers x 2 estimators x 2 position sets, + the shuffled last step
    assert len([r for r in ok if r["tokens"] == "sample"]) == 2 * 2 * 3 * 2 * 2
    assert len([r for r in ok if r["tokens"] == "shuffled"]) == 2 * 3 * 2 * 2
    assert {r["step"] for r in ok if r["tokens"] == "shuffled"} == {4}
    missing = [r for r in rows if r["step"] == 8]
    assert missing and {r["status"] for r in missing} == {"missing"}
    for r in ok:
        assert r["depth"] == pytest.approx(r["layer"] / 2) and r["d"] == 32
        assert r["n"] == 60 and 0 < r["id"] < 32 and r["ci_low"] <= r["id"] <= r["ci_high"]
        assert 0 < r["top_pc_share"] < 1 and r["q"] is not None  # frequent types exist
        assert r["m"] + r["v"] == pytest.approx(r["q"], rel=1e-9)
        assert r["v_within"] + r["v_between"] == pytest.approx(r["v"], rel=1e-9)
    assert len({r["sample_sha256"] for r in ok}) == 1  # one sample: the runs share a tokenizer
    assert len({r["corpus_sha256"] for r in ok}) == 1
    for name in FIGURES:
        for ext in ("png", "svg"):
            assert (wd / f"results/plots/layers/{name}.{ext}").stat().st_size > 1000
    assert (wd / "benchmarks/measure_layers").is_dir() and (wd / "logs/measure_layers").is_dir()
