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


def dedup_rows(X: np.ndarray, return_inverse: bool = False):
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
    unique_of : ndarray (n,) int64, only with ``return_inverse``
        For every row of ``X``, the index in ``unique`` of the row equal to it
        (``unique[unique_of] == X``).
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
        ident = np.arange(n, dtype=np.int64)
        return (X, ident, ident.copy()) if return_inverse else (X, ident)
    a, b = order[:-1][same], order[1:][same]
    if (X[a] == X[b]).all():  # every equal-hash neighbour pair is an equal row (-0.0 == 0.0)
        dup = np.zeros(n, dtype=bool)
        dup[b] = True
        first = np.flatnonzero(~dup).astype(np.int64)
        # runs of equal hashes are runs of equal rows; each run's first entry is its lowest row
        run = np.cumsum(np.concatenate([[True], ~same])) - 1
        rep = np.empty(n, dtype=np.int64)
        rep[order] = order[np.flatnonzero(np.concatenate([[True], ~same]))][run]
    else:  # a genuine hash collision: sort the rows themselves
        Z = X + X.dtype.type(0)
        rows = Z.view(np.dtype((np.void, Z.dtype.itemsize * Z.shape[1]))).ravel()
        _, index, inverse = np.unique(rows, return_index=True, return_inverse=True)
        first = np.sort(index).astype(np.int64)
        rep = index[inverse.ravel()].astype(np.int64)
    if not return_inverse:
        return X[first], first
    return X[first], first, np.searchsorted(first, rep).astype(np.int64)


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
    knn_engine: str = ""
    id_harmonic: float | None = None
    id_mean: float | None = None
    id_median: float | None = None
    normalization: str | None = None
    aggregate: str | None = None
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
                       id_median=_clean(self.id_median), normalization=self.normalization,
                       aggregate=self.aggregate)
        else:
            out.update(discard_fraction=self.discard_fraction, n_fit=self.n_fit)
        out.update(device=self.device, precision=self.precision, knn_engine=self.knn_engine,
                   knn_tiers=dict(self.knn_tiers))
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


# -- estimator classes (scikit-dimension style) ---------------------------------------------------
# Two-sided percentile interval of the bootstrap (Efron & Tibshirani 1993, ch. 13): 95 %.
CONFIDENCE = 0.95


