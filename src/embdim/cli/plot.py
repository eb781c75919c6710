# SPDX-License-Identifier: MIT
"""``embdim plot``: draw a sweep's figures from summary.tsv (the rule plot_dynamics)."""
from __future__ import annotations

import argparse

from ..errors import InputError
from .options import command

EPILOG = """example:
  embdim plot results/summary.tsv --results results --out-dir results/plots --format png,svg
  embdim plot results/summary.tsv --out-dir results/plots --x-axis tokens

Steps flagged in the summary (duplicate_of, or same_as_final before the last step) are drawn
hollow and left out of the lines.
"""


def add_parser(subparsers) -> None:
    p = command(
        subparsers, "plot", help="draw ID/redundancy/geometry vs step from summary.tsv",
        description="Writes OUT_DIR/<tensor>/ id_vs_step, id_vs_step_log (with bootstrap CI "
                    "bands), id_vs_step_overlay, redundancy_vs_step, final_id_vs_size, "
                    "geometry_vs_step, lid_histograms and id_vs_k in each format.",
        epilog=EPILOG)
    p.add_argument("summary", metavar="SUMMARY_TSV", help="results/summary.tsv of a sweep")
    p.add_argument("--out-dir", required=True, help="directory for the figures")
    p.add_argument("--results", default=None, metavar="RESULTS_DIR",
                   help="the sweep's results/ directory: per-token LIDs (lid.npz) and ID vs k "
                        "(measure.json) for lid_histograms and id_vs_k")
    p.add_argument("--tensor", action="append", default=None,
                   help="draw only this tensor's figures (repeatable; default: every tensor in "
                        "the summary)")
    p.add_argument("--format", default="png,svg", help="comma-separated: png, svg, pdf (default png,svg)")
    p.add_argument("--x-axis", choices=("step", "tokens"), default="step",
                   help="x axis of the figures over training: step (default) or tokens seen "
                        "(the summary's tokens column)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run, human=lambda r: "\n".join(r["files"]))


def run(args) -> dict:
    from ..plots import save_all
    from ..summary import read_summary

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("png", "svg", "pdf")]
    if bad or not formats:
        raise InputError(f"--format: unsupported {', '.join(bad) or 'empty list'} (use png, svg, pdf)")
    rows = read_summary(args.summary)
    if args.tensor:
        unknown = sorted(set(args.tensor) - {r["tensor"] for r in rows})
        if unknown:
            raise InputError(f"--tensor {', '.join(unknown)}: not in {args.summary}")
        rows = [r for r in rows if r["tensor"] in args.tensor]
    files = save_all(rows, args.out_dir, formats, results_dir=args.results, x_axis=args.x_axis)
    return {"summary": args.summary, "out_dir": args.out_dir, "files": files,
            "models": list(dict.fromkeys(r["model"] for r in rows))}
