# SPDX-License-Identifier: MIT
"""``embdim baseline random``: ID of Gaussian noise of a given shape, for comparison."""
from __future__ import annotations

import argparse
import json

from ..estimators import ESTIMATORS
from .options import add_convention, add_device, add_output, command, fmt

EPILOG = """examples:
  embdim baseline random --n 100000 --dim 300 --k 10 --json
  embdim baseline random --n 50277 --dim 512 --estimator twonn --seed 1
  embdim baseline random --like results/M/embed_in/step143000/measure.json \\
      --estimator mle:10 --estimator mle:5 --estimator twonn --out baseline.json

Draws N samples of N(0, I_D) (numpy default_rng(SEED), float32) and estimates their ID with the
same code path as `embdim estimate`. JSON keys: n, ed (and dim, its older name), seed, estimates (one object per
--estimator: estimator, k, normalization, aggregate, id, id_harmonic, id_mean, id_median,
redundancy), version; with one --estimator also its keys at the top level (k, estimator, id, ...).
Several --estimator (e.g. mle:10 mle:5 twonn) share one sample and one kNN. --like takes N (its
n_unique) and D (its ed) from an `embdim estimate` or `embdim measure` JSON; an explicit --n /
--dim wins. --out writes the same JSON atomically.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = command(subparsers, "baseline", help="ID of a random baseline of the same shape",
                description="ID baselines for comparison with embedding matrices.", epilog=EPILOG)
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    r = command(kinds, "random", help="N(0, I_D) samples",
                description="ID of N samples drawn from N(0, I_D).", epilog=EPILOG)
    r.add_argument("--n", type=int, help="number of samples (rows); required unless --like")
    r.add_argument("--ed", "--dim", dest="dim", type=int,
                   help="ambient (embedding) dimension D, `ed` as in the summary; required "
                        "unless --like (--dim is the older name)")
    r.add_argument("--like", metavar="ESTIMATE.json",
                   help="take N = n_unique and D = ed from an `embdim estimate` JSON")
    r.add_argument("--k", type=int, default=10, help="neighbours for MLE (default 10)")
    r.add_argument("--estimator", action="append", default=None, metavar="NAME[:K]",
                   help=f"{' or '.join(ESTIMATORS)} (with --k), or NAME:K[:NORMALIZATION:AGGREGATE] "
                        "as in `embdim measure`; repeatable: all from one kNN (default mle)")
    add_convention(r, what="MLE (for an --estimator that gives none)")
    r.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_device(r)
    add_output(r)
    r.set_defaults(func=run, human=format_human)
    return p


def shape_like(path: str) -> tuple[int, int]:
    """(n_unique, ed) of an `embdim estimate` JSON: the shape a baseline for it must have.

    Raises
    ------
    InputError
        The file is unreadable, not JSON, or lacks integer n_unique / ed.
    """
    from ..errors import InputError

    try:
        with open(path) as f:
            res = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"--like {path}: cannot read estimate JSON: {e}") from e
    if not isinstance(res, dict):
        raise InputError(f"--like {path}: not an estimate JSON object")
    n, dim = res.get("n_unique"), res.get("ed")
    if isinstance(dim, float) and dim.is_integer():
        dim = int(dim)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, dim)):
        raise InputError(f"--like {path}: needs integer n_unique and ed, got {n!r} and {dim!r}")
    return n, dim


def run(args: argparse.Namespace) -> dict:
    from ..baseline import random_baseline
    from ..errors import InputError
    from ..io import write_json

    n, dim = shape_like(args.like) if args.like else (None, None)
    n = args.n if args.n is not None else n
    dim = args.dim if args.dim is not None else dim
    if n is None or dim is None:
        raise InputError("need --n and --ed (or --like ESTIMATE.json)")
    if n < 2 or dim < 1 or args.k < 2:  # MLE needs two neighbours, as in estimate and measure
        raise InputError(f"need --n >= 2, --ed >= 1, --k >= 2 (got {n}, {dim}, {args.k})")
    from ..estimators import parse_spec

    names = args.estimator or ["mle"]
    specs = [parse_spec(f"{e}:{args.k}" if e == "mle" else e, args.normalization, args.aggregate)
             for e in names]
    res = random_baseline(n, dim, seed=args.seed, device=args.device, specs=specs)
    if args.out:
        write_json(args.out, res)
    return res


def format_human(r: dict) -> str:
    f = fmt
    return "\n".join(
        f"N(0, I_{r['dim']}), n={r['n']}, seed={r['seed']}: {e['estimator']} k={e['k']} "
        f"id={f(e['id'])} (harmonic {f(e['id_harmonic'])}, mean {f(e['id_mean'])}, "
        f"median {f(e['id_median'])})" for e in r["estimates"])
