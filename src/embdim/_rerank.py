# SPDX-License-Identifier: MIT
"""Exact float64 squared distances of (query, candidate) pairs: the re-rank step of
:mod:`embdim.knn`, in three interchangeable implementations.

``rerank_numpy`` (CPU default), ``rerank_torch`` (any torch device; the CPU tests run it) and
``rerank_triton`` (CUDA: one fused pass over the input's own dtype). Each returns a (c, m)
float64 array: ``Σ_l (y_l - x_l)²`` for the first ``p[i]`` candidates of row i, inf after.
"""
from __future__ import annotations

import numpy as np


def rerank_torch(raw64, rows, cand, p):
    """Exact candidate d² (inf beyond ``p``) with torch ops: the CUDA re-rank.

    Gathers from an exact float64 copy of the input and lets ``cdist`` (direct, not the
    matrix-product form) fuse difference, square and sum: two fewer passes over the gathered
    block than the elementwise form (measured on an H200: ~45 of 160 ms were the re-rank).
    """
    import torch

    c, m = cand.shape
    D = torch.full((c, m), float("inf"), dtype=torch.float64, device=raw64.device)
    budget = 64 * 2 ** 20 if raw64.device.type == "cpu" else 2 * 2 ** 30  # float64 gather block
    sub = max(1, budget // (8 * m * raw64.shape[1]))
    for s in range(0, c, sub):
        w = int(p[s:s + sub].max())
        q = raw64[rows[s:s + sub], None, :]
        D[s:s + sub, :w] = torch.cdist(q, raw64[cand[s:s + sub, :w]],
                                       compute_mode="donot_use_mm_for_euclid_dist")[:, 0, :] ** 2
    return D


def rerank_numpy(raw, rows, cand, p):
    """Exact candidate d² (inf beyond ``p``) with numpy, in cache-sized blocks on threads.

    Measured on the 2-core CPU: blocks of 8 queries (gather, cast, subtract, einsum) run at
    ~3.5 ns per value against ~15 for torch's gather + vector_norm(dtype=float64).
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    c, m = cand.shape
    D = np.full((c, m), np.inf)
    sub = 8

    def block(lo, hi):
        for s in range(lo, hi, sub):
            w = int(p[s:s + sub].max())
            diff = np.take(raw, cand[s:s + sub, :w], axis=0).astype(np.float64)
            diff -= raw[rows[s:s + sub], None, :]
            D[s:s + sub, :w] = np.einsum("ijk,ijk->ij", diff, diff)

    workers = max(1, torch.get_num_threads())
    step = -(-c // (workers * sub)) * sub
    with ThreadPoolExecutor(workers) as ex:  # numpy releases the GIL in take/subtract/einsum
        list(ex.map(lambda lo: block(lo, min(c, lo + step)), range(0, c, step)))
    return D


_TRITON = None


def triton_available() -> bool:
    """Whether the Triton kernel can run (Triton installed, and not disabled by
    ``EMBDIM_NO_TRITON=1``)."""
    global _TRITON
    if _TRITON is None:
        import os
        try:
            if os.environ.get("EMBDIM_NO_TRITON") == "1":
                raise ImportError("disabled")
            import triton  # noqa: F401
            _TRITON = _make_kernel()
        except Exception:  # noqa: BLE001 - any failure means: use the torch path
            _TRITON = False
    return _TRITON is not False


def _make_kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def pair_d2(X, qi, ci, out, d, stride, BLOCK: tl.constexpr):
        # one program per (query, candidate) pair; differences and sums in float64
        pid = tl.program_id(0)
        i = tl.load(qi + pid).to(tl.int64)
        j = tl.load(ci + pid).to(tl.int64)
        acc = tl.zeros([BLOCK], dtype=tl.float64)
        for off in range(0, d, BLOCK):
            cols = off + tl.arange(0, BLOCK)
            mask = cols < d
            a = tl.load(X + i * stride + cols, mask=mask, other=0.0).to(tl.float64)
            b = tl.load(X + j * stride + cols, mask=mask, other=0.0).to(tl.float64)
            diff = a - b
            acc += diff * diff
        tl.store(out + pid, tl.sum(acc, axis=0))

    return pair_d2


def rerank_triton(raw, rows, cand, p):
    """Fused CUDA re-rank: reads each pair's two rows once, in the input's own dtype (fp16 stays
    2 bytes), and forms differences and squares in float64 — exact for any input dtype."""
    import torch

    c, m = cand.shape
    valid = torch.arange(m, device=cand.device)[None, :] < p[:, None]
    r, s = valid.nonzero(as_tuple=True)
    qi = rows[r].contiguous()
    ci = cand[r, s].contiguous()
    out = torch.empty(len(qi), dtype=torch.float64, device=raw.device)
    X = raw.contiguous()
    if len(qi):
        _TRITON[(len(qi),)](X, qi, ci, out, X.shape[1], X.stride(0), BLOCK=512)
    D = torch.full((c, m), float("inf"), dtype=torch.float64, device=raw.device)
    D[r, s] = out
    return D
