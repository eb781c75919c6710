# SPDX-License-Identifier: MIT
"""Random-Gaussian baseline: the ID our estimators report for N(0, I_D) samples of a given shape.

Set beside a model's embedding ID it separates what the data say from what the estimator does at
that sample size and ambient dimension (MLE and TwoNN both underestimate badly once D is large
relative to log n; e.g. the random row "130.3 at D=300, 100k points" that papers quote).
"""
from __future__ import annotations

import numpy as np

from .errors import InputError


def gaussian_sample(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """``n`` rows of N(0, I_dim) in float32 (the dtype the kNN search uses), reproducible by seed."""
    if n < 2 or dim < 1:
        raise InputError(f"need n >= 2 and dim >= 1, got n={n}, dim={dim}")
    return np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)


def random_baseline(n: int, dim: int, k: int = 10, estimator: str = "mle", seed: int = 0,
                    device: str = "auto", specs: list | None = None) -> dict:
    """ID of ``n`` samples from N(0, I_dim), estimated exactly as an embedding matrix would be.

    Parameters
    ----------
    n, dim : int
        Shape of the sample (rows, ambient dimension); use the model's n_unique and d_model.
    k : int
        Neighbours for MLE (ignored by TwoNN, reported as 2 then).
    estimator : {"mle", "twonn"}
    seed : int
        Seed of ``numpy.random.default_rng``; same seed, same sample, same figures.
    device : {"auto", "cpu", "cuda"}
        Passed to the kNN.
    specs : list of EstimatorSpec, optional
        Several estimators (with their MLE conventions) from one kNN of one sample, as
        ``embdim measure`` runs them; overrides ``estimator`` and ``k``.

    Returns
    -------
    dict
        n, dim, seed, version and ``estimates`` (one entry per estimator: estimator, k,
        normalization, aggregate, id, id_harmonic, id_mean, id_median, redundancy). With one
        estimator also its values at the top level: k, estimator, id, id_harmonic, id_mean,
        id_median, redundancy (``id_*`` other than ``id`` are None for TwoNN). ``id`` is the
        estimator's headline value (MLE default: the harmonic mean, MacKay & Ghahramani 2005).

    Raises
    ------
    InputError
        Bad shape, k or estimator.
    """
    from . import __version__
    from .estimators import EstimatorSpec, resolve_k
    from .measure import measure

    if specs is None:
        specs = [EstimatorSpec(estimator, resolve_k(estimator, k),
                               *(("k-1", "harmonic") if estimator == "mle" else (None, None)))]
    X = gaussian_sample(n, dim, seed)
    m = measure(X, specs, k_curve=0, bootstrap=0, geometry=False, device=device).result
    keep = ("estimator", "k", "normalization", "aggregate", "id", "id_harmonic", "id_mean",
            "id_median", "redundancy")
    estimates = [{key: e.get(key) for key in keep} for e in m["estimates"]]
    out = {"n": int(n), "ed": int(dim), "dim": int(dim), "seed": int(seed)}  # ed as in the summary
    if len(estimates) == 1:
        out.update(estimates[0])
    out.update(estimates=estimates, version=__version__)
    return out
