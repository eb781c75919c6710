# SPDX-License-Identifier: MIT
"""Coupled Adam: Adam(W) whose second moment is shared across the vocabulary for embeddings.

Stollenwerk & Stollenwerk (2025), "Better Embeddings with Coupled Adam", arXiv:2502.08441;
reference code github.com/flxst/coupled-adam, ``nanoGPT/coupled_adam.py`` (commit 714ba36),
the block marked ``COUPLED ADAM START``: for an embedding ``E`` of shape ``[V, H]`` the update
uses ``avg_scale * mean_over_V(v)`` (shape ``[H]``, broadcast back to ``[V, H]``) in place of
the per-element second moment ``v``. The stored ``v`` stays per element, as there; because the
mean is linear, averaging the EMA equals the EMA of averaged squared gradients.

Parameters in groups without ``coupled=True`` get exactly ``torch.optim.Adam`` (``weight_decay=0``)
or ``torch.optim.AdamW`` (decoupled ``weight_decay``, as in the reference) single-tensor updates.
"""
from __future__ import annotations


import torch
from torch.optim import Optimizer


class CoupledAdam(Optimizer):
    """Adam with decoupled weight decay; ``coupled`` groups share ``v`` over rows (the vocabulary).

    Parameters
    ----------
    params
        Parameters or groups; a group with ``coupled=True`` must hold 2-D ``[V, H]`` tensors.
    lr, betas, eps, weight_decay
        As ``torch.optim.AdamW`` (weight decay multiplies the parameter by ``1 - lr * wd``).
        Defaults match ``torch.optim.Adam`` (``weight_decay=0``); the reference uses 0 on embeddings.
    avg_scale
        Factor on the vocabulary-averaged second moment (reference default 1.0).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, avg_scale: float = 1.0,
                 coupled: bool = False):
        if lr < 0 or eps < 0 or weight_decay < 0 or avg_scale <= 0:
            raise ValueError("lr, eps and weight_decay must be >= 0 and avg_scale > 0")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"invalid betas {betas}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        avg_scale=avg_scale, coupled=coupled)
        super().__init__(params, defaults)
        for group in self.param_groups:
            if group["coupled"] and any(p.dim() != 2 for p in group["params"]):
                raise ValueError("coupled groups must hold 2-D [vocab, hidden] tensors")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("CoupledAdam does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"]
                m, v, g = state["exp_avg"], state["exp_avg_sq"], p.grad
                if wd != 0:
                    p.mul_(1 - lr * wd)
                # Same operation order as torch.optim.adam._single_tensor_adam, so the
                # uncoupled update is bitwise-comparable to torch's.
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                bias_correction1 = 1 - beta1 ** t
                bias_correction2_sqrt = (1 - beta2 ** t) ** 0.5
                step_size = lr / bias_correction1
                if group["coupled"]:
                    # COUPLED ADAM: one second moment per hidden dim, averaged over the vocabulary
                    v_used = (group["avg_scale"] * v.mean(dim=0, keepdim=True)).expand_as(v)
                else:
                    v_used = v
                denom = (v_used.sqrt() / bias_correction2_sqrt).add_(eps)
                p.addcdiv_(m, denom, value=-step_size)
        return loss


def build_optimizer(model: torch.nn.Module, name: str, *, lr: float, betas=(0.9, 0.95),
                    eps: float = 1e-8, weight_decay: float = 0.0,
                    embedding_names: tuple[str, ...] = ()) -> Optimizer:
    """``adam`` -> ``torch.optim.AdamW``; ``coupled_adam`` -> :class:`CoupledAdam` coupling ``embedding_names``.

    Weight decay applies to 2-D non-embedding matrices only (biases, LayerNorms and embeddings
    get none, as in the reference's ``configure_optimizers`` with ``embdecay=False``).
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    emb = [p for n, p in named if n in embedding_names]
    if len(emb) != len(embedding_names):
        raise ValueError(f"embedding parameters {embedding_names} not all found in the model")
    decay = [p for n, p in named if n not in embedding_names and p.dim() >= 2]
    nodecay = [p for n, p in named if n not in embedding_names and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": nodecay, "weight_decay": 0.0}]
    if name == "adam":
        return torch.optim.AdamW(groups + [{"params": emb, "weight_decay": 0.0}], lr=lr,
                                 betas=betas, eps=eps, foreach=False)
    if name == "coupled_adam":
        return CoupledAdam(groups + [{"params": emb, "weight_decay": 0.0, "coupled": True}], lr=lr,
                           betas=betas, eps=eps)
    raise ValueError(f"unknown optimizer {name!r} (expected adam or coupled_adam)")
