# SPDX-License-Identifier: MIT
"""Figures of the static summary, in the shape of the paper's tables: draws, never computes.

``table3``: one group of bars per tokenizer (SentencePiece, BPE, whitespace), one bar per model
(Word2Vec, FastText) with its bootstrap 95 % interval, the paper's value as a hollow star and the
random N(0, I) baseline of the same shape as a grey x. ``table1``: one bar per word-vector file.
"""
from __future__ import annotations

from pathlib import Path

TOKENIZER_LABELS = {"sentencepiece": "SentencePiece", "bpe": "BPE", "whitespace": "whitespace"}
MODEL_LABELS = {"word2vec": "Word2Vec", "fasttext": "FastText"}
COLOURS = {"word2vec": "tab:blue", "fasttext": "tab:orange"}
FIGURES = ("table3", "table1")


def plot_static(rows: list[dict], out_dir: str | Path, exts=("png", "svg")) -> list[str]:
    """Write ``table3`` and ``table1`` (one per extension) into ``out_dir``; returns the paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in (("table3", _table3), ("table1", _table1)):
        fig, ax = plt.subplots(figsize=(7, 4))
        draw(ax, [r for r in rows if r["table"] == int(name[-1])])
        fig.tight_layout()
        for ext in exts:
            p = out_dir / f"{name}.{ext}"
            tmp = p.with_name(f".{p.name}.tmp.{ext}")
            fig.savefig(tmp)
            tmp.replace(p)  # atomic: a killed job leaves no half-drawn figure
            paths.append(str(p))
        plt.close(fig)
    return paths


def _label(r) -> str:
    return f"{r['estimator']} k={r['k']}" if r["estimator"] == "mle" else r["estimator"]


def _bar(ax, x, r, width, colour, label):
    err = None
    if r["ci_low"] is not None and r["ci_high"] is not None:
        err = [[r["id"] - r["ci_low"]], [r["ci_high"] - r["id"]]]
    ax.bar(x, r["id"], width, color=colour, label=label, yerr=err, capsize=3)
    ax.annotate(f"{r['id']:.1f}", (x, r["id"]), textcoords="offset points", xytext=(0, 4),
                ha="center", fontsize=7)
    if r["paper_id"] is not None:
        ax.plot(x, r["paper_id"], marker="*", ms=12, mfc="none", mec="black", ls="none")
    if r["baseline_id"] is not None:
        ax.plot(x, r["baseline_id"], marker="x", ms=8, color="grey", ls="none")


def _legend_extras(ax):
    ax.plot([], [], marker="*", ms=12, mfc="none", mec="black", ls="none", label="paper")
    ax.plot([], [], marker="x", ms=8, color="grey", ls="none", label="random N(0,I), same shape")
    ax.legend(fontsize=8)


def _table3(ax, rows):
    rows = [r for r in rows if r["estimator"] == rows[0]["estimator"] and r["k"] == rows[0]["k"]] if rows else []
    toks = list(dict.fromkeys(r["tokenizer"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    width = 0.8 / max(len(models), 1)
    for j, model in enumerate(models):
        for i, tok in enumerate(toks):
            for r in rows:
                if r["model"] == model and r["tokenizer"] == tok:
                    _bar(ax, i + (j - (len(models) - 1) / 2) * width, r, width,
                         COLOURS.get(model), MODEL_LABELS.get(model, model) if i == 0 else None)
    ax.set_xticks(range(len(toks)), [TOKENIZER_LABELS.get(t, t) for t in toks])
    what = _label(rows[0]) if rows else "ID"
    ax.set_ylabel(f"intrinsic dimension ({what})")
    ns = sorted({int(r["n"]) for r in rows}) or [0]
    ed = rows[0]["ed"] if rows else "?"
    words = f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"
    ax.set_title(f"Table 3: static embeddings by tokenizer (ED {ed}, {words} words each)", fontsize=9)
    _legend_extras(ax)


def _table1(ax, rows):
    if not rows:
        ax.text(0.5, 0.5, "no word-vector files configured (static.vectors)", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    rows = [r for r in rows if r["estimator"] == rows[0]["estimator"] and r["k"] == rows[0]["k"]]
    for i, r in enumerate(rows):
        _bar(ax, i, r, 0.6, "tab:green", None)
    ax.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=15, fontsize=8)
    ax.set_ylabel(f"intrinsic dimension ({_label(rows[0])})")
    ax.set_title("Table 1: pretrained word vectors", fontsize=9)
    _legend_extras(ax)
