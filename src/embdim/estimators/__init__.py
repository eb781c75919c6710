# SPDX-License-Identifier: MIT
"""Intrinsic-dimension estimators on exact kNN: MLE (Levina–Bickel) and TwoNN (Facco et al.).

``estimate`` is the one entry point: input hygiene (up-cast, NaN/inf check, duplicate rows
removed), exact kNN (:mod:`embdim.knn`), then the estimator.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import InputError
from ._base import (EstimateResult, as_float_matrix, as_float_tensor, dedup_rows,
                    dedup_rows_torch)
from ._mle import mle_global, mle_pointwise
from ._twonn import DISCARD_FRACTION, twonn

__all__ = ["ESTIMATORS", "EstimateResult", "as_float_matrix", "dedup_rows", "estimate",
           "mle_global", "mle_pointwise", "twonn"]

ESTIMATORS = ("mle", "twonn")


def estimate(X, estimator: str = "mle", k: int = 10, device: str = "auto",
             return_pointwise: bool = False, *, precision: str = "bf16",
             progress: Callable[[int, int], None] | None = None) -> EstimateResult:
    """Intrinsic dimension of the rows of ``X``.

    Parameters
    ----------
    X : array-like or torch.Tensor (n, d)
        Float matrix; fp16/bf16 are up-cast to float32, integers to float64. A CUDA tensor
        stays on the GPU (unless ``device="cpu"``).
    estimator : {"mle", "twonn"}
        ``mle``: Levina–Bickel on k neighbours, global value = harmonic mean (valid k >= 2).
        ``twonn``: Facco et al. 2017 on 2 neighbours (``k`` is ignored and reported as 2).
    k : int
        Neighbours for MLE (default 10).
    device : {"auto", "cpu", "cuda"}
    return_pointwise : bool
        Keep per-point values in ``result.pointwise`` (MLE: local IDs; TwoNN: ratios μ),
        indexed like the unique rows.
    precision : {"bf16", "fp32", "fp64"}
        First tier of the kNN candidate search; the answer is exact either way.
    progress : callable(done, total), optional

    Returns
    -------
    EstimateResult

    Raises
    ------
    InputError
        Unknown estimator, bad k, not 2-D, NaN/inf, fewer than k+1 unique rows, no CUDA.
    """
    from ..knn import knn

    if estimator not in ESTIMATORS:
        raise InputError(f"unknown estimator {estimator!r} (expected one of {', '.join(ESTIMATORS)})")
    if estimator == "twonn":
        k = 2
    elif isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise InputError(f"MLE needs an integer k >= 2, got {k!r}")
    k = int(k)
    if hasattr(X, "is_cuda") and X.is_cuda and device != "cpu":
        # A tensor already on the GPU stays there: hygiene and dedup run on the device.
        X = as_float_tensor(X)
        Xu, _ = dedup_rows_torch(X)
    else:
        X = as_float_matrix(X)
        Xu, _ = dedup_rows(X)
    n, ed = X.shape
    n_unique = len(Xu)
    if n_unique < k + 1:
        raise InputError(f"{estimator} with k={k} needs at least {k + 1} unique rows, "
                         f"got {n_unique} (of {n})")
    nn = knn(Xu, k, device=device, precision=precision, progress=progress)
    if estimator == "mle":
        r = mle_global(nn.dist)
        extra = dict(id_harmonic=r["id_harmonic"], id_mean=r["id_mean"], id_median=r["id_median"])
    else:
        r = twonn(nn.dist[:, 0], nn.dist[:, 1], DISCARD_FRACTION)
        extra = dict(discard_fraction=r["discard_fraction"], n_fit=r["n_fit"])
    return EstimateResult(estimator=estimator, k=k, id=float(r["id"]), ed=int(ed), n=int(n),
                          n_unique=int(n_unique), device=nn.device, precision=precision,
                          knn_tiers=nn.tiers, pointwise=r["pointwise"] if return_pointwise else None,
                          **extra)
