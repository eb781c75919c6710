# SPDX-License-Identifier: MIT
"""``embdim layers summarize|plot``: the layers.tsv table of a sweep's hidden-state results, and
its figures (rules summarize_layers, plot_layers)."""
from __future__ import annotations

import argparse

from .options import command

EPILOG = """examples:
  embdim layers summarize results --model results/demo/adam --steps 0,64,600 \\
      --estimator mle:10 --estimator twonn --out results/layers.tsv
  embdim layers plot results/layers.tsv --out-dir results/plots/layers

summarize reads results/<model>/revisions.tsv and results/<model>/hidden/<revision>/
layers-sample.json (and layers-shuffled.json where present). Columns: model, step, revision,
commit, layer, depth (layer/L), n, n_unique, d, estimator, k, id, ci_low, ci_high,
mean_cosine, top_pc_share, isotropy, pca_dim_90, pca_dim_95, pca_dim_99, effective_rank,
m, v, q, v_within, v_between, corpus_sha256, sample_sha256, status, positions (all|skip0),
tokens (sample|shuffled), duplicate_of. plot writes layer_profiles, layer_heatmap_id,
layer_heatmap_anisotropy, id_vs_step_by_layer and norm_variance_bars (.png and .svg).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = command(subparsers, "layers", help="layers.tsv and its figures (hidden states)",
                description="Tabulate and plot per-layer hidden-state results.", epilog=EPILOG)
    kinds = p.add_subparsers(dest="kind", metavar="ACTION", required=True)
    s = kinds.add_parser("summarize", help="write layers.tsv")
    s.add_argument("results", metavar="RESULTS_DIR")
    s.add_argument("--model", action="append", required=True, help="model as in the config (repeatable)")
    s.add_argument("--steps", required=True, help="comma-separated steps; START-STOP:EVERY ranges")
    s.add_argument("--estimator", action="append", default=None,
                   help="mle:K or twonn (repeatable; default mle:10 mle:5 twonn)")
    s.add_argument("--positions", default="all,skip0", help="position sets (default all,skip0)")
    s.add_argument("--out", default=None, metavar="LAYERS.tsv")
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.set_defaults(func=run_summarize, human=lambda r: f"wrote {r['n_rows']} rows to {r['out']}")
    q = kinds.add_parser("plot", help="draw the layer figures")
    q.add_argument("table", metavar="LAYERS_TSV")
    q.add_argument("--out-dir", required=True)
    q.add_argument("--format", default="png,svg", help="comma-separated: png, svg, pdf")
    q.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    q.set_defaults(func=run_plot, human=lambda r: "\n".join(r["files"]))
    return p


def run_summarize(args) -> dict:
    from collections import Counter

    from ..errors import InputError
    from ..estimators import DEFAULT_SPECS, parse_spec
    from ..hidden.table import summarize_layers, write_layers_tsv
    from .summarize import parse_steps

    positions = [x for x in args.positions.split(",") if x]
    if not positions or any(x not in ("all", "skip0") for x in positions):
        raise InputError(f"--positions: a comma-separated list of all, skip0; got {args.positions!r}")
    specs = [parse_spec(e) for e in (args.estimator or DEFAULT_SPECS)]
    rows = summarize_layers(args.results, args.model, parse_steps(args.steps), specs, positions)
    if args.out:
        write_layers_tsv(rows, args.out)
    return {"out": args.out, "n_rows": len(rows),
            "status_counts": dict(Counter(r["status"] for r in rows))}


def run_plot(args) -> dict:
    from ..errors import InputError
    from ..hidden.plots import save_all
    from ..hidden.table import read_layers_tsv

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    if not formats or any(f not in ("png", "svg", "pdf") for f in formats):
        raise InputError(f"--format: use png, svg, pdf (got {args.format!r})")
    files = save_all(read_layers_tsv(args.table), args.out_dir, formats)
    return {"table": args.table, "out_dir": args.out_dir, "files": files}
