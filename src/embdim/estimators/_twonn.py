# SPDX-License-Identifier: MIT
"""TwoNN intrinsic dimension (Facco et al. 2017), scikit-dimension's linear-fit variant."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._base import GlobalEstimator

# Facco et al. discard the 10% largest ratios (heuristic from the paper; skdim's default).
DISCARD_FRACTION = 0.1


def twonn_fit(mu: np.ndarray, discard_fraction: float = DISCARD_FRACTION) -> tuple[float, int]:
    """Slope ``d`` and the number of ratios fitted, from the ratios ``μ = r2 / r1`` (any order).

    With the N ratios sorted, the ``int(N (1 - f))`` smallest are kept, ``F_i = i / N``, and d is
    the least-squares slope through the origin of ``-ln(1 - F_i)`` against ``ln μ_i``.

    Raises
    ------
    InputError
        Fewer than 2 ratios left after discarding.
    """
    mu = np.sort(mu)
    N = len(mu)
    n_keep = int(N * (1 - discard_fraction))
    if n_keep < 2:
        raise InputError(f"TwoNN needs at least 2 ratios after discarding, got {n_keep} of {N}")
    x = np.log(mu[:n_keep])
    y = -np.log(1 - np.arange(1, n_keep + 1) / N)
    sxx = float(np.dot(x, x))
    return (float(np.dot(x, y)) / sxx if sxx > 0 else float("inf")), n_keep


def twonn(r1: np.ndarray, r2: np.ndarray, discard_fraction: float = DISCARD_FRACTION) -> dict:
    """TwoNN estimate from first and second neighbour distances.

    Facco, d'Errico, Rodriguez & Laio (2017), Sci. Rep. 7:12140, doi:10.1038/s41598-017-11873-y.
    ``μ = r2 / r1`` follows Pareto(1, d); with the N ratios sorted, the ``int(N (1 - f))`` smallest
    are kept, ``F_i = i / N`` (i = 1…kept, the empirical CDF over all N, as in
    scikit-dimension 0.5 ``skdim.id.TwoNN``), and d is the least-squares slope through the origin
    of ``-ln(1 - F_i)`` against ``ln μ_i``: ``d = Σ x y / Σ x²``.

    Raises
    ------
    InputError
        A zero ``r1`` (duplicate rows) or fewer than 2 ratios left after discarding.
    """
    if not np.all(r1 > 0):
        raise InputError("zero nearest-neighbour distance: remove duplicate rows first")
    mu = r2 / r1
    d, n_keep = twonn_fit(mu, discard_fraction)
    return {"id": d, "n_fit": n_keep, "discard_fraction": discard_fraction, "pointwise": mu}


class TwoNN(GlobalEstimator):
    """TwoNN intrinsic dimension from the two nearest neighbours (Facco et al. 2017,
    Sci. Rep. 7:12140, doi:10.1038/s41598-017-11873-y), scikit-dimension 0.5's linear fit.

    ``μ_i = r2_i / r1_i`` follows Pareto(1, d); the ``discard_fraction`` largest ratios are
    dropped and d is the slope through the origin of ``-ln(1 - i/N)`` on ``ln μ_(i)``. k is 2.

    Parameters
    ----------
    discard_fraction : float
        Share of the largest μ left out of the fit, 0 <= f < 1 (default 0.1, the paper's).
    bootstrap : int
        Percentile-bootstrap replicates over the distinct rows (0 = none): μ is resampled and
        the line fitted again, the kNN graph kept fixed.
    seed : int
        Seed of the bootstrap draws.
    device, precision, engine : str
        kNN device, first precision tier and candidate engine (:func:`embdim.knn.knn`), used by
        ``fit(X)`` only.

    Attributes
    ----------
    dimension_, dimension_pw_ (μ), ci_, se_, bootstrap_, row_index_ : see :class:`GlobalEstimator`
    n_fit_ : int
        Ratios kept in the fit.
    """

    k = 2

    def __init__(self, discard_fraction: float = DISCARD_FRACTION, bootstrap: int = 0,
                 seed: int = 0, device: str = "auto", precision: str | None = None,
                 engine: str | None = None):
        self.discard_fraction = discard_fraction
        self._set_fit_params(bootstrap, seed, device, precision, engine)

    def _k_needed(self) -> int:
        f = self.discard_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f < 1:
            raise InputError(f"TwoNN discard_fraction must be in [0, 1), got {f!r}")
        return 2

    def _fit_dist(self, dist: np.ndarray) -> None:
        r = twonn(dist[:, 0], dist[:, 1], self.discard_fraction)
        self.dimension_ = float(r["id"])
        self.dimension_pw_ = r["pointwise"]
        self.n_fit_ = r["n_fit"]

    def _replicate(self, sample: np.ndarray) -> float:
        return twonn_fit(self.dimension_pw_[sample], self.discard_fraction)[0]
