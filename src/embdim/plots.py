# SPDX-License-Identifier: MIT
"""Figures of a sweep, drawn from ``summary.tsv`` rows (see :mod:`embdim.summary`).

Draws, never computes: every number comes from the summary. One colour per model in size order;
the paper's final-checkpoint ID values are shown as reference markers. A step whose checkpoint is
not what its name says (``duplicate_of`` or ``same_as_final``: :func:`embdim.integrity.flagged`) is
drawn hollow and left out of the lines and bands. The x axis is the training step or, with
``x_axis="tokens"``, the tokens seen (the summary's ``tokens`` column).
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_write  # noqa: E402
from .config import model_label  # noqa: E402
from .integrity import flagged  # noqa: E402

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
           "final_id_vs_size", "geometry_vs_step", "lid_histograms", "id_vs_k"]
# Checkpoints per model in the LID histograms (the paper's Figure 1 shows about six).
LID_STEPS = 6
# Upper end of the histograms' axis: this quantile of the plotted local IDs (a few isolated
# tokens reach 5x the median; the rest of the figure would be empty).
LID_XMAX_QUANTILE = 0.995
BASELINE_LABEL = "random N(0,I), same shape"
FLAGGED_LABEL = "duplicate / final weights (hollow, not joined)"
X_AXES = {"step": "training step", "tokens": "tokens seen"}
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


def _ests(rows) -> list[tuple]:
    """Distinct estimators of the rows: (name, k, normalization, aggregate), in row order."""
    return _unique((r["estimator"], r["k"], r.get("normalization"), r.get("aggregate")) for r in rows)


def _est_label(est: tuple) -> str:
    name, k, norm, agg = (tuple(est) + (None, None))[:4]
    if name != "mle":
        return "TwoNN"
    return f"MLE, k={k}" + (f" ({norm}, {agg})" if norm else "")


def _is(r: dict, est: tuple) -> bool:
    return (r["estimator"], r["k"], r.get("normalization"), r.get("aggregate")) == tuple(est)


def mark_flagged(rows: list[dict]) -> list[dict]:
    """Copies of the rows with ``_flagged`` set (:func:`embdim.integrity.flagged`; the last
    measured step of each model x tensor is never flagged)."""
    last: dict = {}
    for r in rows:
        if r["status"] == "ok" and r.get("step") is not None:
            key = (r["model"], r.get("tensor"))
            last[key] = max(last.get(key, r["step"]), r["step"])
    return [{**r, "_flagged": flagged(r, last.get((r["model"], r.get("tensor"))))} for r in rows]


def _x(r: dict, x_axis: str):
    return r.get(x_axis) if x_axis != "step" else r["step"]


def _series(rows, model, est, key, x_axis: str = "step", hollow: bool = False):
    """(x, y) of a model's measured points; ``hollow`` selects the flagged ones instead of the rest."""
    pts = sorted((_x(r, x_axis), r[key]) for r in rows if r["model"] == model and _is(r, est)
                 and r["status"] == "ok" and r.get(key) is not None and _x(r, x_axis) is not None
                 and bool(r.get("_flagged")) == hollow)
    return [p[0] for p in pts], [p[1] for p in pts]


def _hollow(ax, rows, model, est, key, x_axis: str, color, ms: float = 3) -> bool:
    """Draw a model's flagged points as hollow markers; whether there were any."""
    x, y = _series(rows, model, est, key, x_axis, hollow=True)
    if x:
        ax.plot(x, y, ls="none", marker="o", ms=ms + 2, mfc="none", mec=color, mew=1.2)
    return bool(x)


def _flag_legend(ax) -> None:
    ax.plot([], [], ls="none", marker="o", mfc="none", mec="grey", label=FLAGGED_LABEL)


def _tensor_title(rows, title: str) -> str:
    tensors = _unique(r.get("tensor") for r in rows if r.get("tensor"))
    return f"{title} ({', '.join(tensors)})" if tensors else title


