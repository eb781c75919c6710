# SPDX-License-Identifier: MIT
"""One checkpoint's hidden states measured layer by layer, in one process.

For every tensor of :func:`embdim.hidden.forward.layer_names` and every position set (``all``,
``skip0``: position 0 has outsized norms and can fake an anisotropy peak):

* the intrinsic dimension with :func:`embdim.measure.measure` (the estimators, conventions and
  bootstrap CIs of ``embdim measure``) on a fixed, seeded subset of ``n_points`` rows — its
  ``sample`` mechanism, so ``embdim measure FILE --tensor layer.i --sample N --seed S`` on an
  exported hidden-state file gives the same numbers;
* the geometry of all sampled tokens (no deduplication: a repeated token is a repeated
  context), from :func:`embdim.geometry.compute_geometry`: mean cosine, top-PC share of the
  centred matrix (Razzhigaev et al. 2024's anisotropy), isotropy, PCA dimensions, effective rank;
* Q = M + V with V split by token type (:mod:`embdim.hidden.normvar`).
"""
from __future__ import annotations

import time

import numpy as np

from .forward import position_rows
from .normvar import norm_variance

POSITIONS = ("all", "skip0")
GEOMETRY_KEYS = ("mean_cosine", "top_pc_share", "isotropy", "pca_dim_90", "pca_dim_95",
                 "pca_dim_99", "effective_rank")
# kNN points per layer by default: 4096, as seed 001's code fits TwoNN on the first 4096
# vectors (AIRI-Institute/LLM-Microscope).
DEFAULT_N_POINTS = 4096


def layer_index(name: str) -> int | None:
    """``layer.3`` -> 3; ``final_ln`` -> None."""
    return int(name.split(".", 1)[1]) if name.startswith("layer.") else None


def measure_layers(states: dict[str, np.ndarray], tokens: np.ndarray, specs=None, *,
                   n_points: int | None = DEFAULT_N_POINTS, seed: int = 0, bootstrap: int = 200,
                   positions=POSITIONS, device: str = "auto") -> list[dict]:
    """Measure every layer under every position set (see the module docstring).

    Parameters
    ----------
    states : dict
        ``layer.0 .. layer.L, final_ln`` -> (n_seq * seq_len, d) arrays, sequence-major, every
        position (as :func:`embdim.hidden.forward.hidden_states` returns them).
    tokens : int array (n_seq, seq_len)
        The ids the states belong to (token types of the V split).

    Returns
    -------
    list of dict
        One entry per tensor x position set: ``name, layer, depth, positions, n, n_unique, d,
        estimates`` (as ``embdim measure``), ``knn``, ``geometry`` (:data:`GEOMETRY_KEYS`),
        ``norm_variance`` (:func:`embdim.hidden.normvar.norm_variance`), ``seconds``.
    """
    from ..geometry import compute_geometry
    from ..measure import measure

    n_seq, seq_len = tokens.shape
    flat = tokens.reshape(-1)
    n_layers = max(layer_index(n) or 0 for n in states)
    out = []
    for name, H in states.items():
        if len(H) != n_seq * seq_len:
            raise ValueError(f"{name}: {len(H)} rows for {n_seq} x {seq_len} tokens")
        i = layer_index(name)
        for pos in positions:
            t0 = time.perf_counter()
            rows = position_rows(n_seq, seq_len, pos)
            X = H if rows is None else H[rows]
            ids = flat if rows is None else flat[rows]
            m = measure(X, specs, k_curve=0, bootstrap=bootstrap, sample=n_points, seed=seed,
                        geometry=False, device=device).result
            geo = compute_geometry(X, dedup=False).to_dict()
            out.append({
                "name": name, "layer": i, "depth": (i / n_layers) if i is not None else None,
                "positions": pos, "n": m["n"], "n_unique": m["n_unique"], "d": int(X.shape[1]),
                "estimates": m["estimates"], "knn": m["knn"],
                "geometry": {k: geo[k] for k in GEOMETRY_KEYS},
                "norm_variance": norm_variance(X, ids),
                "seconds": time.perf_counter() - t0,
            })
    return out
