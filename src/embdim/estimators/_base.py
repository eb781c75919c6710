# SPDX-License-Identifier: MIT
"""Input hygiene shared by the estimators, and the result object they return."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

# Rows checked per pass for NaN/inf: bounds the temporary boolean array to ~64 MiB.
_CHECK_VALUES = 64 * 2 ** 20
# Columns hashed by dedup_rows (a row check follows, so this only affects speed).
_HASH_COLUMNS = 64


def as_float_matrix(X) -> np.ndarray:
    """Return ``X`` as a 2-D float32/float64 array; fp16/bf16 are up-cast exactly to float32.

    Raises
    ------
    InputError
        Not 2-D, empty, not numeric, or holding NaN/inf.
    """
    if hasattr(X, "detach"):  # a torch tensor: numpy has no bf16, widen first
        X = X.detach().cpu()
        X = X.float().numpy() if X.dtype.is_floating_point and X.element_size() < 4 else X.numpy()
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"expected a 2-D matrix, got shape {tuple(X.shape)}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(f"matrix is empty (shape {tuple(X.shape)})")
    kind, name = X.dtype.kind, X.dtype.name
    if name in ("float16", "bfloat16"):
        X = X.astype(np.float32)  # both are exact subsets of float32
    elif kind in "iub":
        X = X.astype(np.float64)
    elif name not in ("float32", "float64"):
        raise InputError(f"unsupported dtype {X.dtype} (expected a real floating-point matrix)")
    step = max(1, _CHECK_VALUES // X.shape[1])
    for s in range(0, X.shape[0], step):
        bad = ~np.isfinite(X[s:s + step]).all(axis=1)
        if bad.any():
            raise InputError(f"matrix holds NaN or inf values (first in row {s + int(np.flatnonzero(bad)[0])})")
    return X


def dedup_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove exact duplicate rows, keeping the first occurrence of each, in input order.

    Rows are compared by value (``-0.0 == 0.0``), bit-exactly otherwise. Each row is hashed
    exactly (the bit patterns of 64 of its values as unsigned integers times random 64-bit
    coefficients, summed modulo 2^64), equal hashes are checked row by row, and a collision
    between different rows falls back to sorting the rows (``np.unique(axis=0)``, several
    times slower on 50k x 2048).

    Returns
    -------
    unique : ndarray (n_unique, d)
    first : ndarray (n_unique,) int64
        Index in ``X`` of each kept row (ascending).
    """
    X = np.ascontiguousarray(X)
    n, d = X.shape
    # Equal rows are equal on any columns: hash 64 evenly spaced ones (distinct rows that
    # agree there are caught by the row check below and sorted instead).
    cols = np.unique(np.linspace(0, d - 1, min(d, _HASH_COLUMNS)).astype(np.int64))
    Z = X[:, cols] + X.dtype.type(0)  # -0.0 -> +0.0: equal values, equal bits
    bits = Z.view(np.dtype(f"u{X.dtype.itemsize}")).astype(np.uint64)
    h = (bits * _hash_coefficients(len(cols))).sum(axis=1, dtype=np.uint64)  # mod 2^64
    order = np.argsort(h, kind="stable")  # within equal hashes: ascending row index
    hs = h[order]
    same = hs[1:] == hs[:-1]
    if not same.any():
        return X, np.arange(n, dtype=np.int64)
    a, b = order[:-1][same], order[1:][same]
    if (X[a] == X[b]).all():  # every equal-hash neighbour pair is an equal row (-0.0 == 0.0)
        dup = np.zeros(n, dtype=bool)
        dup[b] = True
        first = np.flatnonzero(~dup).astype(np.int64)
    else:  # a genuine hash collision: sort the rows themselves
        Z = X + X.dtype.type(0)
        rows = Z.view(np.dtype((np.void, Z.dtype.itemsize * Z.shape[1]))).ravel()
        first = np.sort(np.unique(rows, return_index=True)[1]).astype(np.int64)
    return X[first], first


