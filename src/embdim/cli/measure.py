# SPDX-License-Identifier: MIT
"""``embdim measure``: every estimator, its uncertainty, ID vs k, per-token LID and geometry of
one matrix, from one read, one deduplication and one kNN."""
from __future__ import annotations

import argparse
import sys

from ..estimators import DEFAULT_SPECS
from ._rows import ROWS_DOC, add_rows_flags
from .inputs import add_format_arg
from .options import add_convention, add_input, add_knn, add_output, add_tensor, command, fmt

EPILOG = """examples:
  embdim measure e.safetensors --json
  embdim measure e.safetensors --tensor embed_out --estimator mle:10 --estimator twonn \\
      --bootstrap 500 --out measure.json --lid-out lid.npz
  embdim measure e.npy --normalization k --aggregate mean --k-curve 0 --sample 10000 --seed 1
  embdim measure word2vec.bin --format auto --sample 10000 --lid-out lid.npz --json

--estimator NAME[:K[:NORMALIZATION[:AGGREGATE]]] (repeatable; default mle:10 mle:5 twonn): an MLE
without its own convention takes --normalization (LID = (k-1)/S Levina-Bickel, (k-2)/S or k/S,
S = sum_{j=1}^{k-1} ln(T_k/T_j)) and --aggregate (harmonic = n / sum 1/LID, mean, median). One
exact kNN runs at the largest k needed (estimators, --k-curve); each estimator is a slice of it.
--bootstrap B: 95% percentile interval over the distinct rows, kNN graph fixed (MLE resamples the
local IDs, TwoNN resamples mu and refits); it covers the sampling of tokens, not the change of
neighbourhoods when points are removed. --sample N measures N rows drawn without replacement.

JSON keys: n_rows_total, n, n_unique, ed, rows, n_tokens, tokenizer, knn {k_max, engine, tiers, device, precision}, estimates [{estimator,
k, normalization, aggregate, id, redundancy, id_mean, id_median, ci_low, ci_high, se, bootstrap,
...}], id_vs_k {k, id, normalization, aggregate}, geometry (the keys of `embdim geometry`, null
with --no-geometry), sample, bootstrap, seconds, provenance {input, tensor, dtype, shape, version}.
--lid-out FILE.npz: lid_k<k> per MLE, twonn_mu, row and unique_of, indexed by the ORIGINAL row
(row i = token id i; a duplicate carries its representative's value; rows not drawn by --sample
are NaN, unique_of -1; so are rows dropped by --rows tokenizer). Word vectors (--format, or
found by auto): lid.npz holds the measured words only, in file order: row = the word's index in
the file, word = the word; provenance gains format. Bad input exits 2 with a one-line message.
""" + ROWS_DOC + "\n"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = command(
        subparsers, "measure", help="all estimators + CI + ID vs k + LID + geometry of one matrix",
        description="Measure one .npy or .safetensors matrix: every estimator from one exact kNN, "
                    "with its convention, bootstrap interval, ID vs k, per-row local IDs and the "
                    "geometry of the same distinct rows.",
        epilog=EPILOG)
    add_input(p)
    add_format_arg(p)
    add_tensor(p)
    p.add_argument("--estimator", action="append", default=None, metavar="NAME[:K]",
                   help="mle:K or twonn, optionally mle:K:NORMALIZATION:AGGREGATE (repeatable; "
                        f"default {' '.join(DEFAULT_SPECS)})")
    add_convention(p, what="MLE (for an --estimator that gives none)")
    p.add_argument("--k-curve", type=int, default=32, metavar="KMAX",
                   help="MLE ID at every k = 2..KMAX (default 32; 0 = off)")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap replicates for the 95%% interval (default 200; 0 = off)")
    p.add_argument("--sample", type=int, default=None, metavar="N",
                   help="measure N rows drawn without replacement (default: all rows)")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample and --bootstrap (default 0)")
    p.add_argument("--geometry", action=argparse.BooleanOptionalAction, default=True,
                   help="also compute the geometry of the distinct rows (default: yes)")
    add_knn(p, threads=True)
    add_output(p)
    p.add_argument("--lid-out", default=None, metavar="FILE.npz",
                   help="write the per-row local IDs here (atomically)")
    add_rows_flags(p)
    p.set_defaults(func=run, human=format_human)
    return p


