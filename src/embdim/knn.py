# SPDX-License-Identifier: MIT
"""Exact k-nearest-neighbour distances (Euclidean), chunked, never an n x n matrix.

One code path for CPU and CUDA (torch): for a chunk of query rows,

1. a fast low-precision product (bf16 on both; fp32 and fp64 as fall-back tiers) gives
   approximate squared distances to every row, shifted per query by an offset ``r_i`` taken
   from a small pilot sample, so the product's output rounding is relative to ``|d² - r_i|``
   (near the k-th neighbour: small) instead of to ``d²``;
2. ``topk`` keeps ``k + extra + 1`` candidates per query (the point itself is masked out);
3. the ``k + extra`` candidate distances are recomputed exactly in float64 from the input values
   (``Σ (x_l - y_l)²``, no cancellation) and sorted;
4. a query is *certified* when its exact k-th distance is at most the smallest approximate
   distance left out minus an error bound of the low-precision product. Uncertain queries go
   to the next, more precise tier; the last tier (float64) is exact by construction.

Memory: O(n·k + chunk·n). The error bound for bf16/fp32 is statistical (independent round-off
of the inputs, ``z`` standard deviations, with the largest coordinate as the scale) plus the
worst-case output rounding; see :func:`_error_bound`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import InputError

# Unit round-off (half an ulp at 1) of each tier's storage format: bf16 keeps 8 significant bits,
# fp32 24, fp64 53 (IEEE 754 / bfloat16 definitions).
_UNIT_ROUNDOFF = {"bfloat16": 2.0 ** -8, "float16": 2.0 ** -11, "float32": 2.0 ** -24,
                  "float64": 2.0 ** -53}
# Standard deviations of input round-off tolerated before a query is re-done at the next tier.
# 8 sigma: with ~5e4 non-candidates per query a Gaussian tail of 6e-16 each is never reached.
Z_SIGMA = 8.0
# Score matrix budget per chunk (bytes of float32); keeps memory O(chunk·n).
CHUNK_BYTES = 256 * 2 ** 20
# Pilot sample: 1/8 of the rows (at least 1024) costs ~12% of the main product.
PILOT_FRACTION = 8
PILOT_MIN = 1024


@dataclass
class KNNResult:
    """k nearest neighbours of every row (the row itself excluded), distances ascending.

    Attributes
    ----------
    dist : ndarray (n, k) float64
        Euclidean distances, exact in float64 from the input values.
    idx : ndarray (n, k) int64
        Row indices of the neighbours.
    device : str
        ``cpu`` or ``cuda``.
    tiers : dict
        Number of queries settled by each precision tier, e.g. ``{"bfloat16": 50300, "float32": 4}``.
    """

    dist: np.ndarray
    idx: np.ndarray
    device: str
    tiers: dict


def resolve_device(device: str = "auto") -> str:
    """Map ``auto|cpu|cuda`` to an available torch device name.

    Raises
    ------
    InputError
        If ``cuda`` is asked for and no GPU is visible, or the name is unknown.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available (use --device cpu or auto)")
        return "cuda"
    if device == "cpu":
        return "cpu"
    raise InputError(f"unknown device {device!r} (expected auto, cpu or cuda)")


def _tiers(precision: str) -> list:
    import torch

    table = {"bf16": [torch.bfloat16, torch.float32, torch.float64],
             "fp32": [torch.float32, torch.float64], "fp64": [torch.float64]}
    if precision not in table:
        raise InputError(f"unknown precision {precision!r} (expected bf16, fp32 or fp64)")
    return table[precision]


