# SPDX-License-Identifier: MIT
"""CPU candidate engine ``sym-fp32``: each block of X·Xᵀ computed once, for both its row sets.

For CPUs without native bf16 (AVX2, AVX-512 without bf16), where a float32 product is the
fastest exact-enough product. Steps:

1. rows are shuffled (seeded), and each diagonal block of ``b`` rows gives every row a
   threshold ``r_i``: the t-th smallest approximate d² within its block, a random sample of
   ``b - 1`` rows (t chosen so that fewer than ``m + 1`` entries fall below it with
   probability < 1e-3; see :func:`_sample_rank`);
2. rows are re-ordered by ``r_i``, so that one scalar threshold per block pair (the largest
   ``r`` of its rows) is nearly tight; each block pair ``I <= J`` is multiplied once
   (``A_I · B_Jᵀ`` = approximate d², float32, K = d + 4), and its entries below that scalar
   are kept, then split exactly: ``(i, j)`` is a candidate of ``i`` if ``d² < r_i`` and of
   ``j`` if ``d² < r_j``. Half the multiply-adds of a full product, one compare pass;
3. per row the ``m + 1`` smallest candidates are handed back with ``r_i``: every entry left out
   has an approximate d² of at least the (m+1)-th candidate or ``r_i``, which the caller's
   exact re-rank and certificate use, exactly as for the chunked engines.

Memory: the operands (2·n·(d+4) float32, in the order of r), the candidates (about
``t·n/b`` per row, ~60-150) and one ``b x b`` block per thread.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Rows per block. 1024 x 1024 float32 = 4 MiB of scores per thread: stays in the last-level
# cache between the product and the compare pass (measured here: 2048 was 10-20% slower at
# d = 128, equal at d = 2048).
BLOCK = 1024
# Probability that a row's sampled threshold leaves fewer than m + 1 entries below it.
SHORT_P = 1e-2


def _sample_rank(m1: int, p: float) -> int:
    """Smallest t with P(Binomial(m1, p) >= t) < SHORT_P.

    The t-th smallest of a random sample that holds each other row with probability ``p`` lies
    above the m1-th smallest overall unless t of the m1 nearest rows are in the sample.
    """
    pmf = [math.comb(m1, i) * p ** i * (1 - p) ** (m1 - i) for i in range(m1 + 1)]
    tail = 1.0
    for t in range(1, m1 + 1):
        tail -= pmf[t - 1]
        if tail < SHORT_P:
            return t
    return m1


def operands(xs: np.ndarray, sq: np.ndarray):
    """``A = [x, hi, lo, 1, 1]`` and ``B = [-2x, 1, 1, hi, lo]``: ``A_i·B_j`` ≈ d²(i, j).

    The squared norms are split into a high and a low float32 part, so that they keep ~48 bits
    and the rounding of ``|x|²`` does not enter the bound. K = d + 4 (no padding: the fp32
    kernels take any K).
    """
    n, d = xs.shape
    hi = sq.astype(np.float32)
    lo = (sq - hi.astype(np.float64)).astype(np.float32)
    A = np.empty((n, d + 4), np.float32)
    B = np.empty((n, d + 4), np.float32)
    A[:, :d] = xs
    A[:, d], A[:, d + 1], A[:, d + 2:] = hi, lo, 1.0
    np.multiply(xs, -2.0, out=B[:, :d])
    B[:, d:d + 2] = 1.0
    B[:, d + 2], B[:, d + 3] = hi, lo
    return A, B


def candidates(xs: np.ndarray, sq: np.ndarray, m: int, threads: int, seed: int = 0):
    """The ``m + 1`` smallest approximate d² of each row (self excluded) and a floor.

    Parameters
    ----------
    xs : ndarray (n, d) float32
        Centred, scaled data.
    sq : ndarray (n,) float64
        Squared norms of ``xs`` rows, exact in float64.
    m : int
        Candidates wanted per row, plus one (the smallest value left out).
    threads : int
        Worker threads (each runs a single-threaded product).

    Returns
    -------
    av : ndarray (n, m + 1) float64
        Ascending approximate d²; where fewer than m + 1 entries were found, padded with the
        row's threshold ``r_i`` (every entry not found is at least that).
    ai : ndarray (n, m + 1) int64
        Their columns (-1 in padded slots).
    count : ndarray (n,) int64
        Entries found per row (may exceed m + 1; only the m + 1 smallest are returned).
    """
    import torch

    n = xs.shape[0]
    b = min(BLOCK, n)
    perm = np.random.default_rng(seed).permutation(n)
    t = min(_sample_rank(m + 1, (b - 1) / max(1, n - 1)), b - 1)
    # Pass 1 blocks of the shuffled rows; a short last block joins the one before it.
    cuts = list(range(0, n, b)) + [n]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < b:
        del cuts[-2]

    def diag(lo, hi):  # threshold of each row from its own (random) block
        A, B = operands(xs[perm[lo:hi]], sq[perm[lo:hi]])
        D = (torch.from_numpy(A) @ torch.from_numpy(B).T).numpy()
        np.fill_diagonal(D, np.inf)
        return lo, np.partition(D, t - 1, axis=1)[:, t - 1]

    r = np.empty(n, np.float64)
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # one product per worker thread: no nested parallelism
    try:
        with ThreadPoolExecutor(threads) as ex:
            for lo, v in ex.map(diag, cuts[:-1], cuts[1:]):
                r[perm[lo:lo + len(v)]] = v
        # Pass 2 in the order of r: then the largest r of a block is close to each of its rows.
        order = np.argsort(r, kind="stable")
        ro = r[order].astype(np.float32)
        Ao, Bo = (torch.from_numpy(v) for v in operands(xs[order], sq[order]))
        starts = list(range(0, n, b))
        pairs = [(I, J) for I in starts for J in starts if J >= I]
        # Interleaved, so that every thread gets long and short block rows alike.
        chunks = [pairs[w::threads] for w in range(threads)]

        def work(chunk):
            Q, C, V = [], [], []
            # Own output buffers: a fresh 4 MiB result per product costs page faults
            # (measured here: 7.7 vs 5.1 ms for one 1024 x 1024 x 260 product).
            buf = torch.empty((b, b))
            mask = np.empty((b, b), bool)
            for I, J in chunk:
                bi, bj = min(b, n - I), min(b, n - J)
                if bi == b and bj == b:
                    torch.mm(Ao[I:I + b], Bo[J:J + b].T, out=buf)
                    D, M = buf.numpy(), mask
                else:
                    D = (Ao[I:I + bi] @ Bo[J:J + bj].T).numpy()
                    M = np.empty(D.shape, bool)
                thr = ro[J + bj - 1]  # the largest r of both blocks (J >= I)
                np.less(D, thr, out=M)
                hit = np.flatnonzero(M)
                i, j = np.divmod(hit, bj)
                v = D.reshape(-1)[hit]
                i += I
                j += J
                keep = v < ro[i]
                if I == J:
                    keep &= i != j
                Q.append(i[keep]), C.append(j[keep]), V.append(v[keep])
                if I != J:
                    keep = v < ro[j]
                    Q.append(j[keep]), C.append(i[keep]), V.append(v[keep])
            return Q, C, V

        Q, C, V = [], [], []
        with ThreadPoolExecutor(threads) as ex:
            for q, c, v in ex.map(work, chunks):
                Q += q
                C += c
                V += v
    finally:
        torch.set_num_threads(old)
    Q = np.concatenate(Q) if Q else np.zeros(0, np.int64)
    C = np.concatenate(C) if C else np.zeros(0, np.int64)
    V = np.concatenate(V) if V else np.zeros(0, np.float32)
    # Group by query, ascending value: one argsort of a 64-bit key (query, then the float32
    # value's bits made order-preserving as unsigned); lexsort was 10x slower (measured here).
    bits = V.view(np.uint32)
    bits = np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000))
    key = np.argsort((Q.astype(np.uint64) << np.uint64(32)) | bits.astype(np.uint64))
    Q, C, V = Q[key], C[key], V[key].astype(np.float64)
    count = np.bincount(Q, minlength=n)
    pos = np.arange(len(Q)) - (np.cumsum(count) - count)[Q]
    sel = pos <= m
    av = np.repeat(ro.astype(np.float64)[:, None], m + 1, axis=1)
    ai = np.full((n, m + 1), -1, np.int64)
    av[Q[sel], pos[sel]] = V[sel]
    ai[Q[sel], pos[sel]] = C[sel]
    # Back to the caller's row numbers.
    out_v = np.empty_like(av)
    out_i = np.empty_like(ai)
    out_v[order] = av
    valid = ai >= 0
    ai[valid] = order[ai[valid]]
    out_i[order] = ai
    out_c = np.empty_like(count)
    out_c[order] = count
    return out_v, out_i, out_c


def faiss_candidates(xs: np.ndarray, m: int, threads: int):
    """The same contract as :func:`candidates`, from faiss ``IndexFlatL2`` (m + 2 searched,
    the row itself dropped). faiss forms ``|x|² + |y|² - 2x·y`` in float32 itself."""
    import faiss

    n, d = xs.shape
    faiss.omp_set_num_threads(threads)
    index = faiss.IndexFlatL2(d)
    index.add(xs)
    want = min(m + 2, n)
    Dv, Iv = index.search(xs, want)
    self_hit = Iv == np.arange(n)[:, None]
    # Drop the row itself where it was found, else the last column.
    drop = np.where(self_hit.any(axis=1), self_hit.argmax(axis=1), want - 1)
    keep = np.ones_like(self_hit)
    keep[np.arange(n), drop] = False
    av = Dv[keep].reshape(n, want - 1).astype(np.float64)
    ai = Iv[keep].reshape(n, want - 1).astype(np.int64)
    if want - 1 < m + 1:  # every other row returned: nothing is left out
        pad = m + 1 - (want - 1)
        av = np.concatenate([av, np.full((n, pad), np.inf)], 1)
        ai = np.concatenate([ai, np.full((n, pad), -1)], 1)
    return av, ai, np.full(n, want - 1, np.int64)


def certify(ctx, engine: str, threads: int):
    """Whole-matrix candidates of ``engine``, exact re-rank and certificate for every row.

    ``ctx.u`` must hold float32's unit round-off (the product's operands are float32).
    Returns (d² (n, k) float64, idx (n, k), ok (n,) bool): rows not ``ok`` go to the caller's
    next tier. The certificate is the chunked engines' (:meth:`embdim.knn._Context.chunk`):
    the exact k-th d² must lie below the smallest approximate value not re-ranked minus the
    error bound of the float32 product.
    """
    import torch

    k, m = ctx.k, ctx.m
    xs = ctx.xs.numpy()
    sq = ctx.sq.numpy()
    if engine == "faiss-fp32":
        av, ai, cnt = faiss_candidates(xs, m, threads)
        # faiss rounds |x|² and |y|² to float32 itself: count them in the output magnitude.
        mag = sq + sq.max() + np.abs(av[:, m])
    else:
        av, ai, cnt = candidates(xs, sq, m, threads)
        mag = np.maximum(np.abs(av[:, 0]), np.abs(av[:, m]))
    rows = torch.arange(ctx.n)
    bound = ctx._bound(rows, torch.from_numpy(mag)).numpy()
    p = (av[:, :m] <= (av[:, k - 1] + 2 * bound)[:, None]).sum(axis=1)
    p = np.minimum(np.maximum(p, k), np.minimum(cnt, m))
    enough = cnt >= k
    p[~enough] = np.minimum(cnt[~enough], m).clip(min=1)  # a lone row (n = 1) has cnt 0: p = 1
    cand = np.where(ai[:, :m] >= 0, ai[:, :m], 0)
    D, ii = ctx._exact(rows, torch.from_numpy(cand), torch.from_numpy(p))
    a_next = av[np.arange(ctx.n), p]
    ok = enough & (D[:, -1].numpy() / ctx.scale ** 2 <= a_next - bound)
    return D, ii, torch.from_numpy(ok)
