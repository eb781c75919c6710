# SPDX-License-Identifier: MIT
"""Geometry of an embedding matrix beside its intrinsic dimension.

Everything is computed on the deduplicated rows ``W`` (``n_unique × d``), streaming the rows in
chunks and accumulating in float64, so the only large allocations are one row chunk and ``d × d``
matrices (``d`` up to 5120 is ~200 MiB per matrix):

* mean cosine similarity over distinct pairs, exactly in O(n·d) from the sum of unit vectors;
* the share of the top singular value σ₁²/Σσ² (uncentred) and of the top principal component
  (centred);
* Q = ‖μ‖² + V, the mean squared norm split into the squared norm of the mean and the variance
  V = mean squared distance to the mean (Yamagiwa & Shimodaira 2024, arXiv:2409.11241);
* the isotropy I(W) = min_c Z(c) / max_c Z(c), Z(c) = Σ_i exp(cᵀw_i) over the principal directions
  c (Mu & Viswanath 2018, "All-but-the-Top", ICLR, arXiv:1702.01417), in log-space;
* the PCA dimension at 90/95/99 % explained variance (centred) and the effective rank
  (Roy & Vetterli 2007, EUSIPCO) of the uncentred matrix.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .errors import InputError

# Rows per chunk: ~2**22 float64 values (32 MiB) keeps the working set small on d = 5120 while
# the chunk GEMMs stay large enough for BLAS to run at full speed.
CHUNK_VALUES = 1 << 22

# Explained-variance levels reported as pca_dim_<level>.
PCA_LEVELS = (90, 95, 99)

# Relative slack when comparing a cumulative share with a level: eigenvalues from a float64
# Gram carry ~1e-13 relative error, so a share that is exactly 0.9 in exact arithmetic must not
# come out one component too high.
_LEVEL_SLACK = 1e-9


@dataclass
class Geometry:
    """Geometry summary of one matrix (JSON keys of ``embdim geometry``)."""

    n: int
    n_unique: int
    d: int
    mean_cosine: float | None
    top_sv_share: float
    top_pc_share: float
    mean_norm_sq: float
    variance: float
    q: float
    mean_norm_ratio: float | None
    isotropy: float
    pca_dim_90: int
    pca_dim_95: int
    pca_dim_99: int
    effective_rank: float

    def to_dict(self) -> dict:
        return asdict(self)


def _chunks(X: np.ndarray, rows: int | None = None):
    """Yield float64 copies of consecutive row blocks of ``X`` (fp16/bf16-as-fp32 are up-cast)."""
    n, d = X.shape
    step = rows or max(1, CHUNK_VALUES // max(d, 1))
    for start in range(0, n, step):
        yield np.asarray(X[start:start + step], dtype=np.float64)


def check_finite(X: np.ndarray) -> None:
    """Raise :class:`InputError` if ``X`` holds NaN or ±inf (checked chunk by chunk).

    Raises
    ------
    InputError
        With the index of the first offending row.
    """
    step = max(1, CHUNK_VALUES // max(X.shape[1], 1))
    for start in range(0, X.shape[0], step):
        bad = ~np.isfinite(X[start:start + step]).all(axis=1)
        if bad.any():
            row = start + int(np.flatnonzero(bad)[0])
            raise InputError(f"matrix holds NaN or inf values (first in row {row})")


def _dedup(X: np.ndarray) -> np.ndarray:
    """Distinct rows of ``X`` (order irrelevant here), via the shared estimator helper if present."""
    try:
        from .estimators import dedup_rows
    except ImportError:  # the estimators package is optional for geometry alone
        return np.unique(X, axis=0)
    out = dedup_rows(X)
    return out[0] if isinstance(out, tuple) else out


def _accumulate_first_pass(W: np.ndarray, rows: int | None):
    """Sum of rows, sum of unit vectors, sum of squared norms, count of non-zero rows."""
    d = W.shape[1]
    s = np.zeros(d)
    u = np.zeros(d)
    sq = 0.0
    nonzero = 0
    for c in _chunks(W, rows):
        s += c.sum(axis=0)
        norms = np.sqrt(np.einsum("ij,ij->i", c, c))
        sq += float(np.dot(norms, norms))
        keep = norms > 0  # a zero row has no direction: it takes no part in the mean cosine
        nonzero += int(keep.sum())
        u += (c[keep] / norms[keep, None]).sum(axis=0)
    return s, u, sq, nonzero


def _centred_scatter(W: np.ndarray, mu: np.ndarray, rows: int | None) -> np.ndarray:
    """Σ (w − μ)(w − μ)ᵀ, accumulated over row chunks.

    Centring each chunk before the product (two passes) avoids the cancellation of
    ``WᵀW − n μμᵀ`` when the mean dominates the spread, which is the anisotropic case we study.
    """
    d = W.shape[1]
    C = np.zeros((d, d))
    for c in _chunks(W, rows):
        c = c - mu  # never in place: a float64 chunk may be a view of the caller's matrix
        C += c.T @ c
    return C


def _log_partition(W: np.ndarray, V: np.ndarray, rows: int | None) -> np.ndarray:
    """log Z(±c) = log Σ_i exp(±cᵀw_i) for every column c of ``V``, by a streaming logsumexp.

    Returns the ``2 × k`` array [log Z(c); log Z(−c)]. exp(cᵀw) overflows float64 once
    cᵀw > 709, which trained embeddings with a large common direction reach; a running
    per-column maximum and a rescaled sum never do.
    """
    m = np.full((2, V.shape[1]), -np.inf)
    acc = np.zeros((2, V.shape[1]))
    for c in _chunks(W, rows):
        P = c @ V
        for sign, row in ((1.0, 0), (-1.0, 1)):
            Ps = sign * P
            new_m = np.maximum(m[row], Ps.max(axis=0))
            acc[row] = acc[row] * np.exp(m[row] - new_m) + np.exp(Ps - new_m).sum(axis=0)
            m[row] = new_m
    return m + np.log(acc)


def pca_dim(eigvals_desc: np.ndarray, level: float) -> int:
    """Smallest number of leading components whose eigenvalues explain ``level`` (0–1) of the sum."""
    total = float(eigvals_desc.sum())
    if total <= 0:
        return 0
    share = np.cumsum(eigvals_desc) / total
    return int(np.searchsorted(share, level - _LEVEL_SLACK) + 1)


def effective_rank(singular_values: np.ndarray) -> float:
    """exp of the Shannon entropy of p_i = σ_i / Σσ (Roy & Vetterli 2007); 0 ↦ 0·log 0 = 0."""
    s = np.clip(np.asarray(singular_values, dtype=np.float64), 0.0, None)
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def compute_geometry(X: np.ndarray, *, dedup: bool = True, chunk_rows: int | None = None) -> Geometry:
    """Geometry summary of the distinct rows of ``X``.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Embedding matrix, any float dtype (fp16 and bf16-widened fp32 are up-cast chunk by chunk).
    dedup : bool
        Drop duplicate rows first (default). Untrained padding rows are often identical; they
        would otherwise count as many copies of one point.
    chunk_rows : int, optional
        Rows per streamed chunk (default: ~32 MiB of float64); only memory depends on it.

    Returns
    -------
    Geometry
        ``mean_cosine``: mean of cos(w_i, w_j) over distinct pairs i < j of non-zero rows, from
        (‖Σ u_i‖² − m) / (m(m − 1)) with u_i = w_i/‖w_i‖ and m non-zero rows (None if m < 2).
        ``top_sv_share``: σ₁²/Σσ² of W itself (uncentred). ``top_pc_share``: the same for the
        centred W − 1μᵀ. ``mean_norm_sq`` = ‖μ‖², ``variance`` V = (1/n)Σ‖w_i − μ‖²,
        ``q`` = (1/n)Σ‖w_i‖² = ‖μ‖² + V, ``mean_norm_ratio`` = ‖μ‖²/V.
        ``isotropy``: min_c Z(c) / max_c Z(c) with c over the eigenvectors of WᵀW *and their
        negatives* — eigenvectors have no intrinsic sign, so taking both makes the value a
        function of W alone rather than of the eigensolver's sign choice; log Z is computed with
        a streaming logsumexp, so no exp overflows. 1 is perfectly isotropic, → 0 for one
        dominant direction. Z is not scale-invariant: N(0, I_d) rows give ~0.6–0.8 at
        n = 10³–10⁴ (sampling noise of Σ exp(N(0,1)) over 2d directions), not 1. ``pca_dim_XX``: fewest principal components (centred) explaining
        XX % of the variance. ``effective_rank``: Roy & Vetterli's exp(H(σ/Σσ)) of the
        *uncentred* W (the matrix as the model uses it), between 1 and rank(W).

    Raises
    ------
    InputError
        Not 2-D, NaN/inf present, or fewer than two distinct rows.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] < 1:
        raise InputError(f"expected a 2-D matrix with at least one column, got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    check_finite(X)
    n, d = X.shape
    W = _dedup(X) if dedup else X
    m = W.shape[0]
    if m < 2:
        raise InputError(f"need at least 2 distinct rows for geometry, got {m}")

    s, u, sq, nonzero = _accumulate_first_pass(W, chunk_rows)
    mu = s / m
    mean_cos = (float(u @ u) - nonzero) / (nonzero * (nonzero - 1)) if nonzero >= 2 else None

    C = _centred_scatter(W, mu, chunk_rows)
    G = C + m * np.outer(mu, mu)  # WᵀW: both terms are PSD, so no cancellation
    scatter_trace = float(np.trace(C))
    ev_c = np.clip(np.linalg.eigvalsh(C)[::-1], 0.0, None)
    ev_g, vecs = np.linalg.eigh(G)
    ev_g = np.clip(ev_g[::-1], 0.0, None)
    del C, G

    logz = _log_partition(W, vecs, chunk_rows)
    iso = float(math.exp(logz.min() - logz.max()))

    mean_norm_sq = float(mu @ mu)
    variance = scatter_trace / m  # trace of the scatter / n = mean squared distance to μ
    q = sq / m
    return Geometry(
        n=int(n), n_unique=int(m), d=int(d), mean_cosine=mean_cos,
        top_sv_share=float(ev_g[0] / ev_g.sum()),
        top_pc_share=float(ev_c[0] / ev_c.sum()) if ev_c.sum() > 0 else 0.0,
        mean_norm_sq=mean_norm_sq, variance=variance, q=q,
        mean_norm_ratio=mean_norm_sq / variance if variance > 0 else None,
        isotropy=iso,
        **{f"pca_dim_{lv}": pca_dim(ev_c, lv / 100) for lv in PCA_LEVELS},
        effective_rank=effective_rank(np.sqrt(ev_g)),
    )
