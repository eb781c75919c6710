# SPDX-License-Identifier: MIT
"""Q = M + V of contextual token states, with V split by token type.

Yamagiwa & Shimodaira (COLING 2025, arXiv:2409.11253): over the states x_i of a set of tokens,
Q = (1/N) Σ‖x_i‖² (mean squared norm) = M + V with M = ‖μ‖² (squared norm of the mean) and
V = (1/N) Σ‖x_i − μ‖² (variance). Grouping the tokens by type t (the token id), the law of total
variance splits V = V_within + V_between, V_within = (1/N) Σ_t Σ_{i∈t} ‖x_i − μ_t‖² and
V_between = (1/N) Σ_t N_t ‖μ_t − μ‖². As in the paper's code (ymgw55/Norm-and-Variance), only
token types seen 10 to 10⁵ times in the sample take part, and all five quantities are over
those tokens, so both identities hold on the same set. Each term is computed directly (two
passes, float64), never as a difference, so the identities check the arithmetic.
"""
from __future__ import annotations

import numpy as np

# Types seen fewer times give a noisy type mean; more often, they are the few function tokens
# that would dominate V_within (ymgw55/Norm-and-Variance; the paper's section 5).
MIN_COUNT = 10
MAX_COUNT = 100_000
KEYS = ("m", "v", "q", "v_within", "v_between")


def norm_variance(X: np.ndarray, types: np.ndarray, min_count: int = MIN_COUNT,
                  max_count: int = MAX_COUNT) -> dict:
    """M, V, Q, V_within, V_between over the rows of ``X`` whose type occurs min..max times.

    Parameters
    ----------
    X : array (n, d)
        Token states.
    types : int array (n,)
        Token id of each row.

    Returns
    -------
    dict
        ``m, v, q, v_within, v_between`` (None when fewer than 2 tokens qualify), ``n_tokens``
        (rows used), ``n_types`` (types used), ``min_count``, ``max_count``.
    """
    types = np.asarray(types).reshape(-1)
    if len(types) != len(X):
        raise ValueError(f"{len(types)} token types for {len(X)} rows")
    _, inv, counts = np.unique(types, return_inverse=True, return_counts=True)
    ok = (counts >= min_count) & (counts <= max_count)
    sel = ok[inv]
    out = {"n_tokens": int(sel.sum()), "n_types": int(ok.sum()), "min_count": min_count,
           "max_count": max_count, **dict.fromkeys(KEYS)}
    if out["n_tokens"] < 2:
        return out
    t = inv[sel]
    order = np.argsort(t, kind="stable")
    Xs = np.asarray(X[sel][order], dtype=np.float64)
    t = t[order]
    n = len(Xs)
    mu = Xs.mean(axis=0)
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    sizes = np.diff(np.r_[starts, n])
    mu_t = np.add.reduceat(Xs, starts, axis=0) / sizes[:, None]
    diff = Xs - mu
    within = Xs - np.repeat(mu_t, sizes, axis=0)
    out.update(
        m=float(mu @ mu),
        v=float(np.einsum("ij,ij->", diff, diff) / n),
        q=float(np.einsum("ij,ij->", Xs, Xs) / n),
        v_within=float(np.einsum("ij,ij->", within, within) / n),
        v_between=float(sizes @ ((mu_t - mu) ** 2).sum(axis=1) / n),
    )
    return out