def _grid(n: int, width: float = 4.2, height: float = 3.2):
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _step_axis(ax, log: bool, x_axis: str = "step") -> None:
    ax.set_xlabel(X_AXES[x_axis] + (" (log scale)" if log else ""))
    if log:  # symlog: linear below 1, so step 0 (the initialisation) stays on the axis
        ax.set_xscale("symlog", linthresh=1)
    ax.grid(alpha=0.3)


def _empty(ax) -> None:
    ax.text(0.5, 0.5, "no measured checkpoints", ha="center", va="center", transform=ax.transAxes)


def _finish_panel(ax, title: str, xlabel: str, ylabel: str, has_data: bool, legend: int = 8) -> None:
    """Title, axis labels, grid; a legend where something was drawn, else the empty-panel note."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if has_data:
        ax.legend(fontsize=legend)
    else:
        _empty(ax)


def id_vs_step(rows: list[dict], log: bool = False, x_axis: str = "step"):
    """One panel per model: ID vs step, one line per estimator, its bootstrap 95 % interval
    (``ci_low`` .. ``ci_high``) as a band."""
    models = size_order(_unique(r["model"] for r in rows))
    ests = _ests(rows)
    fig, axes = _grid(max(len(models), 1))
    for ax, model in zip(axes, models or [None]):
        drawn = hollow = False
        for est in ests:
            x, y = _series(rows, model, est, "id", x_axis)
            if x:
                line, = ax.plot(x, y, marker="o", ms=3, label=_est_label(est))
                band = [(_x(r, x_axis), r["ci_low"], r["ci_high"]) for r in rows
                        if r["model"] == model and _is(r, est) and r["status"] == "ok"
                        and not r.get("_flagged") and _x(r, x_axis) is not None
                        and r.get("ci_low") is not None and r.get("ci_high") is not None]
                if band:
                    band.sort()
                    ax.fill_between([b[0] for b in band], [b[1] for b in band],
                                    [b[2] for b in band], color=line.get_color(), alpha=0.2, lw=0)
                drawn = True
                hollow |= _hollow(ax, rows, model, est, "id", x_axis, line.get_color())
        if hollow:
            _flag_legend(ax)
        ax.set_title(model_label(model) if model else "")
        ax.set_ylabel("intrinsic dimension")
        _step_axis(ax, log, x_axis)
        if drawn:
            ax.legend(fontsize=8)
        else:
            _empty(ax)
    fig.suptitle(_tensor_title(rows, "Intrinsic dimension over training, bands: bootstrap 95 % CI"))
    fig.tight_layout()
    return fig


def by_estimator(rows: list[dict], key: str, ylabel: str, title: str, log: bool = True,
                 x_axis: str = "step"):
    """One panel per estimator, one line per model (colour by size)."""
    models = size_order(_unique(r["model"] for r in rows))
    colors = model_colors(models)
    ests = _ests(rows)
    fig, axes = _grid(max(len(ests), 1))
    for ax, est in zip(axes, ests or [("mle", None, None, None)]):
        drawn = hollow = False
        for model in models:
            x, y = _series(rows, model, est, key, x_axis)
            if x:
                ax.plot(x, y, marker="o", ms=3, color=colors[model], label=model_label(model))
                drawn = True
            hollow |= _hollow(ax, rows, model, est, key, x_axis, colors[model])
        if hollow:
            _flag_legend(ax)
        ax.set_title(_est_label(est))
        ax.set_ylabel(ylabel)
        _step_axis(ax, log, x_axis)
        if drawn:
            ax.legend(fontsize=8)
        else:
            _empty(ax)
    fig.suptitle(_tensor_title(rows, title))
    fig.tight_layout()
    return fig


def _baseline(rows, model, est):
    """The model's random-baseline ID for one estimator (``baseline_id``), or ``None``."""
    vals = [r.get("baseline_id") for r in rows if r["model"] == model and _is(r, est)
            and r.get("baseline_id") is not None]
    return vals[0] if vals else None


