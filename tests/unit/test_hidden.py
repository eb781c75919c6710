# SPDX-License-Identifier: MIT
"""``embdim hidden`` against independent references.

The reference for the residual stream is the demo's own GPT-NeoX (src/embdim/demo/model.py, plain
torch, written independently of transformers): same logits as transformers on the same
checkpoint, and its blocks' outputs equal ``layer.i``; transformers' ``hidden_states`` give
``layer.0 .. layer.L-1`` and (after the final LayerNorm) ``final_ln``. Every layer's ID equals
``embdim measure`` on the exported matrix; M + V = Q and V_within + V_between = V against a
brute-force loop over token types; ``--positions skip0`` drops exactly position 0.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from embdim.cli import main
from embdim.demo.model import GPTNeoX, NeoXConfig, hf_config
from embdim.formats.layout import load_safetensors_tensor
from embdim.formats.safetensors import read_safetensors_index, write_safetensors
from embdim.hidden.normvar import norm_variance

N_SEQ, SEQ_LEN, VOCAB = 8, 16, 64


def _demo_model(seed=0) -> GPTNeoX:
    torch.manual_seed(seed)
    cfg = NeoXConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=32)
    m = GPTNeoX(cfg)
    with torch.no_grad():  # move off the init (LayerNorm = 1/0, zero biases) so every path counts
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m.eval()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("hidden")
    model = _demo_model()
    mdir = d / "model"
    mdir.mkdir()
    write_safetensors(mdir / "model.safetensors", model.hf_state_dict(torch.float32))
    (mdir / "config.json").write_text(json.dumps(hf_config(model.cfg, torch_dtype="float32")))
    rng = np.random.default_rng(0)  # five frequent types (seen >= 10 times) among rare ones
    ids = np.where(rng.random((N_SEQ, SEQ_LEN)) < 0.6, rng.integers(1, 6, (N_SEQ, SEQ_LEN)),
                   rng.integers(6, VOCAB, (N_SEQ, SEQ_LEN)))
    np.save(d / "ids.npy", ids)
    return {"dir": d, "model_dir": mdir, "model": model, "ids": ids}


def _tensors(path) -> dict[str, np.ndarray]:
    return {n: load_safetensors_tensor(path, n)[0] for n in read_safetensors_index(path)}


@pytest.fixture(scope="module")
def exported(ckpt):
    out = ckpt["dir"] / "h.safetensors"
    assert main(["hidden", str(ckpt["model_dir"]), "--tokens", str(ckpt["dir"] / "ids.npy"),
                 "--out", str(out), "--measure-out", str(ckpt["dir"] / "layers.json"),
                 "--n-points", "100", "--bootstrap", "20", "--device", "cpu"]) == 0
    return _tensors(out)


def _reference_states(model: GPTNeoX, ids: np.ndarray) -> list[np.ndarray]:
    """Residual stream of the demo's own implementation: embedding, then after each block."""
    h = model.gpt_neox.embed_in(torch.as_tensor(ids))
    out = [h]
    with torch.no_grad():
        for layer in model.gpt_neox.layers:
            h = layer(h)
            out.append(h)
    return [x.detach().reshape(-1, x.shape[-1]).numpy() for x in out]


def test_tensor_names_shapes_and_order(exported):
    assert list(exported) == ["layer.0", "layer.1", "layer.2", "layer.3", "final_ln"]
    assert all(a.shape == (N_SEQ * SEQ_LEN, 32) and a.dtype == np.float32 for a in exported.values())


def test_same_logits_as_transformers(ckpt):
    from embdim.hidden.forward import load_model
    hf = load_model(ckpt["model_dir"], "float32", "cpu")
    ids = torch.as_tensor(ckpt["ids"])
    with torch.no_grad():
        ours = ckpt["model"](ids)
        theirs = hf(input_ids=ids).logits
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-5)


