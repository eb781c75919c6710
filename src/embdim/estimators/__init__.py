# SPDX-License-Identifier: MIT
"""Intrinsic-dimension estimators on exact kNN: MLE (Levina–Bickel) and TwoNN (Facco et al.).

Classes in the scikit-dimension style (:class:`MLE`, :class:`TwoNN`: ``__init__`` stores
parameters, ``fit(X)`` or ``fit(knn_result)`` returns ``self``, results in ``dimension_``,
``dimension_pw_``, ``ci_``, ``row_index_``), :data:`REGISTRY` (the one list of estimator names:
config, CLI and workflow all read it) and :func:`estimate`, the one-call wrapper: input hygiene
(up-cast, NaN/inf check, duplicate rows removed), exact kNN (:mod:`embdim.knn`), the estimator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InputError
from ._base import (CONFIDENCE, EstimateResult, GlobalEstimator, as_float_matrix, as_float_tensor,
                    dedup_rows, dedup_rows_torch, percentile_interval)
from ._mle import AGGREGATES, MLE, NORMALIZATIONS, aggregate_lid, mle_global, mle_pointwise
from ._twonn import DISCARD_FRACTION, TwoNN, twonn, twonn_fit

__all__ = ["AGGREGATES", "CONFIDENCE", "DEFAULT_SPECS", "ESTIMATORS", "EstimateResult",
           "EstimatorSpec", "FIXED_K", "GlobalEstimator", "MLE", "NORMALIZATIONS", "REGISTRY",
           "TwoNN", "aggregate_lid", "as_float_matrix", "dedup_rows", "estimate", "mle_global",
           "mle_pointwise", "parse_spec", "percentile_interval", "resolve_k", "twonn", "twonn_fit"]

# The estimators, by the name used everywhere (config `estimators[].name`, `--estimator`,
# result file names, summary.tsv's `estimator` column).
REGISTRY: dict[str, type[GlobalEstimator]] = {"mle": MLE, "twonn": TwoNN}
ESTIMATORS = tuple(REGISTRY)
# Estimators whose neighbour count is fixed by the method: TwoNN (Facco et al. 2017) uses 2.
FIXED_K = {"twonn": 2}
# What `embdim measure` runs by default: the paper sweep's three.
DEFAULT_SPECS = ("mle:10", "mle:5", "twonn")


def resolve_k(name: str, k: int | None) -> int:
    """The k an estimator runs with: its fixed k (TwoNN: 2, any given k ignored) or ``k``.

    Raises
    ------
    InputError
        Unknown name, or an estimator that needs k without one.
    """
    if name not in REGISTRY:
        raise InputError(f"unknown estimator {name!r} (expected one of {', '.join(ESTIMATORS)})")
    if name in FIXED_K:
        return FIXED_K[name]
    if k is None:
        raise InputError(f"{name} needs k (e.g. {name}:10)")
    return int(k)


@dataclass(frozen=True)
class EstimatorSpec:
    """One estimator to run: name, k and (MLE) convention; ``None`` where it does not apply."""

    name: str
    k: int
    normalization: str | None = None
    aggregate: str | None = None

    @property
    def label(self) -> str:
        """``mle:10`` / ``twonn`` (the short ``--estimator`` form)."""
        return self.name if self.name in FIXED_K else f"{self.name}:{self.k}"

    @property
    def full(self) -> str:
        """``mle:10:k-1:harmonic`` / ``twonn``: the ``--estimator`` form with the convention."""
        if self.name != "mle":
            return self.label
        return f"{self.label}:{self.normalization}:{self.aggregate}"

    def make(self, **kwargs) -> GlobalEstimator:
        """An unfitted estimator with this spec's parameters (``bootstrap``, ``seed`` ... added)."""
        if self.name == "mle":
            return MLE(k=self.k, normalization=self.normalization, aggregate=self.aggregate, **kwargs)
        return REGISTRY[self.name](**kwargs)


