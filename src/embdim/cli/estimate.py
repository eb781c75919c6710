# SPDX-License-Identifier: MIT
"""``embdim estimate``: intrinsic dimension (MLE or TwoNN) of one embedding matrix."""
from __future__ import annotations

import argparse
import sys

from ..estimators import ESTIMATORS
from ._rows import ROWS_DOC, add_rows_flags
from .inputs import add_format_arg, add_sample_args
from .options import add_convention, add_input, add_knn, add_output, add_tensor, command, fmt

EPILOG = """examples:
  embdim estimate e.safetensors --estimator mle --k 10 --json
  embdim estimate e.npy --estimator twonn --device cuda --out id-twonn-k2.json
  embdim estimate glove.6B.300d.txt --format glove --sample 10000 --seed 0 --json

Exact duplicate rows are removed first (n and n_unique report it); fp16/bf16 are up-cast.
JSON keys: estimator, k, id, ed, redundancy (= (ed - id) / ed), n_rows_total, n, n_unique,
n_duplicates, rows, n_tokens, tokenizer,
id_harmonic/id_mean/id_median, normalization, aggregate (mle; id = id_<aggregate>) or
discard_fraction/n_fit (twonn, k = 2),
device, precision, knn_tiers, format (word-vector format, or matrix), sample {n, of, seed}
(null: all rows), plus provenance: input, tensor, dtype, shape, version.
Bad input (missing/unreadable file, not 2-D, NaN/inf, fewer than k+1 unique rows, unknown
tensor) exits 2 with a one-line message.
""" + ROWS_DOC + "\n"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = command(
        subparsers, "estimate", help="intrinsic dimension of an embedding matrix (MLE or TwoNN)",
        description="Intrinsic dimension of the rows of a .npy or .safetensors matrix on exact "
                    "k nearest neighbours: MLE (Levina-Bickel, harmonic mean) or TwoNN (Facco 2017).",
        epilog=EPILOG)
    add_input(p)
    add_format_arg(p)
    add_sample_args(p)
    p.add_argument("--estimator", choices=ESTIMATORS, default="mle",
                   help="estimator (default mle)")
    p.add_argument("--k", type=int, default=10, help="neighbours for mle, >= 2 (default 10; twonn uses 2)")
    add_convention(p)
    add_tensor(p)
    add_knn(p)
    add_output(p)
    add_rows_flags(p)
    p.set_defaults(func=run, human=format_human)
    return p


def _progress_bar(enabled: bool):
    """A one-line query-chunk progress bar on stderr, only on a terminal."""
    if not enabled:
        return None

    def show(done: int, total: int) -> None:
        width = 30
        fill = int(width * done / max(total, 1))
        sys.stderr.write(f"\rkNN [{'#' * fill}{'.' * (width - fill)}] {done}/{total} rows")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show


def run(args: argparse.Namespace) -> dict:
    from ..estimators import estimate
    from .inputs import load, sample_record
    from ..io import write_json
    from . import with_provenance

    loaded, rows, sel = load(args)
    X, meta = loaded.X, loaded.meta
    progress = _progress_bar(not args.json and sys.stderr.isatty())
    res = estimate(X, estimator=args.estimator, k=args.k, device=args.device,
                   precision=args.precision, engine=args.knn_engine,
                   normalization=args.normalization,
                   aggregate=args.aggregate, progress=progress)
    result = with_provenance({**res.to_dict(), **sel.to_dict()}, args, meta)
    result.update(format=meta.get("format", "matrix"), sample=sample_record(args, sel.n_keep, rows))
    if args.out:
        write_json(args.out, result)
    return result


def format_human(r: dict) -> str:
    f = fmt
    line = f"{r['estimator']} (k={r['k']}): ID {f(r['id'])}"
    if r["estimator"] == "mle":
        line += (f" ({r['aggregate']}, {r['normalization']}; harmonic {f(r['id_harmonic'])}, "
                 f"mean {f(r['id_mean'])}, median {f(r['id_median'])})")
    return "\n".join([
        f"{r['input']}  tensor={r['tensor']}  dtype={r['dtype']}  shape={r['shape']}",
        line,
        f"ED {r['ed']}, redundancy {f(r['redundancy'])}",
        f"rows: {r['n']} ({r['n_unique']} unique, {r['n_duplicates']} duplicates removed"
        + (f"; the tokenizer's {r['n_tokens']} of {r['n_rows_total']}" if r.get("rows") == "tokenizer" else "")
        + f"), kNN on {r['device']}",
    ])
