# SPDX-License-Identifier: MIT
"""Coupled Adam: Adam(W) on ordinary parameters, vocabulary-averaged second moment on embeddings."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from embdim.demo.coupled_adam import CoupledAdam, build_optimizer

LR, B1, B2, EPS = 1e-2, 0.9, 0.99, 1e-8


def _grads(shape, n_steps, seed=0):
    # Rows with very different gradient scales, so coupling visibly changes the update.
    rng = np.random.default_rng(seed)
    scale = np.logspace(-2, 1, shape[0])[:, None] if len(shape) == 2 else 1.0
    return [(rng.standard_normal(shape) * scale).astype(np.float64) for _ in range(n_steps)]


def _run_torch(opt_cls, p0, grads, **kw):
    p = torch.nn.Parameter(torch.tensor(p0))
    opt = opt_cls([p], **kw)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    return p.detach().numpy()


def _numpy_adam(p0, grads, coupled, wd=0.0, avg_scale=1.0):
    """Hand computation of Adam / AdamW / Coupled Adam (Stollenwerk 2025, eqs. of Adam with v averaged over rows)."""
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(grads, start=1):
        p = p * (1 - LR * wd)
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g * g
        v_used = np.broadcast_to(avg_scale * v.mean(axis=0), v.shape) if coupled else v
        m_hat = m / (1 - B1 ** t)
        v_hat = v_used / (1 - B2 ** t)
        p = p - LR * m_hat / (np.sqrt(v_hat) + EPS)
    return p


@pytest.mark.parametrize("shape", [(7,), (5, 3)])
def test_uncoupled_equals_torch_adam(shape):
    p0 = np.random.default_rng(1).standard_normal(shape)
    grads = _grads(shape, 6)
    ours = _run_torch(CoupledAdam, p0, grads, lr=LR, betas=(B1, B2), eps=EPS)
    ref = _run_torch(torch.optim.Adam, p0, grads, lr=LR, betas=(B1, B2), eps=EPS, foreach=False)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-15)
    assert not np.allclose(ours, p0)  # the parameters did move


def test_uncoupled_weight_decay_equals_torch_adamw():
    p0 = np.random.default_rng(2).standard_normal((4, 6))
    grads = _grads((4, 6), 5, seed=3)
    ours = _run_torch(CoupledAdam, p0, grads, lr=LR, betas=(B1, B2), eps=EPS, weight_decay=0.1)
    ref = _run_torch(torch.optim.AdamW, p0, grads, lr=LR, betas=(B1, B2), eps=EPS,
                     weight_decay=0.1, foreach=False)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-15)


def test_coupled_matches_hand_computation():
    p0 = np.random.default_rng(4).standard_normal((6, 3))
    grads = _grads((6, 3), 4, seed=5)
    ours = _run_torch(CoupledAdam, p0, grads, lr=LR, betas=(B1, B2), eps=EPS, coupled=True)
    np.testing.assert_allclose(ours, _numpy_adam(p0, grads, coupled=True), rtol=1e-12, atol=1e-14)
    # ... and the coupling matters here: plain Adam lands elsewhere.
    assert np.abs(ours - _numpy_adam(p0, grads, coupled=False)).max() > 1e-3


def test_coupled_first_step_by_hand():
    # Step 1, beta-corrected: m_hat = g, v_hat = g^2, so Adam moves every entry by lr*sign(g)
    # while Coupled Adam divides by the per-column RMS over the vocabulary.
    g = np.array([[3.0, -1.0], [1.0, 2.0]])
    p = _run_torch(CoupledAdam, np.zeros((2, 2)), [g], lr=LR, betas=(B1, B2), eps=0.0, coupled=True)
    rms = np.sqrt(np.array([(9 + 1) / 2, (1 + 4) / 2]))
    np.testing.assert_allclose(p, -LR * g / rms, rtol=1e-12)


def test_avg_scale_scales_the_shared_moment():
    p0 = np.zeros((3, 2))
    grads = _grads((3, 2), 3, seed=6)
    ours = _run_torch(CoupledAdam, p0, grads, lr=LR, betas=(B1, B2), eps=EPS, coupled=True, avg_scale=4.0)
    np.testing.assert_allclose(ours, _numpy_adam(p0, grads, coupled=True, avg_scale=4.0), rtol=1e-12)


def test_mixed_groups_in_a_model():
    """build_optimizer: the embedding is coupled, every other parameter follows torch AdamW exactly."""
    torch.manual_seed(0)
    make = lambda: torch.nn.ModuleDict({"emb": torch.nn.Embedding(9, 4), "lin": torch.nn.Linear(4, 9)})  # noqa: E731
    ref, ours = make(), make()
    ours.load_state_dict(ref.state_dict())
    emb0 = ref["emb"].weight.detach().double().numpy().copy()
    kw = dict(lr=LR, betas=(B1, B2), eps=EPS, weight_decay=0.1, embedding_names=("emb.weight",))
    opt_ref, opt_ours = build_optimizer(ref, "adam", **kw), build_optimizer(ours, "coupled_adam", **kw)
    rng = np.random.default_rng(7)
    emb_grads = []
    for _ in range(4):  # the same gradients into both optimizers
        for name, p in ref.named_parameters():
            g = rng.standard_normal(tuple(p.shape)).astype(np.float32)
            if name == "emb.weight":
                g *= np.logspace(-2, 1, 9, dtype=np.float32)[:, None]
                emb_grads.append(g.astype(np.float64))
            p.grad = torch.tensor(g)
            dict(ours.named_parameters())[name].grad = torch.tensor(g)
        opt_ref.step()
        opt_ours.step()
    for name in ("lin.weight", "lin.bias"):  # weight decay on lin.weight, none on the bias
        torch.testing.assert_close(dict(ours.named_parameters())[name],
                                   dict(ref.named_parameters())[name], rtol=0, atol=0)
    # The embedding gets no weight decay and the vocabulary-averaged second moment.
    np.testing.assert_allclose(ours["emb"].weight.detach().numpy(),
                               _numpy_adam(emb0, emb_grads, coupled=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ref["emb"].weight.detach().numpy(),
                               _numpy_adam(emb0, emb_grads, coupled=False), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ours["emb"].weight, ref["emb"].weight)


def test_rejects_bad_settings():
    with pytest.raises(ValueError):
        CoupledAdam([torch.nn.Parameter(torch.zeros(3))], coupled=True)  # not [vocab, hidden]
    with pytest.raises(ValueError):
        CoupledAdam([torch.nn.Parameter(torch.zeros(2, 2))], betas=(1.0, 0.9))
    with pytest.raises(ValueError):
        build_optimizer(torch.nn.Linear(2, 2), "sgd", lr=1e-3)
