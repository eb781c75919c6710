# SPDX-License-Identifier: MIT
"""Levina–Bickel maximum-likelihood intrinsic dimension."""
from __future__ import annotations

import numpy as np

from ..errors import InputError


def mle_pointwise(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local MLE of the intrinsic dimension from sorted neighbour distances.

    Levina & Bickel (2004), "Maximum likelihood estimation of intrinsic dimension", NIPS 17:
    ``LID(x) = [ (1/(k-1)) Σ_{j=1}^{k-1} ln(T_k(x) / T_j(x)) ]^-1`` with ``T_j`` the distance to
    the j-th nearest neighbour, the point itself excluded. Valid for ``k >= 2``.

    Parameters
    ----------
    dist : ndarray (n, k)
        Ascending, strictly positive distances (duplicates removed beforehand).

    Returns
    -------
    lid : ndarray (n,)
        Local estimates (``inf`` where all k distances are equal).
    inv : ndarray (n,)
        ``1 / lid`` (finite), the quantity the harmonic mean averages.

    Raises
    ------
    InputError
        ``k < 2`` or a zero distance (a duplicate row reached the estimator).
    """
    n, k = dist.shape
    if k < 2:
        raise InputError(f"MLE needs k >= 2 neighbours, got k={k}")
    if not np.all(dist[:, 0] > 0):
        raise InputError("zero nearest-neighbour distance: remove duplicate rows first")
    logs = np.log(dist[:, -1:]) - np.log(dist[:, :-1])  # ln(T_k / T_j), j < k
    inv = logs.sum(axis=1) / (k - 1)
    with np.errstate(divide="ignore"):
        lid = 1.0 / inv
    return lid, inv


def mle_global(dist: np.ndarray) -> dict:
    """Global MLE: harmonic mean of the local estimates (MacKay & Ghahramani, 2005, "Comments on
    'Maximum likelihood estimation of intrinsic dimension'"), plus arithmetic mean and median.
    """
    lid, inv = mle_pointwise(dist)
    mean_inv = float(inv.mean())
    harmonic = 1.0 / mean_inv if mean_inv > 0 else float("inf")
    return {"id": harmonic, "id_harmonic": harmonic, "id_mean": float(np.mean(lid)),
            "id_median": float(np.median(lid)), "pointwise": lid}