def run(args: argparse.Namespace) -> dict:
    from . import check_out_path, provenance
    from ..errors import InputError
    from ..estimators import parse_spec
    from ..measure import measure, sample_rows, write_lid
    from .inputs import load
    from ..io import write_json
    from .estimate import _progress_bar

    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be >= 1 (got {args.threads})")
        import torch
        torch.set_num_threads(args.threads)
    if args.lid_out:
        if not str(args.lid_out).endswith(".npz"):
            raise InputError(f"--lid-out {args.lid_out}: expected a .npz path")
        check_out_path(args.lid_out, "--lid-out")  # before any work, as --out
    specs = [parse_spec(s, args.normalization, args.aggregate)
             for s in (args.estimator or DEFAULT_SPECS)]
    # the rows --rows drops stay in lid.npz as NaN (row i = token id i): measure(n_rows=...) skips them
    loaded, _, sel = load(args, sample=False, drop_rows=False)
    X, meta, words = loaded.X, loaded.meta, loaded.words
    rows = None
    if words is not None:  # words: draw the sample here, so lid.npz holds only measured words
        rows = sample_rows(len(X), args.sample, args.seed)
        if rows is not None:
            X, words = X[rows], [words[i] for i in rows]
    m = measure(X, specs, k_curve=args.k_curve, normalization=args.normalization,
                aggregate=args.aggregate, bootstrap=args.bootstrap,
                sample=args.sample if words is None else None,
                seed=args.seed, geometry=args.geometry, device=args.device,
                precision=args.precision, engine=args.knn_engine,
                progress=_progress_bar(not args.json and sys.stderr.isatty()),
                n_rows=sel.n_keep if words is None else None)  # words: --rows all only
    # n_rows_total: the file's rows (words drawn before measure() count from the whole file)
    total = m.result["n_rows_total"] if words is None else int(meta["shape"][0])
    result = {**m.result, **sel.to_dict(), "n_rows_total": total}
    result["provenance"] = {**provenance(args, meta), "command": "embdim measure",
                            "estimators": [s.full for s in specs],
                            "format": meta.get("format", "matrix")}
    if words is not None:
        _word_arrays(m, result, args, meta["shape"][0], rows, words)
    if args.lid_out:
        write_lid(args.lid_out, m.arrays)
    if args.out:
        write_json(args.out, result)
    return result


def _word_arrays(m, result: dict, args, n_total: int, rows, words: list[str]) -> None:
    """Word vectors: lid.npz rows are the measured words, ``row`` their index in the file and
    ``word`` the word itself; ``sample`` says how many of the file's words were drawn."""
    import numpy as np

    if rows is not None:
        m.arrays["row"] = rows.astype(np.int64)
        result["sample"] = {"n": int(len(rows)), "of": int(n_total), "seed": int(args.seed)}
    m.arrays["word"] = np.array(words, dtype=str)


def format_human(r: dict) -> str:
    f = fmt
    p = r["provenance"]
    lines = [f"{p['input']}  tensor={p['tensor']}  dtype={p['dtype']}  shape={p['shape']}",
             f"rows: {r['n']} ({r['n_unique']} distinct), ED {r['ed']}; one kNN at k={r['knn']['k_max']} "
             f"on {r['knn']['device']}"]
    if r.get("rows") == "tokenizer":
        lines.append(f"rows kept: the tokenizer's {r['n_tokens']} of {r['n_rows_total']} ({r['tokenizer']})")
    for e in r["estimates"]:
        conv = f", {e['normalization']}, {e['aggregate']}" if e["normalization"] else ""
        ci = f" [{f(e['ci_low'])}, {f(e['ci_high'])}] (B={e['bootstrap']})" if e["ci_low"] is not None else ""
        lines.append(f"  {e['estimator']} k={e['k']}{conv}: ID {f(e['id'])}{ci}")
    curve = r["id_vs_k"]
    if curve["k"]:
        lines.append(f"ID vs k ({curve['normalization']}, {curve['aggregate']}): "
                     + ", ".join(f"{k}:{f(v)}" for k, v in zip(curve["k"], curve["id"])
                                 if k in (curve["k"][0], 5, 10, 20, curve["k"][-1])))
    g = r.get("geometry")
    if g:
        lines.append(f"geometry: mean cosine {f(g['mean_cosine'])}, PC1 share {f(g['top_pc_share'])}, "
                     f"isotropy {f(g['isotropy'])}, PCA dim 90% {g['pca_dim_90']}")
    return "\n".join(lines)
