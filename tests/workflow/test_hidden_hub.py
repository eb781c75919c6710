# SPDX-License-Identifier: MIT
"""The hidden-state stage on a Hub model: the loopback stand-in serves a tiny GPT-NeoX with its
config.json and tokenizer.json; sample_text reads the Hub tokenizer, fetch_checkpoint fetches
each step without embed_out (temp(): gone after the run, its fetch.json kept), a missing step is
a row with status=missing."""
from __future__ import annotations

import json

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from embdim.demo.model import GPTNeoX, NeoXConfig, hf_config
from embdim.formats.safetensors import write_safetensors
from embdim.hidden.table import read_layers_tsv
from tests.hubs.hubserver import FakeHub
from tests.workflow.conftest import make_workdir, snakemake, sweep_env

pytestmark = pytest.mark.slow
REPO = "EleutherAI/pythia-14m"


def _tokenizer() -> bytes:
    from pydoc_data.topics import topics
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(list(topics.values())[:50], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False))
    return tok.to_str().encode()


def _checkpoint(tmp_path, seed: int) -> dict[str, bytes]:
    torch.manual_seed(seed)
    cfg = NeoXConfig(vocab_size=320, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=32)
    path = tmp_path / f"m{seed}.safetensors"
    write_safetensors(path, GPTNeoX(cfg).hf_state_dict(torch.float16))
    return {"model.safetensors": path.read_bytes(),
            "config.json": json.dumps(hf_config(cfg)).encode()}


def test_hidden_stage_on_a_hub_model(tmp_path):
    tok = _tokenizer()
    with FakeHub() as hub:
        for step in (0, 100):
            hub.add_revision(REPO, f"step{step}", {**_checkpoint(tmp_path, step),
                                                   "tokenizer.json": tok})
        hub.add_revision(REPO, "main", {**_checkpoint(tmp_path, 100), "tokenizer.json": tok})
        wd = make_workdir(tmp_path / "wd", {
            "models": [REPO], "steps": [0, 100, 200], "estimators": [{"name": "mle", "k": 5}],
            "bootstrap": 10, "k_curve": 8, "baseline": False, "device": "cpu", "threads": 1,
            "hidden": {"enabled": True, "n_seq": 8, "seq_len": 16, "n_points": 60,
                       "positions": ["skip0"]}})
        snakemake(wd, "--cores", "2", "results/layers.tsv", env=sweep_env(hub, wd / "hf-home"))
        commits = {s: hub.commit_of(REPO, f"step{s}") for s in (0, 100)}
    rows = read_layers_tsv(wd / "results/layers.tsv")
    assert {(r["step"], r["status"]) for r in rows} == {(0, "ok"), (100, "ok"), (200, "missing")}
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 2 * 3 + 3  # 2 steps x 3 layers, + the shuffled last step
    assert all(r["commit"] == commits[r["step"]] and r["positions"] == "skip0" for r in ok)
    assert all(r["n"] == 60 and 0 < r["id"] < 32 for r in ok)
    base = wd / "results/EleutherAI--pythia-14m/hidden"
    for step in (0, 100):
        rec = json.loads((base / f"step{step}/fetch.json").read_text())
        assert rec["commit"] == commits[step] and rec["skipped"] == ["embed_out.weight"]
        assert 0 < rec["bytes_downloaded"] < rec["weight_file_bytes"]
        assert not (base / f"step{step}/checkpoint/model.safetensors").exists()  # temp()
    assert (wd / "logs/fetch_checkpoint").is_dir() and (wd / "benchmarks/sample_text").is_dir()