def percentile_interval(replicates: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """(low, high) percentiles of the bootstrap replicates at ``(1 ± confidence) / 2``."""
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return float(low), float(high)


def is_knn_result(X) -> bool:
    """True for a precomputed kNN (:class:`embdim.knn.KNNResult` or a ``(dist, idx)`` pair)."""
    return (hasattr(X, "dist") and hasattr(X, "idx")) or (
        isinstance(X, tuple) and len(X) == 2 and all(isinstance(a, np.ndarray) for a in X))


class GlobalEstimator:
    """Base of :class:`~embdim.estimators.MLE` and :class:`~embdim.estimators.TwoNN`.

    ``__init__`` of a subclass only stores its parameters; :meth:`fit` takes either the data
    ``X`` (input hygiene, duplicate rows removed, exact kNN) or a precomputed kNN of
    *deduplicated* rows (a :class:`~embdim.knn.KNNResult` or ``(dist, idx)``; extra columns
    beyond the estimator's k are ignored, so one kNN at the largest k serves every estimator)
    and returns ``self``.

    Attributes set by ``fit``
    -------------------------
    dimension_ : float
        The global ID.
    dimension_pw_ : ndarray (n_unique,)
        Per-point values (MLE: local IDs; TwoNN: the ratios μ = r2/r1), one per distinct row.
    ci_ : tuple (low, high) or None
        95 % percentile bootstrap interval (``None`` when ``bootstrap=0``).
    se_ : float or None
        Standard deviation of the bootstrap replicates.
    bootstrap_ : ndarray (bootstrap,)
        The replicates themselves.
    row_index_ : ndarray (n_unique,) int64
        Row of the fitted input behind each entry of ``dimension_pw_`` (``fit(X)``: the first
        occurrence in ``X``; ``fit(knn)``: ``0 .. n - 1``).
    n_, n_unique_, ed_ : int
        Rows, distinct rows and columns of the input (``ed_`` is ``None`` for ``fit(knn)``).
    device_, tiers_, engine_ : str, dict, str
        Where and how the kNN ran (``None`` for a ``(dist, idx)`` pair).
    """

    k: int
    seed: int
    bootstrap: int
    device: str
    precision: str

    def _set_fit_params(self, bootstrap: int, seed: int, device: str, precision: str | None,
                        engine: str | None) -> None:
        """Store the parameters every estimator shares (bootstrap and kNN), as given."""
        self.bootstrap = bootstrap
        self.seed = seed
        self.device = device
        self.precision = precision
        self.engine = engine

    def _k_needed(self) -> int:
        raise NotImplementedError

    def _fit_dist(self, dist: np.ndarray) -> None:
        """Set ``dimension_``, ``dimension_pw_`` and estimator-specific results from distances."""
        raise NotImplementedError

    def _replicate(self, sample: np.ndarray) -> float:
        """The global value recomputed on the per-point values at positions ``sample``."""
        raise NotImplementedError

    def _check_params(self) -> None:
        b = self.bootstrap
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 0:
            raise InputError(f"bootstrap must be an integer >= 0, got {b!r}")

    def fit(self, X, y=None, *, progress=None) -> "GlobalEstimator":
        """Fit on data ``X`` (n, d) or on a precomputed kNN of distinct rows; returns ``self``.

        Raises
        ------
        InputError
            Bad parameters, non-finite or non-2-D data, fewer than k + 1 distinct rows, a kNN
            with fewer than k columns or a zero nearest-neighbour distance.
        """
        self._check_params()
        k = self._k_needed()
        self.device_ = self.tiers_ = self.engine_ = None
        if is_knn_result(X):
            dist = X.dist if hasattr(X, "dist") else X[0]
            dist = np.asarray(dist, dtype=np.float64)
            if dist.ndim != 2 or dist.shape[1] < k:
                raise InputError(f"kNN has {dist.shape[-1] if dist.ndim else 0} neighbours per row, "
                                 f"the estimator needs k={k}")
            self.n_ = self.n_unique_ = int(dist.shape[0])
            self.ed_ = None
            self.row_index_ = np.arange(dist.shape[0], dtype=np.int64)
            if hasattr(X, "dist"):
                self.device_, self.tiers_ = X.device, dict(X.tiers)
                self.engine_ = getattr(X, "engine", None)
        else:
            from ..knn import knn
            X = as_float_matrix(X)
            Xu, first = dedup_rows(X)
            self.n_, self.ed_ = (int(s) for s in X.shape)
            self.n_unique_ = len(Xu)
            self.row_index_ = first
            if self.n_unique_ < k + 1:
                raise InputError(f"{type(self).__name__} with k={k} needs at least {k + 1} unique "
                                 f"rows, got {self.n_unique_} (of {self.n_})")
            nn = knn(Xu, k, device=self.device, precision=self.precision,
                     engine=getattr(self, "engine", None), progress=progress)
            dist = nn.dist
            self.device_, self.tiers_, self.engine_ = nn.device, dict(nn.tiers), getattr(nn, "engine", None)
        self._fit_dist(dist[:, :k])
        self._bootstrap()
        return self

    def _bootstrap(self) -> None:
        """Percentile bootstrap over the distinct rows, the kNN graph kept fixed: draw n of the
        per-point values with replacement, ``bootstrap`` times (``default_rng(seed)``), and
        recompute the global value from each draw."""
        self.ci_ = self.se_ = None
        self.bootstrap_ = np.empty(0)
        if not self.bootstrap:
            return
        rng = np.random.default_rng(self.seed)
        n = len(self.dimension_pw_)
        reps = np.array([self._replicate(rng.integers(0, n, size=n)) for _ in range(self.bootstrap)])
        self.bootstrap_ = reps
        if np.all(np.isfinite(reps)):
            self.ci_ = percentile_interval(reps)
            self.se_ = float(np.std(reps, ddof=1)) if len(reps) > 1 else None

    def get_params(self) -> dict:
        """Constructor parameters, as scikit-learn's ``BaseEstimator.get_params``."""
        import inspect
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {p: getattr(self, p) for p in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
