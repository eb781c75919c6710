# SPDX-License-Identifier: MIT
"""One measurement of one matrix: every estimator from one kNN, with its convention,
bootstrap interval, scale curve (ID vs k), per-token local IDs and the geometry.

The matrix is read once, checked for NaN/inf once, deduplicated once (keeping the row -> unique
map), and one exact kNN runs at the largest k any part needs (the MLE ks, the k-curve's KMAX,
2 for TwoNN); every estimator is fitted on a slice of it (the first k columns of an exact,
ascending kNN are the exact k-NN, so each value equals a separate ``embdim estimate``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .estimators import (CONFIDENCE, DEFAULT_SPECS, MLE, EstimatorSpec, as_float_matrix,
                         dedup_rows, parse_spec)
from .estimators._base import _clean

# The k-curve's default largest k (`--k-curve`): MLE from k = 2 to 32 shows the scale
# dependence over the range kNN-ID papers use (k = 5 ... 20) and beyond.
DEFAULT_K_CURVE = 32
# Bootstrap replicates by default (`--bootstrap`): 200 gives the 2.5/97.5 % percentiles from
# ~5 replicates in each tail (Efron & Tibshirani 1993 suggest >= 1000 for percentile intervals;
# 200 keeps a 50k-row matrix's bootstrap under a second per estimator).
DEFAULT_BOOTSTRAP = 200


@dataclass
class Measurement:
    """Result of :func:`measure`: the JSON-ready ``result`` and the per-row arrays for ``lid.npz``."""

    result: dict
    arrays: dict = field(default_factory=dict)


def sample_rows(n: int, size: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of ``size`` of ``n`` rows drawn without replacement (``default_rng(seed)``),
    or ``None`` for all rows (``size`` None or >= n).

    Raises
    ------
    InputError
        ``size`` < 2.
    """
    if size is None or size >= n:
        return None
    if size < 2:
        raise InputError(f"--sample must be >= 2, got {size}")
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def k_max_needed(specs: list[EstimatorSpec], k_curve: int) -> int:
    """The one kNN's k: the largest of the estimators' k and the k-curve's KMAX."""
    return max([s.k for s in specs] + ([k_curve] if k_curve else []))


def _lid_key(spec: EstimatorSpec, specs: list[EstimatorSpec]) -> str:
    if spec.name == "twonn":
        return "twonn_mu"
    same_k = [s for s in specs if s.name == "mle" and s.k == spec.k]
    key = f"lid_k{spec.k}"
    return key if len(same_k) == 1 else f"{key}_{spec.normalization}_{spec.aggregate}"


def _estimate_entry(spec: EstimatorSpec, est, ed: int, bootstrap: int) -> dict:
    lo, hi = est.ci_ if est.ci_ is not None else (None, None)
    entry = {"estimator": spec.name, "k": spec.k, "normalization": spec.normalization,
             "aggregate": spec.aggregate, "id": _clean(est.dimension_),
             "redundancy": _clean((ed - est.dimension_) / ed),
             "id_mean": _clean(getattr(est, "id_mean_", None)),
             "id_median": _clean(getattr(est, "id_median_", None)),
             "ci_low": _clean(lo), "ci_high": _clean(hi), "se": _clean(est.se_),
             "bootstrap": int(bootstrap)}
    if spec.name == "mle":
        entry["id_harmonic"] = _clean(est.id_harmonic_)
    else:
        entry.update(discard_fraction=est.discard_fraction, n_fit=est.n_fit_)
    return entry


