# SPDX-License-Identifier: MIT
"""``embdim baseline random``: ID of Gaussian noise of a given shape, for comparison."""
from __future__ import annotations

import argparse

EPILOG = """examples:
  embdim baseline random --n 100000 --dim 300 --k 10 --json
  embdim baseline random --n 50277 --dim 512 --estimator twonn --seed 1

Draws N samples of N(0, I_D) (numpy default_rng(SEED), float32) and estimates their ID with the
same code path as `embdim estimate`. JSON keys: n, dim, k, estimator, seed, id, id_harmonic,
id_mean, id_median, redundancy, version.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("baseline", help="ID of a random baseline of the same shape",
                              description="ID baselines for comparison with embedding matrices.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    r = kinds.add_parser("random", help="N(0, I_D) samples",
                         description="ID of N samples drawn from N(0, I_D).",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--n", type=int, required=True, help="number of samples (rows)")
    r.add_argument("--dim", type=int, required=True, help="ambient dimension D")
    r.add_argument("--k", type=int, default=10, help="neighbours for MLE (default 10)")
    r.add_argument("--estimator", choices=("mle", "twonn"), default="mle")
    r.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    r.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    r.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    r.set_defaults(func=run, human=format_human)
    return p


def run(args: argparse.Namespace) -> dict:
    from ..baseline import random_baseline
    from ..errors import InputError

    if args.n < 2 or args.dim < 1 or args.k < 1:
        raise InputError(f"need --n >= 2, --dim >= 1, --k >= 1 (got {args.n}, {args.dim}, {args.k})")
    return random_baseline(args.n, args.dim, k=args.k, estimator=args.estimator, seed=args.seed,
                           device=args.device)


def format_human(r: dict) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:.4g}"
    return (f"N(0, I_{r['dim']}), n={r['n']}, seed={r['seed']}: {r['estimator']} k={r['k']} "
            f"id={f(r['id'])} (harmonic {f(r['id_harmonic'])}, mean {f(r['id_mean'])}, "
            f"median {f(r['id_median'])})")
