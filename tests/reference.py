# SPDX-License-Identifier: MIT
"""Independent float64 references for the estimator tests, written from the papers, not from
embdim's code: brute-force kNN on the full distance matrix, Levina–Bickel MLE, TwoNN.

Also the synthetic data sets of known intrinsic dimension used by the tests.
"""
from __future__ import annotations

import numpy as np


def brute_knn(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k nearest neighbours (self excluded) from the full float64 distance matrix.

    Distances are formed as sqrt(Σ (x - y)²) in float64 (no norm-expansion shortcut).
    Returns (dist, idx), ascending; ties broken by the smaller index (stable sort).
    """
    X = np.asarray(X, dtype=np.float64)
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(D, idx, axis=1), idx


def unique_rows(X: np.ndarray) -> np.ndarray:
    """Distinct rows in first-occurrence order (plain Python set of tuples)."""
    seen, keep = set(), []
    for i, row in enumerate(np.asarray(X, dtype=np.float64)):
        key = tuple((row + 0.0).tolist())  # + 0.0: -0.0 and 0.0 are the same value
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return np.asarray(X)[keep]


def mle_reference(dist: np.ndarray) -> dict:
    """Levina & Bickel (2004) local estimates, combined as MacKay & Ghahramani (2005).

    m_k(x) = [ 1/(k-1) Σ_{j=1}^{k-1} log(T_k(x) / T_j(x)) ]^{-1};  global = 1 / mean(1 / m_k).
    """
    n, k = dist.shape
    local = np.empty(n)
    for i in range(n):
        s = 0.0
        for j in range(k - 1):
            s += np.log(dist[i, k - 1] / dist[i, j])
        local[i] = (k - 1) / s
    return {"harmonic": 1.0 / np.mean(1.0 / local), "mean": local.mean(),
            "median": np.median(local), "local": local}


def twonn_reference(r1: np.ndarray, r2: np.ndarray, discard: float = 0.1) -> float:
    """Facco et al. (2017) with scikit-dimension 0.5's conventions: keep the int(N (1 - f))
    smallest mu = r2/r1, F_i = i/N, slope through the origin of -log(1 - F) on log(mu),
    fitted with numpy's least squares (not a closed form)."""
    mu = np.sort(r2 / r1)
    N = len(mu)
    keep = int(N * (1 - discard))
    x = np.log(mu[:keep])[:, None]
    y = -np.log(1 - np.arange(1, keep + 1) / N)
    return float(np.linalg.lstsq(x, y, rcond=None)[0][0])


# -- data sets of known intrinsic dimension ------------------------------------------------------
def rotate_into(Y: np.ndarray, D: int, rng) -> np.ndarray:
    """Embed the rows of Y (n x d) isometrically into R^D with a random orthonormal frame."""
    Q, _ = np.linalg.qr(rng.standard_normal((D, Y.shape[1])))
    return Y @ Q.T


def linear_subspace(n, d, D, noise, rng):
    """Standard Gaussian in a random d-dim subspace of R^D plus isotropic noise."""
    return rotate_into(rng.standard_normal((n, d)), D, rng) + noise * rng.standard_normal((n, D))


def sphere(n, d, D, rng):
    """Uniform on the unit sphere S^d (intrinsic dimension d) inside R^D."""
    Y = rng.standard_normal((n, d + 1))
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    return rotate_into(Y, D, rng)


def swiss_roll(n, rng):
    """The classic swiss roll (intrinsic dimension 2) in R^3."""
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    h = 21 * rng.random(n)
    return np.column_stack([t * np.cos(t), h, t * np.sin(t)])


def hypercube(n, d, rng):
    """Uniform on [0, 1]^d (intrinsic dimension d, full-dimensional)."""
    return rng.random((n, d))


def curve(n, D, rng):
    """A smooth closed 1-d curve in R^D: random Fourier coefficients of 3 harmonics."""
    t = 2 * np.pi * rng.random(n)
    basis = np.column_stack([f(h * t) for h in (1, 2, 3) for f in (np.cos, np.sin)])
    return basis @ rng.standard_normal((6, D))