def test_layers_equal_the_demo_implementation_and_transformers(ckpt, exported):
    from embdim.hidden.forward import load_model
    ref = _reference_states(ckpt["model"], ckpt["ids"])
    for i, r in enumerate(ref):
        np.testing.assert_allclose(exported[f"layer.{i}"], r, rtol=1e-5, atol=1e-5)
    hf = load_model(ckpt["model_dir"], "float32", "cpu")
    with torch.no_grad():
        hs = hf(input_ids=torch.as_tensor(ckpt["ids"]), output_hidden_states=True).hidden_states
    L = len(ref) - 1
    for i in range(L):  # transformers' hidden_states[i] is the input of block i
        np.testing.assert_allclose(exported[f"layer.{i}"], hs[i].reshape(-1, 32).numpy(),
                                   rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(exported["final_ln"], hs[-1].reshape(-1, 32).numpy(),
                               rtol=1e-5, atol=1e-5)
    # hidden_states[-1] is after the final LayerNorm: layer.L is not, and final_ln = LN(layer.L)
    assert not np.allclose(exported[f"layer.{L}"], exported["final_ln"], atol=1e-3)
    ln = ckpt["model"].gpt_neox.final_layer_norm
    with torch.no_grad():
        np.testing.assert_allclose(exported["final_ln"],
                                   ln(torch.as_tensor(ref[-1])).numpy(), rtol=1e-5, atol=1e-5)


def test_skip0_drops_exactly_position_0(ckpt, exported):
    out = ckpt["dir"] / "h0.safetensors"
    assert main(["hidden", str(ckpt["model_dir"]), "--tokens", str(ckpt["dir"] / "ids.npy"),
                 "--positions", "skip0", "--out", str(out), "--device", "cpu"]) == 0
    skipped = _tensors(out)
    keep = np.arange(N_SEQ * SEQ_LEN) % SEQ_LEN != 0
    for name, full in exported.items():
        assert skipped[name].shape == (N_SEQ * (SEQ_LEN - 1), 32)
        np.testing.assert_array_equal(skipped[name], full[keep])


def test_every_layer_id_equals_embdim_measure_on_the_export(ckpt, exported, tmp_path, capsys):
    doc = json.loads((ckpt["dir"] / "layers.json").read_text())
    assert {(e["name"], e["positions"]) for e in doc["layers"]} == \
        {(n, p) for n in exported for p in ("all", "skip0")}
    for entry in (e for e in doc["layers"] if e["positions"] == "all"):
        capsys.readouterr()
        assert main(["measure", str(ckpt["dir"] / "h.safetensors"), "--tensor", entry["name"],
                     "--sample", "100", "--seed", "0", "--bootstrap", "20", "--k-curve", "0",
                     "--no-geometry", "--device", "cpu", "--json"]) == 0
        ref = json.loads(capsys.readouterr().out)
        assert (entry["n"], entry["n_unique"]) == (ref["n"], ref["n_unique"])
        assert entry["n"] == 100 and (entry["n_unique"] < 100) == (entry["name"] == "layer.0")
        for mine, theirs in zip(entry["estimates"], ref["estimates"], strict=True):
            for key in ("estimator", "k", "id", "ci_low", "ci_high"):
                assert mine[key] == theirs[key], (entry["name"], key)


def test_layer_json_geometry_and_norm_variance(ckpt, exported):
    doc = json.loads((ckpt["dir"] / "layers.json").read_text())
    e = next(x for x in doc["layers"] if x["name"] == "layer.2" and x["positions"] == "skip0")
    assert e["layer"] == 2 and e["depth"] == pytest.approx(2 / 3)
    keep = np.arange(N_SEQ * SEQ_LEN) % SEQ_LEN != 0
    X = exported["layer.2"][keep].astype(np.float64)
    Xc = X - X.mean(0)
    ev = np.linalg.eigvalsh(Xc.T @ Xc)
    assert e["geometry"]["top_pc_share"] == pytest.approx(ev[-1] / ev.sum(), rel=1e-9)
    nv = _brute_force(X, ckpt["ids"].reshape(-1)[keep], 10, 100_000)
    assert 0 < nv["n_tokens"] < len(X) and e["norm_variance"]["n_tokens"] == nv["n_tokens"]
    keys = ("m", "v", "q", "v_within", "v_between")
    assert {k: e["norm_variance"][k] for k in keys} == pytest.approx({k: nv[k] for k in keys},
                                                                      rel=1e-9)


def _brute_force(X, types, lo, hi):
    """Reference by a loop over token types (no shared code with norm_variance)."""
    X = np.asarray(X, dtype=np.float64)
    keep = [t for t in set(types.tolist()) if lo <= (types == t).sum() <= hi]
    rows = np.isin(types, keep)
    Y, ty = X[rows], types[rows]
    mu = Y.mean(0)
    within = sum(((Y[ty == t] - Y[ty == t].mean(0)) ** 2).sum() for t in keep) / len(Y)
    between = sum((ty == t).sum() * ((Y[ty == t].mean(0) - mu) ** 2).sum() for t in keep) / len(Y)
    return {"m": mu @ mu, "v": Y.var(0).sum(), "q": (Y ** 2).sum(1).mean(),
            "v_within": within, "v_between": between, "n_tokens": int(rows.sum()),
            "n_types": len(keep)}


def test_norm_variance_identities_and_type_window():
    rng = np.random.default_rng(3)
    types = rng.choice(40, size=3000, p=np.r_[np.full(10, 0.06), np.full(30, 0.4 / 30)])
    centres = rng.normal(3.0, 1.0, size=(40, 16))
    X = centres[types] + rng.normal(size=(3000, 16)) * 0.5 + 2.0  # a common mean: M > 0
    got = norm_variance(X, types, min_count=10, max_count=100)
    ref = _brute_force(X, types, 10, 100)
    assert 0 < ref["n_types"] < 40  # the window drops the frequent types
    assert got == pytest.approx({**ref, "min_count": 10, "max_count": 100}, rel=1e-10)
    assert got["m"] + got["v"] == pytest.approx(got["q"], rel=1e-12)
    assert got["v_within"] + got["v_between"] == pytest.approx(got["v"], rel=1e-12)
    none = norm_variance(X, np.arange(3000))  # every type seen once: nothing qualifies
    assert none["n_tokens"] == 0 and none["m"] is None


def test_loading_leaves_the_environment_alone(ckpt, monkeypatch):
    import os

    from embdim.hidden.forward import load_model
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    load_model(ckpt["model_dir"], "float32", "cpu")
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["TRANSFORMERS_OFFLINE"] == "0"


def test_bad_inputs_exit_2_with_one_line(ckpt, tmp_path, capsys):
    bad = tmp_path / "ids.npy"
    np.save(bad, np.full((2, 4), VOCAB + 5))
    args = ["hidden", str(ckpt["model_dir"]), "--out", str(tmp_path / "x.safetensors")]
    assert main(args + ["--tokens", str(bad)]) == 2
    assert "outside the model's vocabulary" in capsys.readouterr().err
    np.save(bad, np.ones(5, dtype=np.int64))
    assert main(args + ["--tokens", str(bad)]) == 2
    assert main(["hidden", str(tmp_path), "--tokens", str(ckpt["dir"] / "ids.npy"),
                 "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "no config.json" in capsys.readouterr().err
    assert not list(tmp_path.glob("x.safetensors*"))
