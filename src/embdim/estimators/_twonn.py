# SPDX-License-Identifier: MIT
"""TwoNN intrinsic dimension (Facco et al. 2017), scikit-dimension's linear-fit variant."""
from __future__ import annotations

import numpy as np

from ..errors import InputError

# Facco et al. discard the 10% largest ratios (heuristic from the paper; skdim's default).
DISCARD_FRACTION = 0.1


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
    mu = np.sort(r2 / r1)
    N = len(mu)
    n_keep = int(N * (1 - discard_fraction))
    if n_keep < 2:
        raise InputError(f"TwoNN needs at least 2 ratios after discarding, got {n_keep} of {N}")
    mu = mu[:n_keep]
    x = np.log(mu)
    y = -np.log(1 - np.arange(1, n_keep + 1) / N)
    sxx = float(np.dot(x, x))
    d = float(np.dot(x, y)) / sxx if sxx > 0 else float("inf")
    return {"id": d, "n_fit": n_keep, "discard_fraction": discard_fraction, "pointwise": r2 / r1}
