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
                    device: str = "auto") -> dict:
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
        Passed to :func:`embdim.estimate`.

    Returns
    -------
    dict
        n, dim, k, estimator, seed, id, id_harmonic, id_mean, id_median, redundancy, version
        (``id_*`` other than ``id`` are None for TwoNN). ``id`` is the estimator's headline value
        (for MLE the harmonic mean of the local estimates, MacKay & Ghahramani 2005).

    Raises
    ------
    InputError
        Bad shape, k or estimator (from :func:`embdim.estimate`).
    """
    from . import __version__, estimate

    X = gaussian_sample(n, dim, seed)
    res = estimate(X, estimator=estimator, k=k, device=device).to_dict()
    return {"n": int(n), "dim": int(dim), "k": res.get("k", k), "estimator": estimator,
            "seed": int(seed), "id": res["id"], "id_harmonic": res.get("id_harmonic"),
            "id_mean": res.get("id_mean"), "id_median": res.get("id_median"),
            "redundancy": res.get("redundancy"), "version": __version__}
