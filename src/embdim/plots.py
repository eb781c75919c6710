# SPDX-License-Identifier: MIT
"""Figures of a sweep, drawn from ``summary.tsv`` rows (see :mod:`embdim.summary`).

Draws, never computes: every number comes from the summary. One colour per model in size order;
the paper's final-checkpoint ID values are shown as reference markers.
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402

from .checkpoint import atomic_write  # noqa: E402
from .config import model_label  # noqa: E402

# Final-checkpoint (step 143000) input-embedding ID reported in the paper, by Pythia size.
PAPER_FINAL_ID = {"14m": 35.3, "70m": 30.0, "160m": 27.0, "410m": 25.0, "1b": 37.2, "1.4b": 32.2,
                  "2.8b": 34.2, "6.9b": 78.3, "12b": 121.8}
GEOMETRY_PANELS = [
    ("mean_cosine", "mean pairwise cosine"),
    ("top_pc_share", "variance share of PC 1"),
    ("mean_norm_ratio", "|mean|² / variance"),
    ("isotropy", "isotropy"),
    ("pca_dim_90", "PCA dims for 90% variance"),
    ("effective_rank", "effective rank"),
]
FIGURES = ["id_vs_step", "id_vs_step_log", "id_vs_step_overlay", "redundancy_vs_step",
           "final_id_vs_size", "geometry_vs_step"]
BASELINE_LABEL = "random N(0,I), same shape"
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([mb])(?:-deduped)?$", re.IGNORECASE)


def parse_size(model: str) -> float | None:
    """Parameter count from a Pythia-style name (``pythia-1.4b`` -> 1.4e9), else ``None``."""
    m = _SIZE.search(model_label(model))
    if not m:
        return None
    return float(m.group(1)) * (1e6 if m.group(2).lower() == "m" else 1e9)


def size_order(models: list[str]) -> list[str]:
    """Models by size (smallest first); models without a size keep their order, after."""
    known = sorted((m for m in models if parse_size(m) is not None), key=parse_size)
    return known + [m for m in models if parse_size(m) is None]


def model_colors(models: list[str]) -> dict[str, tuple]:
    """One viridis colour per model, in size order."""
    ordered = size_order(models)
    cmap = plt.get_cmap("viridis")
    n = max(len(ordered) - 1, 1)
    return {m: cmap(0.9 * i / n) for i, m in enumerate(ordered)}


def _unique(seq):
    return list(dict.fromkeys(seq))


def _est_label(name: str, k) -> str:
    return f"MLE, k={k}" if name == "mle" else "TwoNN"


def _series(rows, model, estimator, k, key):
    pts = sorted((r["step"], r[key]) for r in rows if r["model"] == model and r["estimator"] == estimator
                 and r["k"] == k and r["status"] == "ok" and r.get(key) is not None)
    return [p[0] for p in pts], [p[1] for p in pts]


def _grid(n: int, width: float = 4.2, height: float = 3.2):
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _step_axis(ax, log: bool) -> None:
    ax.set_xlabel("training step" + (" (log scale)" if log else ""))
    if log:  # symlog: linear below 1, so step 0 (the initialisation) stays on the axis
        ax.set_xscale("symlog", linthresh=1)
    ax.grid(alpha=0.3)


def _empty(ax) -> None:
    ax.text(0.5, 0.5, "no measured checkpoints", ha="center", va="center", transform=ax.transAxes)


def id_vs_step(rows: list[dict], log: bool = False):
    """One panel per model: ID vs step, one line per estimator."""
    models = size_order(_unique(r["model"] for r in rows))
    ests = _unique((r["estimator"], r["k"]) for r in rows)
    fig, axes = _grid(max(len(models), 1))
    for ax, model in zip(axes, models or [None]):
        drawn = False
        for est, k in ests:
            x, y = _series(rows, model, est, k, "id")
            if x:
                ax.plot(x, y, marker="o", ms=3, label=_est_label(est, k))
                drawn = True
        ax.set_title(model_label(model) if model else "")
        ax.set_ylabel("intrinsic dimension")
        _step_axis(ax, log)
        if drawn:
            ax.legend(fontsize=8)
        else:
            _empty(ax)
    fig.suptitle("Intrinsic dimension of the embedding over training")
    fig.tight_layout()
    return fig


def by_estimator(rows: list[dict], key: str, ylabel: str, title: str, log: bool = True):
    """One panel per estimator, one line per model (colour by size)."""
    models = size_order(_unique(r["model"] for r in rows))
    colors = model_colors(models)
    ests = _unique((r["estimator"], r["k"]) for r in rows)
    fig, axes = _grid(max(len(ests), 1))
    for ax, (est, k) in zip(axes, ests or [("mle", None)]):
        drawn = False
        for model in models:
            x, y = _series(rows, model, est, k, key)
            if x:
                ax.plot(x, y, marker="o", ms=3, color=colors[model], label=model_label(model))
                drawn = True
        ax.set_title(_est_label(est, k))
        ax.set_ylabel(ylabel)
        _step_axis(ax, log)
        if drawn:
            ax.legend(fontsize=8)
        else:
            _empty(ax)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _baseline(rows, model, estimator, k):
    """The model's random-baseline ID for one estimator (``baseline_id``), or ``None``."""
    vals = [r.get("baseline_id") for r in rows if r["model"] == model and r["estimator"] == estimator
            and r["k"] == k and r.get("baseline_id") is not None]
    return vals[0] if vals else None