def _hash_coefficients(d: int) -> np.ndarray:
    """Fixed random odd 64-bit multipliers, one per column."""
    rng = np.random.default_rng(0x5EED)
    return rng.integers(0, 2 ** 63, size=d, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def _clean(v):
    """JSON-safe float: non-finite values become None."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass
class EstimateResult:
    """Result of :func:`embdim.estimate`; attributes mirror the ``embdim estimate --json`` keys."""

    estimator: str
    k: int
    id: float
    ed: int
    n: int
    n_unique: int
    device: str
    precision: str
    knn_tiers: dict
    id_harmonic: float | None = None
    id_mean: float | None = None
    id_median: float | None = None
    discard_fraction: float | None = None
    n_fit: int | None = None
    pointwise: np.ndarray | None = field(default=None, repr=False)

    @property
    def redundancy(self) -> float:
        """(ED - ID) / ED."""
        return (self.ed - self.id) / self.ed

    @property
    def n_duplicates(self) -> int:
        return self.n - self.n_unique

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (non-finite numbers become None; per-point values as a list)."""
        out = {"estimator": self.estimator, "k": self.k, "id": _clean(self.id), "ed": self.ed,
               "redundancy": _clean(self.redundancy), "n": self.n, "n_unique": self.n_unique,
               "n_duplicates": self.n_duplicates}
        if self.estimator == "mle":
            out.update(id_harmonic=_clean(self.id_harmonic), id_mean=_clean(self.id_mean),
                       id_median=_clean(self.id_median))
        else:
            out.update(discard_fraction=self.discard_fraction, n_fit=self.n_fit)
        out.update(device=self.device, precision=self.precision, knn_tiers=dict(self.knn_tiers))
        if self.pointwise is not None:
            out["pointwise"] = [_clean(v) for v in self.pointwise]
        return out


def as_float_tensor(T):
    """Device-side twin of :func:`as_float_matrix` for a torch tensor (kept on its device;
    fp16/bf16 stay 2 bytes wide: the kNN code reads them exactly).

    Raises
    ------
    InputError
        Not 2-D, empty, not floating point, or holding NaN/inf.
    """
    import torch

    if T.ndim != 2:
        raise InputError(f"expected a 2-D matrix, got shape {tuple(T.shape)}")
    if T.shape[0] == 0 or T.shape[1] == 0:
        raise InputError(f"matrix is empty (shape {tuple(T.shape)})")
    if not T.dtype.is_floating_point:
        T = T.to(torch.float64)
    bad = ~torch.isfinite(T).all(dim=1)
    if bool(bad.any()):
        raise InputError(f"matrix holds NaN or inf values (first in row {int(bad.nonzero()[0, 0])})")
    return T.contiguous()


def dedup_rows_torch(T):
    """:func:`dedup_rows` for a floating-point torch tensor, on its device.

    Rows are hashed exactly (their bit patterns, as integers, times random odd 64-bit
    coefficients, summed with wrap-around); equal hashes are then checked row by row. On a
    hash collision between different rows (probability ~n²/2^64) it falls back to
    ``torch.unique``.
    """
    import torch

    Z = T + 0.0  # -0.0 -> +0.0
    ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}[Z.element_size()]
    bits = Z.view(ints).to(torch.int64)
    gen = torch.Generator(device="cpu").manual_seed(0x5EED)
    coef = (torch.randint(1, 2 ** 62, (Z.shape[1],), generator=gen) | 1).to(Z.device)
    h = (bits * coef).sum(dim=1)
    del bits
    order = torch.argsort(h, stable=True)  # within equal hashes: ascending row index
    hs = h[order]
    same = hs[1:] == hs[:-1]
    if not bool(same.any()):
        return T, torch.arange(len(T), device=T.device)
    a, b = order[:-1][same], order[1:][same]
    if not bool((Z[a] == Z[b]).all()):  # a collision: let torch sort the rows themselves
        _, inv = torch.unique(Z, dim=0, return_inverse=True)
        first = torch.full((int(inv.max()) + 1,), len(T), device=T.device, dtype=torch.int64)
        first = first.scatter_reduce(0, inv, torch.arange(len(T), device=T.device), "amin")
        first = torch.sort(first).values
        return T[first], first
    dup = torch.zeros(len(T), dtype=torch.bool, device=T.device)
    dup[b] = True  # every later member of a run of equal rows
    first = torch.nonzero(~dup).flatten()
    return T[first], first