def final_id_vs_size(rows: list[dict]):
    """ID at each model's last measured step vs parameter count, with the paper's values and, per
    model and estimator, the ID of N(0, I) samples of the same shape (grey x, ``baseline_id``)."""
    models = size_order(_unique(r["model"] for r in rows))
    colors = model_colors(models)
    ests = _ests(rows)
    numeric = bool(models) and all(parse_size(m) is not None for m in models)
    xpos = {m: (parse_size(m) if numeric else i) for i, m in enumerate(models)}
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    markers = "osD^v<>"
    for j, est in enumerate(ests):
        marker = markers[j % len(markers)]
        ax.scatter([], [], color="grey", marker=marker, label=_est_label(est))  # legend entry
        for model in models:
            x, y = _series(rows, model, est, "id")
            if x:
                ax.scatter([xpos[model]], [y[-1]], color=colors[model], marker=marker, s=40, zorder=3)
                if j == 0:
                    ax.annotate(model_label(model), (xpos[model], y[-1]), textcoords="offset points",
                                xytext=(6, -3), fontsize=7, color=colors[model])
    labelled = False  # one legend entry for every baseline marker, after the estimators'
    for est in ests:
        for model in models:
            base = _baseline(rows, model, est)
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
    ax.set_title(_tensor_title(rows, "Final intrinsic dimension vs model size"))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        _empty(ax)
    fig.tight_layout()
    return fig


def geometry_vs_step(rows: list[dict], x_axis: str = "step"):
    """Geometry metrics (one panel each) vs step, one line per model."""
    models = size_order(_unique(r["model"] for r in rows))
    colors = model_colors(models)
    first = _ests(rows)[:1]  # geometry repeats per estimator
    fig, axes = _grid(len(GEOMETRY_PANELS), width=3.8, height=2.9)
    for ax, (key, label) in zip(axes, GEOMETRY_PANELS):
        drawn = False
        for model in models:
            x, y = _series(rows, model, first[0], key, x_axis) if first else ([], [])
            if x:
                ax.plot(x, y, marker="o", ms=2, color=colors[model], label=model_label(model))
                drawn = True
            if first:
                _hollow(ax, rows, model, first[0], key, x_axis, colors[model], ms=2)
        ax.set_title(label, fontsize=10)
        _step_axis(ax, True, x_axis)
        if not drawn:
            _empty(ax)
    if any(ax.get_legend_handles_labels()[0] for ax in axes):
        axes[0].legend(fontsize=7)
    fig.suptitle(_tensor_title(rows, "Embedding geometry over training"))
    fig.tight_layout()
    return fig


def headline_mle(rows: list[dict]) -> tuple | None:
    """The first MLE estimator of the rows (the one the LID histograms show), or ``None``."""
    return next((e for e in _ests(rows) if e[0] == "mle"), None)


def _pick_steps(steps: list[int], n: int = LID_STEPS) -> list[int]:
    """About ``n`` steps spread evenly over the list's positions (first and last included)."""
    if len(steps) <= n:
        return steps
    return [steps[int(round(i))] for i in _unique(
        round(j * (len(steps) - 1) / (n - 1)) for j in range(n))]


def lid_histograms(rows: list[dict], extras: dict):
    """Per model, histograms of the per-token local ID at about six steps (the paper's Fig. 1),
    for the first MLE estimator; ``extras`` from :func:`embdim.summary.read_measure_extras`."""
    models = size_order(_unique(r["model"] for r in rows))
    est = headline_mle(rows)
    fig, axes = _grid(max(len(models), 1))
    for ax, model in zip(axes, models or [None]):
        steps = sorted({r["step"] for r in rows if r["model"] == model and r["status"] == "ok"
                        and (extras.get((model, r["tensor"], r["step"])) or {}).get("lid") is not None})
        chosen = _pick_steps(steps)
        cmap = plt.get_cmap("plasma")
        tensor = next((r["tensor"] for r in rows if r["model"] == model), None)
        values = [extras[(model, tensor, step)]["lid"] for step in chosen]
        # the long right tail (isolated tokens) would squeeze the bulk: draw up to its 99.5 %
        top = max(float(np.quantile(v, LID_XMAX_QUANTILE)) for v in values) if values else None
        for i, (step, lid) in enumerate(zip(chosen, values)):
            ax.hist(lid, bins=60, range=(0.0, top), histtype="step", density=True, lw=1.2,
                    color=cmap(0.85 * i / max(len(chosen) - 1, 1)), label=f"step {step}")
        _finish_panel(ax, model_label(model) if model else "", "local intrinsic dimension (per token)",
                      "density", bool(chosen), legend=7)
    label = _est_label(est) if est else "MLE"
    fig.suptitle(_tensor_title(rows, f"Per-token LID over training, {label}"))
    fig.tight_layout()
    return fig