def knn(X: np.ndarray, k: int, *, device: str = "auto", precision: str = "bf16",
        extra: int | None = None, chunk: int | None = None,
        progress: Callable[[int, int], None] | None = None) -> KNNResult:
    """Exact k nearest neighbours of every row of ``X`` among the other rows.

    Parameters
    ----------
    X : ndarray (n, d)
        Finite float data (float16/bfloat16-derived float32, float32 or float64). Duplicate
        rows are allowed (they give zero distances) but callers normally remove them first.
    k : int
        Neighbours per row, ``1 <= k <= n - 1``.
    device : {"auto", "cpu", "cuda"}
    precision : {"bf16", "fp32", "fp64"}
        First tier of the candidate product; later tiers are always more precise, and the
        final distances are float64 whichever tier found them.
    extra : int, optional
        Extra candidates re-ranked exactly per query (default ``max(k, 8)``).
    chunk : int, optional
        Query rows per chunk (default: a 256 MiB float32 score block).
    progress : callable(done, total), optional
        Called after each chunk of the first tier.

    Returns
    -------
    KNNResult

    Raises
    ------
    InputError
        Bad ``k``, device or precision.
    """
    import torch

    n = X.shape[0]
    if not (1 <= k <= n - 1):
        raise InputError(f"k={k} needs 1 <= k <= n-1 with n={n} rows")
    dev = resolve_device(device)
    tiers = _tiers(precision)
    extra = max(k, 8) if extra is None else int(extra)
    m = min(k + extra, n - 1)  # candidates re-ranked exactly
    chunk = chunk or max(1, min(n, CHUNK_BYTES // (4 * n)))

    raw = torch.from_numpy(np.ascontiguousarray(X)).to(dev)
    if raw.dtype not in (torch.float32, torch.float64):
        raw = raw.to(torch.float64)
    # Centre and scale (float64): distances change by one known factor, and the low-precision
    # copies then hold values of order 1 (no fp16/bf16 overflow of the squared norms).
    xs = raw.to(torch.float64)
    xs = xs - xs.mean(dim=0)
    scale = float(xs.norm(dim=1).max()) or 1.0
    xs /= scale
    sq = (xs * xs).sum(dim=1)
    ymax = float(xs.abs().max())

    dist = torch.empty((n, k), dtype=torch.float64, device=dev)
    idx = torch.empty((n, k), dtype=torch.int64, device=dev)
    pending = torch.arange(n, device=dev)
    counts: dict[str, int] = {}
    gen = torch.Generator(device="cpu").manual_seed(0)
    pilot = torch.randperm(n, generator=gen)[:max(min(n, PILOT_MIN), n // PILOT_FRACTION)].to(dev)
    for t, dtype in enumerate(tiers):
        last = t == len(tiers) - 1
        A, B = _augment(xs, sq, dtype)
        still = []
        for s in range(0, len(pending), chunk):
            rows = pending[s:s + chunk]
            d2, ii, ok = _chunk(rows, raw, xs, sq, A, B, pilot, k, m, dtype, ymax, scale,
                                exact=last)
            good = rows[ok]
            dist[good] = d2[ok].sqrt()
            idx[good] = ii[ok]
            still.append(rows[~ok])
            if progress is not None and t == 0:
                progress(min(s + chunk, len(pending)), len(pending))
        name = str(dtype).removeprefix("torch.")
        counts[name] = int(len(pending) - sum(len(r) for r in still))
        pending = torch.cat(still) if still else pending[:0]
        if len(pending) == 0:
            break
    # Exact squared distances were computed on the unscaled input: no rescaling needed.
    return KNNResult(dist.cpu().numpy(), idx.cpu().numpy(), dev, counts)


def _augment(xs, sq, dtype):
    """Low-precision operands whose product is ``|x|² + |y|² - 2 x·y`` (before the offset).

    Squared norms are split into a high and a low part so they keep ~16 bits even in bf16.
    The K dimension is padded to a multiple of 32 (AMX / tensor-core tile width).
    """
    import torch

    n, d = xs.shape
    hi = sq.to(dtype)
    lo = (sq - hi.to(torch.float64)).to(dtype)
    one = torch.ones(n, 1, dtype=dtype, device=xs.device)
    pad = (-(d + 4)) % 32
    z = torch.zeros(n, pad, dtype=dtype, device=xs.device)
    A = torch.cat([xs.to(dtype), hi[:, None], lo[:, None], one, one, z], dim=1)
    B = torch.cat([(-2 * xs).to(dtype), one, one, hi[:, None], lo[:, None], z], dim=1)
    return A, B


def _offset_operand(A, rows, r, d0):
    """Query operand for ``rows`` with ``r`` subtracted from its squared norm (columns d0, d0+1)."""
    import torch

    Aq = A[rows]  # advanced indexing copies
    full = Aq[:, d0].to(torch.float64) + Aq[:, d0 + 1].to(torch.float64) - r
    hi = full.to(A.dtype)
    Aq[:, d0] = hi
    Aq[:, d0 + 1] = (full - hi.to(torch.float64)).to(A.dtype)
    return Aq


def _chunk(rows, raw, xs, sq, A, B, pilot, k, m, dtype, ymax, scale, *, exact):
    """Candidates for one chunk of queries at one precision; returns (d², idx, certified)."""
    import torch

    dev = xs.device
    c = len(rows)
    ar = torch.arange(c, device=dev)
    # Pilot: approximate squared distance to the t-th nearest of a 1/8 sample ≈ D_(k+m).
    if exact:
        r = torch.zeros(c, dtype=torch.float64, device=dev)
    else:
        P = (A[rows] @ B[pilot].T).float()
        P[rows[:, None] == pilot[None, :]] = float("inf")
        t = min(len(pilot) - 1, max(1, math.ceil(m * len(pilot) / xs.shape[0])))
        r = torch.topk(P, t, dim=1, largest=False).values[:, -1].to(torch.float64)
        r = torch.where(torch.isfinite(r), r, torch.zeros_like(r))
        del P
    S = _offset_operand(A, rows, r, xs.shape[1]) @ B.T
    if S.dtype != torch.float32 and S.dtype != torch.float64 and dev.type == "cpu":
        S = S.float()  # CPU topk on bf16 is ~4x slower than on float32 (measured, torch 2.x)
    S[ar, rows] = float("inf")  # the point itself is not its own neighbour
    want = min(m + 1, S.shape[1] - 1)
    av, ai = torch.topk(S, want, dim=1, largest=False)
    del S
    cand = ai[:, :m]
    # Exact float64 squared distances of the candidates, from the unscaled input values.
    q = raw[rows].to(torch.float64)
    D = torch.empty((c, m), dtype=torch.float64, device=dev)
    sub = max(1, (32 * 2 ** 20) // (8 * m * raw.shape[1]))
    for s in range(0, c, sub):
        diff = raw[cand[s:s + sub]].to(torch.float64) - q[s:s + sub, None, :]
        D[s:s + sub] = (diff * diff).sum(dim=2)
    D, order = torch.sort(D, dim=1, stable=True)
    ii = torch.gather(cand, 1, order)[:, :k]
    D = D[:, :k]
    if exact or want <= m:  # final tier, or every other row is a candidate
        return D, ii, torch.ones(c, dtype=torch.bool, device=dev)
    a_next = av[:, m].to(torch.float64) + r  # smallest approximate d² left out (scaled units)
    Dk_scaled = D[:, -1] / scale ** 2
    out_mag = torch.maximum(av[:, m].to(torch.float64).abs(), (Dk_scaled - r).abs())
    bound = _error_bound(dtype, sq[rows].sqrt(), ymax, out_mag, xs.shape[1])
    ok = Dk_scaled <= a_next - bound
    return D, ii, ok


def _error_bound(dtype, xnorm, ymax, out_mag, dim):
    """Bound on |approximate - exact| scaled squared distance for one query row.

    Input round-off: each factor of ``x·y`` carries a relative error up to ``u`` (uniform,
    variance u²/3), so the dot product's error has standard deviation
    ``u·sqrt(2/3)·sqrt(Σ x_l² y_l²) <= u·sqrt(2/3)·|x|·max|y_l|``; d² carries twice that.
    Output rounding: at most ``u·|output|``. fp32 accumulation: ``sqrt(dim)·2^-24·4`` (terms of
    size <= 4 after scaling to max norm 1).
    """
    import torch

    u = _UNIT_ROUNDOFF[str(dtype).removeprefix("torch.")]
    sigma = 2 * u * math.sqrt(2 / 3) * xnorm * ymax
    acc = math.sqrt(dim + 4) * 2.0 ** -24 * 4
    return Z_SIGMA * sigma + 2 * u * out_mag + acc + torch.zeros_like(xnorm)
