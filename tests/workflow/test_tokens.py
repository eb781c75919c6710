# SPDX-License-Identifier: MIT
"""Issue 13 end to end: `rows: tokenizer` on a Hub stand-in repo and a local run whose tokenizers
know fewer tokens than the matrices have rows (the planted case), the per-token view
(tabulate_tokens) and its report entries, and the parse-time error without a tokenizer."""
from __future__ import annotations

import numpy as np
import pytest

from embdim.formats.safetensors import write_safetensors
from embdim.formats.tokenizer import unescape_tsv
from embdim.summary import read_summary
from tests.fixtures import make_pythia_like_repo
from tests.hubs.hubserver import FakeHub
from tests.tokfix import bpe_tokenizer_json, padded_matrix
from tests.workflow.conftest import make_workdir, snakemake, sweep_env

pytestmark = pytest.mark.slow
REPO = "EleutherAI/pythia-14m"
HUB_TOKENS = 60  # the stand-in's matrices have 64 rows, the last 4 identical padding rows
PAD = 13


class NoHub:  # local models need no Hub; an unroutable endpoint proves nothing calls it
    url = "http://127.0.0.1:9"


def word_level(n: int) -> bytes:
    from tokenizers import Tokenizer, models
    vocab = {"[UNK]": 0, **{f"w{i}\t{i}" if i == 7 else f"w{i}": i for i in range(1, n)}}
    return Tokenizer(models.WordLevel(vocab, unk_token="[UNK]")).to_str().encode()


def test_rows_tokenizer_sweep_and_token_view(tmp_path):
    raw, n = bpe_tokenizer_json()
    run = tmp_path / "run"
    for i, step in enumerate((0, 100)):
        (run / f"step{step}").mkdir(parents=True)
        X = padded_matrix(n, PAD, seed=i).astype(np.float16)
        write_safetensors(run / f"step{step}/model.safetensors", {"gpt_neox.embed_in.weight": X})
    (run / "tokenizer.json").write_bytes(raw)
    with FakeHub() as hub:
        fx = make_pythia_like_repo(hub, REPO, [1000, 2000], vocab=64, dim=12, main=False)
        tok = word_level(HUB_TOKENS)
        for rev, info in fx.items():  # the same tokenizer blob on every branch
            hub.add_revision(REPO, rev, {**info["files"], "tokenizer.json": tok})
        wd = make_workdir(tmp_path / "wd", {
            "models": [REPO, str(run)], "steps": [0, 100, 1000, 2000],
            "estimators": [{"name": "mle", "k": 5}], "rows": "tokenizer", "bootstrap": 0,
            "k_curve": 0, "geometry": False, "baseline": False, "threads": 1})
        env = sweep_env(hub, wd / "hf-home")
        snakemake(wd, "--cores", "2", env=env)
        assert hub.count("/resolve/step", "GET") - hub.count("model.safetensors") == 1  # once per blob
    rows = {(r["model"], r["step"]): r for r in read_summary(wd / "results/summary.tsv")}
    for step in (1000, 2000):
        r = rows[(REPO, step)]
        x = fx[f"step{step}"]["tensors"]["gpt_neox.embed_in.weight"].array()[:HUB_TOKENS]
        assert (r["status"], r["n_rows_total"], r["n"]) == ("ok", 64, HUB_TOKENS)
        assert r["n_unique"] == len(np.unique(x, axis=0)) == HUB_TOKENS  # the padding rows are gone
    for step in (0, 100):
        r = rows[(str(run), step)]
        assert (r["status"], r["n_rows_total"], r["n"], r["n_unique"]) == ("ok", n + PAD, n, n)
    slug = "local--" + "-".join(run.parts[1:])
    tsv = (wd / f"results/{slug}/embed_in/tokens.tsv").read_text(encoding="utf-8").split("\n")
    assert tsv[0] == "token_id\ttoken\tlid_step0\tlid_step100" and len(tsv) == n + 2
    with np.load(wd / f"results/{slug}/embed_in/step100/lid.npz") as z:
        lid = z["lid_k5"]
    assert [float(ln.split("\t")[3]) for ln in tsv[1:-1]] == list(lid[:n])
    hub_tsv = (wd / "results/EleutherAI--pythia-14m/embed_in/tokens.tsv").read_text().split("\n")
    assert len(hub_tsv) == HUB_TOKENS + 2 and hub_tsv[0].endswith("lid_step1000\tlid_step2000")
    assert unescape_tsv(hub_tsv[8].split("\t")[1]) == "w7\t7"  # escaped on disk, read back
    snakemake(wd, "--report", "report.html", env=env)
    html = (wd / "report.html").read_text(errors="replace")
    assert "tokens_top20.html" in html and "tokens_lid.png" in html


def test_rows_tokenizer_needs_a_tokenizer_at_parse_time(tmp_path):
    run = tmp_path / "run"
    (run / "step0").mkdir(parents=True)
    write_safetensors(run / "step0/model.safetensors",
                      {"gpt_neox.embed_in.weight": padded_matrix(40, 2).astype(np.float16)})
    cfg = {"models": [str(run)], "steps": [0], "estimators": [{"name": "mle", "k": 5}]}
    wd = make_workdir(tmp_path / "wd", cfg)
    env = sweep_env(NoHub, wd / "hf-home")
    proc = snakemake(wd, "-n", "--config", "rows=tokenizer", env=env, check=False)
    assert proc.returncode != 0 and "needs a tokenizer" in proc.stdout + proc.stderr
