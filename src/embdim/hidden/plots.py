# SPDX-License-Identifier: MIT
"""Figures of ``layers.tsv``: draws, never computes (every number comes from the table).

Panels use one position set (``skip0`` when measured: position 0's outsized norms can fake an
anisotropy peak; else ``all``), the sample tokens, and the table's first estimator (the
headline MLE). Ratios such as M/Q are divisions of two table columns.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..config import model_label  # noqa: E402
from ..io import atomic_write  # noqa: E402

FIGURES = ["layer_profiles", "layer_heatmap_id", "layer_heatmap_anisotropy",
           "id_vs_step_by_layer", "norm_variance_bars"]
PROFILE_PANELS = [("id", "intrinsic dimension"), ("top_pc_share", "top-PC variance share"),
                  ("m_over_q", "M / Q"), ("vw_over_v", "V_within / V")]


def _ok(rows):
    return [r for r in rows if r.get("status") == "ok" and r.get("layer") is not None]


def choose(rows) -> tuple[list[dict], str, tuple]:
    """(rows of the sample tokens, one position set and the headline estimator; that set;
    the estimator (name, k))."""
    ok = _ok(rows)
    sets = {r["positions"] for r in ok}
    pos = "skip0" if "skip0" in sets else "all"
    est = next(((r["estimator"], r["k"]) for r in ok), ("mle", 10))
    return ([r for r in ok if r["positions"] == pos and (r["estimator"], r["k"]) == est]), pos, est


def _value(r: dict, key: str):
    if key == "m_over_q":
        return r["m"] / r["q"] if r.get("m") is not None and r.get("q") else None
    if key == "vw_over_v":
        return r["v_within"] / r["v"] if r.get("v_within") is not None and r.get("v") else None
    return r.get(key)


def _models(rows):
    return list(dict.fromkeys(r["model"] for r in rows))


def _grid(nrows, ncols, w=3.6, h=2.8):
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows), squeeze=False)
    return fig, axes


def _sample_panels(rows, w: float, h: float):
    """The sample's rows (not the shuffled baseline) at the chosen positions and estimator, their
    models, and one panel per model: ``(sel, pos, est, models, fig, axes)``."""
    sel, pos, est = choose(rows)
    sel = [r for r in sel if r["tokens"] == "sample"]
    models = _models(sel) or ["(no data)"]
    fig, axes = _grid(1, len(models), w=w, h=h)
    return sel, pos, est, models, fig, axes


def _est_label(est) -> str:
    return f"{est[0].upper()} k={est[1]}" if est[0] == "mle" else est[0].upper()


def layer_profiles(rows):
    sel, pos, est = choose(rows)
    sample = [r for r in sel if r["tokens"] == "sample"]
    models = _models(sel) or ["(no data)"]
    fig, axes = _grid(len(models), len(PROFILE_PANELS))
    for i, model in enumerate(models):
        mine = [r for r in sample if r["model"] == model]
        steps = sorted({r["step"] for r in mine})
        cmap = plt.get_cmap("viridis")
        for j, (key, label) in enumerate(PROFILE_PANELS):
            ax = axes[i][j]
            for s in steps:
                pts = sorted((r["layer"], _value(r, key)) for r in mine if r["step"] == s)
                pts = [(x, y) for x, y in pts if y is not None]
                if pts:
                    frac = steps.index(s) / max(1, len(steps) - 1)
                    ax.plot(*zip(*pts), color=cmap(frac), marker=".", label=f"step {s}")
            shuf = sorted((r["layer"], _value(r, key)) for r in sel
                          if r["model"] == model and r["tokens"] == "shuffled")
            shuf = [(x, y) for x, y in shuf if y is not None]
            if shuf:
                ax.plot(*zip(*shuf), color="grey", ls="--", label="shuffled tokens")
            ax.set_xlabel("layer")
            ax.set_ylabel(label + (f" ({_est_label(est)})" if key == "id" else ""))
            ax.set_title(f"{model_label(model)}", fontsize=9)
        if steps:
            axes[i][0].legend(fontsize=6, ncol=2)
    fig.suptitle(f"Layer profiles over training (positions: {pos}; colour = training progress)")
    fig.tight_layout()
    return fig


def _heatmap(rows, key: str, label: str):
    sel, pos, est, models, fig, axes = _sample_panels(rows, w=4.5, h=3.4)
    for j, model in enumerate(models):
        ax = axes[0][j]
        mine = [r for r in sel if r["model"] == model]
        steps = sorted({r["step"] for r in mine})
        layers = sorted({r["layer"] for r in mine})
        grid = np.full((len(layers), len(steps)), np.nan)
        for r in mine:
            v = _value(r, key)
            if v is not None:
                grid[layers.index(r["layer"]), steps.index(r["step"])] = v
        if steps:
            im = ax.imshow(grid, origin="lower", aspect="auto", cmap="magma")
            ax.set_xticks(range(len(steps)), [str(s) for s in steps], rotation=90, fontsize=7)
            ax.set_yticks(range(len(layers)), [str(x) for x in layers], fontsize=7)
            fig.colorbar(im, ax=ax, label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("layer")
        ax.set_title(model_label(model), fontsize=9)
    fig.suptitle(f"{label}, layer x step (positions: {pos})")
    fig.tight_layout()
    return fig


def id_vs_step_by_layer(rows):
    sel, pos, est, models, fig, axes = _sample_panels(rows, w=4.2, h=3.2)
    for j, model in enumerate(models):
        ax = axes[0][j]
        mine = [r for r in sel if r["model"] == model]
        layers = sorted({r["layer"] for r in mine})
        picks = list(dict.fromkeys([layers[0], layers[len(layers) // 2], layers[-1]])) if layers else []
        for layer, c in zip(picks, ("tab:blue", "tab:orange", "tab:green")):
            pts = sorted((r["step"], r["id"]) for r in mine if r["layer"] == layer and r["id"] is not None)
            if pts:
                ax.plot(*zip(*pts), marker="o", color=c, label=f"layer {layer}")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("training step (symlog)")
        ax.set_ylabel(f"ID ({_est_label(est)})")
        ax.set_title(model_label(model), fontsize=9)
        if picks:
            ax.legend(fontsize=7)
    fig.suptitle(f"ID over training: first, middle and last layer (positions: {pos})")
    fig.tight_layout()
    return fig


def norm_variance_bars(rows):
    sel, pos, est, models, fig, axes = _sample_panels(rows, w=4.2, h=3.2)
    for j, model in enumerate(models):
        ax = axes[0][j]
        mine = [r for r in sel if r["model"] == model and r.get("q")]
        if mine:
            last = max(r["step"] for r in mine)
            mine = sorted((r for r in mine if r["step"] == last), key=lambda r: r["layer"])
            x = [r["layer"] for r in mine]
            m = np.array([r["m"] / r["q"] for r in mine])
            vb = np.array([r["v_between"] / r["q"] for r in mine])
            vw = np.array([r["v_within"] / r["q"] for r in mine])
            ax.bar(x, m, label="M / Q", color="tab:red")
            ax.bar(x, vb, bottom=m, label="V_between / Q", color="tab:blue")
            ax.bar(x, vw, bottom=m + vb, label="V_within / Q", color="tab:green")
            ax.set_title(f"{model_label(model)}, step {last}", fontsize=9)
            ax.legend(fontsize=7)
        ax.set_xlabel("layer")
        ax.set_ylabel("share of Q")
        ax.set_ylim(0, 1.05)
    fig.suptitle(f"Q = M + V_between + V_within per layer (positions: {pos})")
    fig.tight_layout()
    return fig


def draw_all(rows) -> dict:
    return {"layer_profiles": layer_profiles(rows),
            "layer_heatmap_id": _heatmap(rows, "id", "intrinsic dimension"),
            "layer_heatmap_anisotropy": _heatmap(rows, "top_pc_share", "top-PC variance share"),
            "id_vs_step_by_layer": id_vs_step_by_layer(rows),
            "norm_variance_bars": norm_variance_bars(rows)}


def save_all(rows, out_dir: str | os.PathLike, formats=("png", "svg")) -> list[str]:
    """Draw :data:`FIGURES` into ``out_dir`` in each format (atomically); the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in draw_all(rows).items():
        for fmt in formats:
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=110)
            atomic_write(out / f"{name}.{fmt}", [buf.getvalue()])
            written.append(str(out / f"{name}.{fmt}"))
        plt.close(fig)
    return written
