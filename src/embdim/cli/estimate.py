# SPDX-License-Identifier: MIT
"""``embdim estimate``: intrinsic dimension (MLE or TwoNN) of one embedding matrix."""
from __future__ import annotations

import argparse
import sys

from ..estimators import AGGREGATES, ESTIMATORS, NORMALIZATIONS
from ..knn import ENGINES
from .inputs import add_format_arg, add_sample_args

EPILOG = """examples:
  embdim estimate e.safetensors --estimator mle --k 10 --json
  embdim estimate e.npy --estimator twonn --device cuda --out id-twonn-k2.json
  embdim estimate glove.6B.300d.txt --format glove --sample 10000 --seed 0 --json

Exact duplicate rows are removed first (n and n_unique report it); fp16/bf16 are up-cast.
JSON keys: estimator, k, id, ed, redundancy (= (ed - id) / ed), n, n_unique, n_duplicates,
id_harmonic/id_mean/id_median, normalization, aggregate (mle; id = id_<aggregate>) or
discard_fraction/n_fit (twonn, k = 2),
device, precision, knn_tiers, format (word-vector format, or matrix), sample {n, of, seed}
(null: all rows), plus provenance: input, tensor, dtype, shape, version.
Bad input (missing/unreadable file, not 2-D, NaN/inf, fewer than k+1 unique rows, unknown
tensor) exits 2 with a one-line message.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "estimate", help="intrinsic dimension of an embedding matrix (MLE or TwoNN)",
        description="Intrinsic dimension of the rows of a .npy or .safetensors matrix on exact "
                    "k nearest neighbours: MLE (Levina-Bickel, harmonic mean) or TwoNN (Facco 2017).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT",
                   help=".npy, .safetensors, torch .bin or word-vector file (see --format)")
    add_format_arg(p)
    add_sample_args(p)
    p.add_argument("--estimator", choices=ESTIMATORS, default="mle",
                   help="estimator (default mle)")
    p.add_argument("--k", type=int, default=10, help="neighbours for mle, >= 2 (default 10; twonn uses 2)")
    p.add_argument("--normalization", choices=tuple(NORMALIZATIONS), default="k-1",
                   help="MLE local estimate (k-1)/S (Levina-Bickel, default), (k-2)/S or k/S, "
                        "S = sum_{j<k} ln(T_k/T_j)")
    p.add_argument("--aggregate", choices=AGGREGATES, default="harmonic",
                   help="MLE global value reported as id: harmonic (default), mean or median")
    p.add_argument("--tensor", default=None,
                   help="tensor name or alias embed_in/embed_out (default: the only 2-D tensor, "
                        "else gpt_neox.embed_in.weight)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="kNN device (default auto: cuda when available)")
    p.add_argument("--precision", choices=("bf16", "fp32", "fp64"), default=None,
                   help="first tier of the kNN candidate search (older switch; see "
                        "--knn-engine); results are exact either way")
    p.add_argument("--knn-engine", choices=("auto",) + ENGINES, default=None,
                   help="kNN candidate engine (default auto, or $EMBDIM_KNN_ENGINE: torch-bf16 "
                        "on CUDA and on CPUs with native bf16, sym-fp32 on other CPUs); "
                        "results are exact with every engine")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--out", default=None, metavar="PATH.json",
                   help="also write the JSON result here (atomically)")
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

    loaded, rows = load(args)
    X, meta = loaded.X, loaded.meta
    progress = _progress_bar(not args.json and sys.stderr.isatty())
    res = estimate(X, estimator=args.estimator, k=args.k, device=args.device,
                   precision=args.precision, engine=args.knn_engine,
                   normalization=args.normalization,
                   aggregate=args.aggregate, progress=progress)
    result = with_provenance(res.to_dict(), args, meta)
    result.update(format=meta.get("format", "matrix"), sample=sample_record(args, meta["shape"][0], rows))
    if args.out:
        write_json(args.out, result)
    return result


def format_human(r: dict) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:.4g}"
    line = f"{r['estimator']} (k={r['k']}): ID {f(r['id'])}"
    if r["estimator"] == "mle":
        line += (f" ({r['aggregate']}, {r['normalization']}; harmonic {f(r['id_harmonic'])}, "
                 f"mean {f(r['id_mean'])}, median {f(r['id_median'])})")
    return "\n".join([
        f"{r['input']}  tensor={r['tensor']}  dtype={r['dtype']}  shape={r['shape']}",
        line,
        f"ED {r['ed']}, redundancy {f(r['redundancy'])}",
        f"rows: {r['n']} ({r['n_unique']} unique, {r['n_duplicates']} duplicates removed), "
        f"kNN on {r['device']}",
    ])