def parse_spec(text: str, normalization: str | None = "k-1",
               aggregate: str | None = "harmonic") -> EstimatorSpec:
    """``"mle:10"``, ``"mle:5:k-2:mean"``, ``"twonn"`` (``"twonn:2"``) -> :class:`EstimatorSpec`.

    The form is ``NAME[:K[:NORMALIZATION[:AGGREGATE]]]``; an MLE convention not given in the
    text is ``normalization`` / ``aggregate``. TwoNN carries ``None`` for both.

    Raises
    ------
    InputError
        Not of that form, unknown name, TwoNN with k other than 2, bad MLE k or convention.
    """
    parts = str(text).strip().split(":")
    name = parts[0]
    if not name or len(parts) > 4 or (len(parts) > 1 and not parts[1].isdigit()):
        raise InputError(f"--estimator: expected NAME[:K[:NORMALIZATION[:AGGREGATE]]] "
                         f"(e.g. mle:10, mle:10:k-2:mean, twonn), got {text!r}")
    k = int(parts[1]) if len(parts) > 1 else None
    if name in FIXED_K and k not in (None, FIXED_K[name]):
        raise InputError(f"--estimator {text}: {name} always uses k={FIXED_K[name]}")
    k = resolve_k(name, k)
    if name != "mle":
        if len(parts) > 2:
            raise InputError(f"--estimator {text}: {name} has no normalization or aggregate")
        return EstimatorSpec(name, k)
    from ._mle import check_convention
    norm = parts[2] if len(parts) > 2 else (normalization or "k-1")
    agg = parts[3] if len(parts) > 3 else (aggregate or "harmonic")
    check_convention(k, norm, agg)
    return EstimatorSpec(name, k, norm, agg)


def estimate(X, estimator: str = "mle", k: int = 10, device: str = "auto",
             return_pointwise: bool = False, *, precision: str | None = None,
             engine: str | None = None,
             normalization: str = "k-1", aggregate: str = "harmonic",
             progress: Callable[[int, int], None] | None = None) -> EstimateResult:
    """Intrinsic dimension of the rows of ``X`` (a thin wrapper around :class:`MLE` / :class:`TwoNN`).

    Parameters
    ----------
    X : array-like or torch.Tensor (n, d)
        Float matrix; fp16/bf16 are up-cast to float32, integers to float64. A CUDA tensor
        stays on the GPU (unless ``device="cpu"``).
    estimator : {"mle", "twonn"}
        ``mle``: Levina–Bickel on k neighbours (valid k >= 2).
        ``twonn``: Facco et al. 2017 on 2 neighbours (``k`` is ignored and reported as 2).
    k : int
        Neighbours for MLE (default 10).
    device : {"auto", "cpu", "cuda"}
    return_pointwise : bool
        Keep per-point values in ``result.pointwise`` (MLE: local IDs; TwoNN: ratios μ),
        indexed like the unique rows.
    precision : {"bf16", "fp32", "fp64"}, optional
        First tier of the kNN candidate search; the answer is exact either way.
    engine : str, optional
        kNN candidate engine (:data:`embdim.knn.ENGINES`); default ``auto``: by device and
        CPU (:func:`embdim.knn.choose_engine`). Reported as ``knn_engine``.
    normalization : {"k-1", "k-2", "k"}
        MLE numerator (default Levina–Bickel's k-1); see :class:`MLE`.
    aggregate : {"harmonic", "mean", "median"}
        MLE global value reported as ``id`` (default harmonic, MacKay & Ghahramani).
    progress : callable(done, total), optional

    Returns
    -------
    EstimateResult

    Raises
    ------
    InputError
        Unknown estimator, bad k or convention, not 2-D, NaN/inf, fewer than k+1 unique rows,
        no CUDA.
    """
    from ..knn import knn

    if estimator not in REGISTRY:
        raise InputError(f"unknown estimator {estimator!r} (expected one of {', '.join(ESTIMATORS)})")
    if estimator == "mle":
        est = MLE(k=k, normalization=normalization, aggregate=aggregate)
    else:
        est = REGISTRY[estimator]()
    k = est._k_needed()  # checks k and the convention before any work
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
    nn = knn(Xu, k, device=device, precision=precision, engine=engine, progress=progress)
    est.fit(nn)
    if estimator == "mle":
        extra = dict(id_harmonic=est.id_harmonic_, id_mean=est.id_mean_, id_median=est.id_median_,
                     normalization=normalization, aggregate=aggregate)
    else:
        extra = dict(discard_fraction=est.discard_fraction, n_fit=est.n_fit_)
    return EstimateResult(estimator=estimator, k=k, id=float(est.dimension_), ed=int(ed), n=int(n),
                          n_unique=int(n_unique), device=nn.device,
                          precision=precision or "auto", knn_tiers=nn.tiers, knn_engine=nn.engine,
                          pointwise=est.dimension_pw_ if return_pointwise else None, **extra)