def final_id_vs_size(rows: list[dict]):
    """ID at each model's last measured step vs parameter count, with the paper's values and, per
    model and estimator, the ID of N(0, I) samples of the same shape (grey x, ``baseline_id``)."""
    models = size_order(_unique(r["model"] for r in rows))
    colors = model_colors(models)
    ests = _unique((r["estimator"], r["k"]) for r in rows)
    numeric = bool(models) and all(parse_size(m) is not None for m in models)
    xpos = {m: (parse_size(m) if numeric else i) for i, m in enumerate(models)}
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    markers = "osD^v<>"
    for j, (est, k) in enumerate(ests):
        marker = markers[j % len(markers)]
        ax.scatter([], [], color="grey", marker=marker, label=_est_label(est, k))  # legend entry
        for model in models:
            x, y = _series(rows, model, est, k, "id")
            if x:
                ax.scatter([xpos[model]], [y[-1]], color=colors[model], marker=marker, s=40, zorder=3)
                if j == 0:
                    ax.annotate(model_label(model), (xpos[model], y[-1]), textcoords="offset points",
                                xytext=(6, -3), fontsize=7, color=colors[model])
    labelled = False  # one legend entry for every baseline marker, after the estimators'
    for est, k in ests:
        for model in models:
            base = _baseline(rows, model, est, k)
            if base is not None:
                ax.scatter([xpos[model]], [base], color="grey", marker="x", s=40, zorder=2,
                           label=None if labelled else BASELINE_LABEL)
                labelled = True
    if numeric:
        ref_x = [float(s[:-1]) * (1e6 if s.endswith("m") else 1e9) for s in PAPER_FINAL_ID]
        ax.scatter(ref_x, list(PAPER_FINAL_ID.values()), facecolors="none", edgecolors="black",
                   marker="*", s=120, zorder=2, label="paper (step 143000)")
        ax.set_xscale("log")
        ax.set_xlabel("model size (parameters, log scale)")
    else:
        ax.set_xticks(list(xpos.values()), [model_label(m) for m in models])
        ax.set_xlabel("model")
    ax.set_ylabel("intrinsic dimension at the last measured step")
    ax.set_title("Final intrinsic dimension vs model size")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        _empty(ax)
    fig.tight_layout()
    return fig


def geometry_vs_step(rows: list[dict]):
    """Geometry metrics (one panel each) vs step, one line per model."""
    models = size_order(_unique(r["model"] for r in rows))
    colors = model_colors(models)
    first = _unique((r["estimator"], r["k"]) for r in rows)[:1]  # geometry repeats per estimator
    fig, axes = _grid(len(GEOMETRY_PANELS), width=3.8, height=2.9)
    for ax, (key, label) in zip(axes, GEOMETRY_PANELS):
        drawn = False
        for model in models:
            x, y = _series(rows, model, *first[0], key) if first else ([], [])
            if x:
                ax.plot(x, y, marker="o", ms=2, color=colors[model], label=model_label(model))
                drawn = True
        ax.set_title(label, fontsize=10)
        _step_axis(ax, True)
        if not drawn:
            _empty(ax)
    if any(ax.get_legend_handles_labels()[0] for ax in axes):
        axes[0].legend(fontsize=7)
    fig.suptitle("Embedding geometry over training")
    fig.tight_layout()
    return fig


def draw_all(rows: list[dict]) -> dict:
    """Figure name -> matplotlib figure, for every name in :data:`FIGURES`."""
    return {
        "id_vs_step": id_vs_step(rows, log=False),
        "id_vs_step_log": id_vs_step(rows, log=True),
        "id_vs_step_overlay": by_estimator(rows, "id", "intrinsic dimension",
                                           "Intrinsic dimension, all models"),
        "redundancy_vs_step": by_estimator(rows, "redundancy", "redundancy",
                                           "Redundancy of the embedding over training"),
        "final_id_vs_size": final_id_vs_size(rows),
        "geometry_vs_step": geometry_vs_step(rows),
    }


def save_all(rows: list[dict], out_dir: str | os.PathLike, formats=("png", "svg")) -> list[str]:
    """Draw every figure and write it in each format atomically; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in draw_all(rows).items():
        for fmt in formats:
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=110)
            path = out / f"{name}.{fmt}"
            atomic_write(path, [buf.getvalue()])
            written.append(str(path))
        plt.close(fig)
    return written