def id_vs_k(rows: list[dict], extras: dict):
    """Per model, the MLE ID against k (``id_vs_k`` of measure.json) at the first and the last
    measured step."""
    models = size_order(_unique(r["model"] for r in rows))
    fig, axes = _grid(max(len(models), 1))
    conv = None
    for ax, model in zip(axes, models or [None]):
        keys = sorted((k for k, v in extras.items() if k[0] == model and v.get("id_vs_k")
                       and v["id_vs_k"].get("k")), key=lambda k: k[2])
        for key, style in zip([keys[0], keys[-1]] if len(keys) > 1 else keys, ("o-", "s--")):
            curve = extras[key]["id_vs_k"]
            conv = (curve.get("normalization"), curve.get("aggregate"))
            pts = [(k, v) for k, v in zip(curve["k"], curve["id"]) if v is not None]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, ms=3, label=f"step {key[2]}")
        _finish_panel(ax, model_label(model) if model else "", "k (neighbours)",
                      "MLE intrinsic dimension", bool(keys))
    label = f"MLE ({conv[0]}, {conv[1]})" if conv else "MLE"
    fig.suptitle(_tensor_title(rows, f"ID vs k at the first and last step, {label}"))
    fig.tight_layout()
    return fig


def draw_all(rows: list[dict], extras: dict | None = None, x_axis: str = "step") -> dict:
    """Figure name -> matplotlib figure, for every name in :data:`FIGURES` (rows of one tensor);
    ``x_axis`` ``step`` or ``tokens`` (:data:`X_AXES`) for the figures over training."""
    extras = extras or {}
    rows = mark_flagged(rows)
    return {
        "id_vs_step": id_vs_step(rows, log=False, x_axis=x_axis),
        "id_vs_step_log": id_vs_step(rows, log=True, x_axis=x_axis),
        "id_vs_step_overlay": by_estimator(rows, "id", "intrinsic dimension",
                                           "Intrinsic dimension, all models", x_axis=x_axis),
        "redundancy_vs_step": by_estimator(rows, "redundancy", "redundancy",
                                           "Redundancy of the embedding over training", x_axis=x_axis),
        "final_id_vs_size": final_id_vs_size(rows),
        "geometry_vs_step": geometry_vs_step(rows, x_axis),
        "lid_histograms": lid_histograms(rows, extras),
        "id_vs_k": id_vs_k(rows, extras),
    }


def save_all(rows: list[dict], out_dir: str | os.PathLike, formats=("png", "svg"),
             results_dir: str | os.PathLike | None = None, x_axis: str = "step") -> list[str]:
    """Draw every figure for each tensor of the rows into ``out_dir/<tensor>/`` and write it in
    each format atomically; returns the paths written. ``results_dir`` (the sweep's results/)
    supplies the per-token LIDs and ID-vs-k curves; without it those figures are empty."""
    from .summary import read_measure_extras

    written = []
    tensors = _unique(r.get("tensor") or "embed_in" for r in rows) or ["embed_in"]
    for tensor in tensors:
        sub = [r for r in rows if (r.get("tensor") or "embed_in") == tensor]
        est = headline_mle(sub)
        extras = {}
        if results_dir is not None:
            extras = read_measure_extras(results_dir, sub, f"lid_k{est[1]}" if est else None)
        out = Path(out_dir) / tensor
        out.mkdir(parents=True, exist_ok=True)
        for name, fig in draw_all(sub, extras, x_axis).items():
            for fmt in formats:
                buf = io.BytesIO()
                fig.savefig(buf, format=fmt, dpi=110)
                path = out / f"{name}.{fmt}"
                atomic_write(path, [buf.getvalue()])
                written.append(str(path))
            plt.close(fig)
    return written
