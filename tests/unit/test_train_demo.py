# SPDX-License-Identifier: MIT
"""The offline demo: schedule, model layout, a few real training steps, checkpoints `embdim fetch` reads."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from embdim.cli import main
from embdim.demo.model import GPTNeoX, NeoXConfig
from embdim.demo.train import TrainSettings, checkpoint_steps, default_every, train_demo
from embdim.formats.layout import load_matrix
from embdim.formats.safetensors import read_safetensors_index

TINY = NeoXConfig(vocab_size=512, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=32)


def _settings(optimizer, **kw):
    base = dict(optimizer=optimizer, steps=4, every=2, seed=3, batch_size=4, seq_len=32, lr=1e-2,
                warmup=1, threads=1, corpus_bytes=200_000, model=TINY)
    return TrainSettings(**(base | kw))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    out = {}
    for opt in ("adam", "coupled_adam"):
        out[opt] = (root / opt, train_demo(root / opt, _settings(opt), log=None))
    return out


def test_schedule_is_pythia_like():
    # Pythia: step0, 1, 2, 4, ..., 512, then every 1000 up to 143000.
    pythia = checkpoint_steps(143000, 1000)
    assert pythia[:11] == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert pythia[11:13] == [1000, 2000] and pythia[-1] == 143000 and len(pythia) == 11 + 143
    assert checkpoint_steps(250, 100) == [0, 1, 2, 4, 8, 16, 32, 64, 100, 200, 250]
    assert checkpoint_steps(3, 100) == [0, 1, 2, 3]
    assert [default_every(n) for n in (600, 2000, 10, 1)] == [100, 200, 1, 1]


def test_tensor_names_are_hf_gpt_neox():
    names = set(GPTNeoX(TINY).state_dict())
    expected = {"gpt_neox.embed_in.weight", "gpt_neox.final_layer_norm.weight",
                "gpt_neox.final_layer_norm.bias", "embed_out.weight"}
    for i in range(TINY.num_hidden_layers):
        for sub in ("input_layernorm", "post_attention_layernorm", "attention.query_key_value",
                    "attention.dense", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h"):
            expected |= {f"gpt_neox.layers.{i}.{sub}.weight", f"gpt_neox.layers.{i}.{sub}.bias"}
    assert names == expected
    sd = GPTNeoX(TINY).state_dict()
    assert tuple(sd["gpt_neox.layers.0.attention.query_key_value.weight"].shape) == (96, 32)
    assert sd["embed_out.weight"].data_ptr() != sd["gpt_neox.embed_in.weight"].data_ptr()  # untied


def test_model_is_causal():
    torch.manual_seed(0)
    model = GPTNeoX(TINY).eval()
    ids = torch.randint(0, TINY.vocab_size, (1, 16))
    changed = ids.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % TINY.vocab_size
    with torch.no_grad():
        a, b = model(ids), model(changed)
    torch.testing.assert_close(a[0, :10], b[0, :10])
    assert not torch.allclose(a[0, 10:], b[0, 10:])


def test_checkpoints_on_schedule(runs):
    run_dir, result = runs["adam"]
    assert result["checkpoint_steps"] == [0, 1, 2, 4]
    assert sorted(p.name for p in run_dir.glob("step*")) == ["step0", "step1", "step2", "step4"]
    cfg = json.loads((run_dir / "step2" / "config.json").read_text())
    assert cfg["architectures"] == ["GPTNeoXForCausalLM"] and cfg["model_type"] == "gpt_neox"
    assert cfg["hidden_size"] == 32 and cfg["vocab_size"] == 512 and cfg["use_parallel_residual"]
    table = read_safetensors_index(run_dir / "step2" / "model.safetensors")
    assert table["gpt_neox.embed_in.weight"].shape == (512, 32)
    assert table["gpt_neox.embed_in.weight"].dtype == "F16"
    train = json.loads((run_dir / "train.json").read_text())
    assert [r["step"] for r in train["losses"]] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) for r in train["losses"])
    assert train["corpus"]["sha256"] == runs["coupled_adam"][1]["corpus"]["sha256"]


def test_same_start_different_optimizers(runs):
    (a_dir, _), (c_dir, _) = runs["adam"], runs["coupled_adam"]
    e = "gpt_neox.embed_in.weight"
    a0, c0 = (load_matrix(d / "step0" / "model.safetensors", e)[0] for d in (a_dir, c_dir))
    np.testing.assert_array_equal(a0, c0)  # same seed: same init
    a4, c4 = (load_matrix(d / "step4" / "model.safetensors", e)[0] for d in (a_dir, c_dir))
    assert not np.array_equal(a4, a0)
    assert not np.array_equal(a4, c4)  # the optimizer made the difference


def test_training_is_deterministic(runs, tmp_path):
    run_dir, result = runs["adam"]
    again = train_demo(tmp_path / "again", _settings("adam"), log=None)
    assert [r["loss"] for r in again["losses"]] == [r["loss"] for r in result["losses"]]
    for rev in ("step1", "step4"):
        assert ((tmp_path / "again" / rev / "model.safetensors").read_bytes()
                == (run_dir / rev / "model.safetensors").read_bytes())


def test_rerun_removes_stale_checkpoints(tmp_path):
    (tmp_path / "step999").mkdir()
    (tmp_path / "step999" / "model.safetensors").write_bytes(b"old")
    (tmp_path / "notes").mkdir()  # not ours: kept
    train_demo(tmp_path, _settings("adam", steps=1), log=None)
    assert not (tmp_path / "step999").exists() and (tmp_path / "notes").is_dir()
    assert (tmp_path / "step1" / "model.safetensors").is_file()


def test_embdim_fetch_reads_a_demo_checkpoint(runs, tmp_path, capsys):
    run_dir, _ = runs["coupled_adam"]
    out = tmp_path / "e.safetensors"
    rc = main(["fetch", str(run_dir), "--revision", "step2", "--tensor", "embed_in",
               "--out", str(out), "--json"])
    assert rc == 0, capsys.readouterr().err
    got, meta = load_matrix(out)
    want, _ = load_matrix(run_dir / "step2" / "model.safetensors", "embed_in")
    assert meta["tensor"] == "gpt_neox.embed_in.weight" and meta["dtype"] == "F16"
    np.testing.assert_array_equal(got, want)


def test_cli_rejects_bad_input(tmp_path, capsys):
    assert main(["train-demo", "--out", str(tmp_path / "r"), "--optimizer", "adam",
                 "--steps", "0"]) == 2
    err = capsys.readouterr().err
    assert "--steps" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as e:
        main(["train-demo", "--out", str(tmp_path / "r"), "--optimizer", "sgd"])
    assert e.value.code == 2
