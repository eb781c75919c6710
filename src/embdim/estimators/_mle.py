# SPDX-License-Identifier: MIT
"""Levina–Bickel maximum-likelihood intrinsic dimension, with its conventions made explicit."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._base import GlobalEstimator

# Numerator of the local estimate LID = c / S, S = Σ_{j=1}^{k-1} ln(T_k / T_j):
#   "k-1": Levina & Bickel (2004), NIPS 17, eq. (8) (the default);
#   "k-2": the bias-corrected form (Levina & Bickel, same paper, the unbiased variant; widely
#          copied, e.g. in the "(k-2)" MLE of several ID packages);
#   "k"  : averaging ln(T_k/T_j) over all k neighbours, the zero k-th term included.
NORMALIZATIONS = {"k-1": lambda k: k - 1, "k-2": lambda k: k - 2, "k": lambda k: k}
# Global value from the local ones: harmonic = n / Σ 1/LID_i (MacKay & Ghahramani 2005,
# "Comments on 'Maximum likelihood estimation of intrinsic dimension'"), arithmetic mean, median.
AGGREGATES = ("harmonic", "mean", "median")


def check_convention(k: int, normalization: str = "k-1", aggregate: str = "harmonic") -> None:
    """Raise :class:`InputError` for an unknown normalization/aggregate or a k it cannot use.

    ``k-2`` needs ``k >= 3`` (its numerator is 0 at k = 2); the others ``k >= 2``.
    """
    if normalization not in NORMALIZATIONS:
        raise InputError(f"unknown MLE normalization {normalization!r} "
                         f"(expected one of {', '.join(NORMALIZATIONS)})")
    if aggregate not in AGGREGATES:
        raise InputError(f"unknown MLE aggregate {aggregate!r} (expected one of {', '.join(AGGREGATES)})")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise InputError(f"MLE needs an integer k >= 2, got {k!r}")
    if NORMALIZATIONS[normalization](int(k)) < 1:
        raise InputError(f"MLE normalization {normalization!r} needs k >= 3, got k={k}")


def mle_pointwise(dist: np.ndarray, normalization: str = "k-1") -> tuple[np.ndarray, np.ndarray]:
    """Local MLE of the intrinsic dimension from sorted neighbour distances.

    Levina & Bickel (2004), "Maximum likelihood estimation of intrinsic dimension", NIPS 17:
    ``LID(x) = c / Σ_{j=1}^{k-1} ln(T_k(x) / T_j(x))`` with ``T_j`` the distance to the j-th
    nearest neighbour, the point itself excluded, and ``c = k-1`` (default), ``k-2`` or ``k``
    (see :data:`NORMALIZATIONS`). Valid for ``k >= 2`` (``k >= 3`` for ``k-2``).

    Parameters
    ----------
    dist : ndarray (n, k)
        Ascending, strictly positive distances (duplicates removed beforehand).
    normalization : {"k-1", "k-2", "k"}

    Returns
    -------
    lid : ndarray (n,)
        Local estimates (``inf`` where all k distances are equal).
    inv : ndarray (n,)
        ``1 / lid`` (finite), the quantity the harmonic mean averages.

    Raises
    ------
    InputError
        ``k < 2``, an unknown normalization, or a zero distance (a duplicate row reached the
        estimator).
    """
    n, k = dist.shape
    if k < 2:
        raise InputError(f"MLE needs k >= 2 neighbours, got k={k}")
    check_convention(k, normalization)
    if not np.all(dist[:, 0] > 0):
        raise InputError("zero nearest-neighbour distance: remove duplicate rows first")
    logs = np.log(dist[:, -1:]) - np.log(dist[:, :-1])  # ln(T_k / T_j), j < k
    inv = logs.sum(axis=1) / NORMALIZATIONS[normalization](k)
    with np.errstate(divide="ignore"):
        lid = 1.0 / inv
    return lid, inv


def aggregate_lid(lid: np.ndarray, inv: np.ndarray, how: str = "harmonic") -> float:
    """Global ID from local estimates: ``harmonic`` (1 / mean of ``inv``), ``mean`` or ``median``."""
    if how == "harmonic":
        mean_inv = float(inv.mean())
        return 1.0 / mean_inv if mean_inv > 0 else float("inf")
    if how == "mean":
        return float(np.mean(lid))
    if how == "median":
        return float(np.median(lid))
    raise InputError(f"unknown MLE aggregate {how!r} (expected one of {', '.join(AGGREGATES)})")


def mle_global(dist: np.ndarray, normalization: str = "k-1", aggregate: str = "harmonic") -> dict:
    """Global MLE: ``id`` under ``aggregate`` (default the harmonic mean, MacKay & Ghahramani
    2005), plus the harmonic mean, arithmetic mean and median of the local estimates."""
    lid, inv = mle_pointwise(dist, normalization)
    out = {"id_harmonic": aggregate_lid(lid, inv, "harmonic"), "id_mean": aggregate_lid(lid, inv, "mean"),
           "id_median": aggregate_lid(lid, inv, "median"), "pointwise": lid, "inverse": inv}
    out["id"] = out[f"id_{aggregate}"]
    return out


class MLE(GlobalEstimator):
    """Levina–Bickel maximum-likelihood intrinsic dimension on exact k nearest neighbours.

    Levina & Bickel (2004), "Maximum likelihood estimation of intrinsic dimension", NIPS 17
    (https://papers.nips.cc/paper/2577). Local estimate ``LID_i = c / S_i`` with
    ``S_i = Σ_{j=1}^{k-1} ln(T_k(x_i) / T_j(x_i))`` and ``c = k-1``, ``k-2`` or ``k``
    (``normalization``); global value by ``aggregate``: ``harmonic`` = n / Σ 1/LID_i (MacKay &
    Ghahramani 2005), ``mean`` or ``median``. Valid k: 2 ... n_unique - 1 (3 ... for ``k-2``).

    Parameters
    ----------
    k : int
        Neighbours (default 10).
    normalization : {"k-1", "k-2", "k"}
    aggregate : {"harmonic", "mean", "median"}
    bootstrap : int
        Percentile-bootstrap replicates over the distinct rows (0 = none): the local estimates
        are resampled and aggregated again, the kNN graph kept fixed.
    seed : int
        Seed of the bootstrap draws (``numpy.random.default_rng``).
    device, precision, engine : str
        kNN device, first precision tier and candidate engine (:func:`embdim.knn.knn`), used by
        ``fit(X)`` only.

    Attributes
    ----------
    dimension_, dimension_pw_, ci_, se_, bootstrap_, row_index_ : see :class:`GlobalEstimator`
    id_harmonic_, id_mean_, id_median_ : float
        The three aggregates of the same local estimates.
    """

    def __init__(self, k: int = 10, normalization: str = "k-1", aggregate: str = "harmonic",
                 bootstrap: int = 0, seed: int = 0, device: str = "auto", precision: str | None = None,
                 engine: str | None = None):
        self.k = k
        self.normalization = normalization
        self.aggregate = aggregate
        self._set_fit_params(bootstrap, seed, device, precision, engine)

    def _k_needed(self) -> int:
        check_convention(self.k, self.normalization, self.aggregate)
        return int(self.k)

    def _fit_dist(self, dist: np.ndarray) -> None:
        r = mle_global(dist, self.normalization, self.aggregate)
        self.dimension_ = float(r["id"])
        self.dimension_pw_ = r["pointwise"]
        self._inv = r["inverse"]
        self.id_harmonic_, self.id_mean_, self.id_median_ = r["id_harmonic"], r["id_mean"], r["id_median"]

    def _replicate(self, sample: np.ndarray) -> float:
        return aggregate_lid(self.dimension_pw_[sample], self._inv[sample], self.aggregate)