def measure(X, specs: list[EstimatorSpec] | None = None, *, k_curve: int = DEFAULT_K_CURVE,
            normalization: str = "k-1", aggregate: str = "harmonic",
            bootstrap: int = DEFAULT_BOOTSTRAP, sample: int | None = None, seed: int = 0,
            geometry: bool = True, device: str = "auto", precision: str | None = None,
            engine: str | None = None, progress=None, n_rows: int | None = None) -> Measurement:
    """Measure one matrix: all estimators, their bootstrap intervals, ID vs k, geometry.

    Parameters
    ----------
    X : array-like (n, d)
        The matrix (fp16/bf16 up-cast exactly).
    specs : list of EstimatorSpec
        Estimators (default ``mle:10``, ``mle:5``, ``twonn`` in ``normalization``/``aggregate``).
    k_curve : int
        Largest k of the MLE curve ``id_vs_k`` (k = 2 ... k_curve; 0 = none), computed with
        ``normalization`` and ``aggregate``.
    bootstrap : int
        Percentile-bootstrap replicates per estimator (0 = none), seeded by ``seed``.
    sample : int, optional
        Measure this many rows, drawn without replacement with ``seed`` (before deduplication).
    geometry : bool
        Also compute :func:`embdim.geometry.compute_geometry` on the same distinct rows.
    device, precision, engine : str, optional
        Passed to :func:`embdim.knn.knn` (exact with every choice).
    n_rows : int, optional
        Measure rows 0 .. n_rows-1 only (``--rows tokenizer``: the tokenizer's tokens); later
        rows are dropped before sampling and deduplication, and are NaN in ``arrays``.

    Returns
    -------
    Measurement
        ``result``: n_rows_total (rows of ``X``), n (rows measured), n_unique, ed,
        knn {k_max, engine, tiers, device}, estimates, id_vs_k,
        geometry, sample, seconds. ``arrays``: per ORIGINAL row (length = rows of ``X``) the local
        IDs ``lid_k<k>`` of every MLE, TwoNN's ``twonn_mu``, ``row`` (0 .. n-1) and ``unique_of``
        (index of the row's distinct representative among the measured distinct rows); a
        duplicate row carries its representative's values; rows left out by ``sample`` are NaN
        (``unique_of`` -1).

    Raises
    ------
    InputError
        Bad estimator, convention, k-curve or sample; NaN/inf; fewer than k_max + 1 distinct rows.
    """
    from .knn import knn

    t0 = time.perf_counter()
    specs = _check_args(specs, k_curve, normalization, aggregate, bootstrap)
    X = as_float_matrix(X)  # the one NaN/inf check
    n_total, ed = X.shape
    n_keep = n_total if n_rows is None else int(n_rows)
    if not 0 < n_keep <= n_total:
        raise InputError(f"cannot keep {n_keep} of the matrix's {n_total} rows")
    rows = sample_rows(n_keep, sample, seed)
    if rows is None and n_keep < n_total:
        rows = np.arange(n_keep)
    Xs = X if rows is None else X[rows]
    Xu, first, unique_of = dedup_rows(Xs, return_inverse=True)
    n, n_unique = len(Xs), len(Xu)
    k_max = k_max_needed(specs, k_curve)
    if n_unique < k_max + 1:
        raise InputError(f"a kNN at k={k_max} (the largest estimator k / --k-curve) needs at least "
                         f"{k_max + 1} distinct rows, got {n_unique} (of {n}); lower k or --k-curve")
    t_read = time.perf_counter()
    nn = knn(Xu, k_max, device=device, precision=precision, engine=engine, progress=progress)
    t_knn = time.perf_counter()

    estimates, arrays = [], {}
    for spec in specs:
        est = spec.make(bootstrap=bootstrap, seed=seed).fit(nn)
        estimates.append(_estimate_entry(spec, est, ed, bootstrap))
        arrays[_lid_key(spec, specs)] = _to_original_rows(est.dimension_pw_, unique_of, rows, n_total)
    t_est = time.perf_counter()
    curve_k = list(range(2 if normalization != "k-2" else 3, k_curve + 1)) if k_curve else []
    curve = [_clean(MLE(k=k, normalization=normalization, aggregate=aggregate).fit(nn).dimension_)
             for k in curve_k]  # each a slice of the one kNN
    geo = None
    if geometry:
        from .geometry import compute_geometry
        geo = compute_geometry(Xu, dedup=False).to_dict()
        geo["n"] = int(n)  # rows measured; geometry itself saw the distinct ones
    t_geo = time.perf_counter()

    full_unique_of = np.full(n_total, -1, dtype=np.int64)
    full_unique_of[slice(None) if rows is None else rows] = unique_of
    arrays.update(row=np.arange(n_total, dtype=np.int64), unique_of=full_unique_of)
    result = {
        "n_rows_total": int(n_total), "n": int(n), "n_unique": int(n_unique), "ed": int(ed),
        "knn": {"k_max": int(k_max), "engine": getattr(nn, "engine", None) or None,
                "tiers": dict(nn.tiers), "device": nn.device, "precision": precision or "auto"},
        "estimates": estimates,
        "id_vs_k": {"k": curve_k, "id": curve, "normalization": normalization,
                    "aggregate": aggregate},
        "geometry": geo,
        "sample": ({"n": int(n), "of": int(n_keep), "seed": int(seed)}
                   if sample is not None and sample < n_keep else None),
        "bootstrap": {"replicates": int(bootstrap), "confidence": CONFIDENCE, "seed": int(seed),
                      "over": "distinct rows, kNN graph fixed"},
        "seconds": {"prepare": t_read - t0, "knn": t_knn - t_read, "estimators": t_est - t_knn,
                    "k_curve_geometry": t_geo - t_est},
    }
    return Measurement(result=result, arrays=arrays)


def _check_args(specs, k_curve, normalization, aggregate, bootstrap) -> list[EstimatorSpec]:
    """The estimator list (default: :data:`DEFAULT_SPECS`), after checking every argument that
    can be checked before the matrix is read.

    Raises
    ------
    InputError
        A repeated estimator, k-curve 1 or negative, a bad curve convention, negative bootstrap.
    """
    specs = list(specs) if specs else [parse_spec(s, normalization, aggregate) for s in DEFAULT_SPECS]
    if len(set(specs)) != len(specs):
        raise InputError("the same estimator is listed twice")
    if isinstance(k_curve, bool) or not isinstance(k_curve, (int, np.integer)) or k_curve < 0 \
            or k_curve == 1:
        raise InputError(f"--k-curve must be 0 (off) or >= 2, got {k_curve!r}")
    if k_curve:
        MLE(k=2 if normalization != "k-2" else 3, normalization=normalization,
            aggregate=aggregate)._k_needed()  # checks the curve's convention early
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {bootstrap!r}")
    return specs


def _to_original_rows(values: np.ndarray, unique_of: np.ndarray, rows: np.ndarray | None,
                      n_total: int) -> np.ndarray:
    """Per-distinct-row values spread to every original row (NaN for rows not sampled)."""
    out = np.full(n_total, np.nan)
    out[slice(None) if rows is None else rows] = values[unique_of]
    return out


def write_lid(path, arrays: dict) -> None:
    """Write the per-row arrays as ``.npz`` atomically (temporary name, then rename)."""
    import io
    from pathlib import Path

    from .io import atomic_write

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, [buf.getvalue()])
