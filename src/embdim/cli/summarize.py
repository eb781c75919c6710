# SPDX-License-Identifier: MIT
"""``embdim summarize``: gather a sweep's results into one TSV (the rule summarize_sweep)."""
from __future__ import annotations

import argparse
import re
from collections import Counter

from ..errors import InputError
from .options import command

EPILOG = """example:
  embdim summarize results --model EleutherAI/pythia-14m --steps 1000,2000,5000-10000:5000 \\
      --tensor embed_in --tensor embed_out --estimator mle:10 --estimator twonn --baseline \\
      --out results/summary.tsv
"""


def add_parser(subparsers) -> None:
    p = command(
        subparsers, "summarize", help="gather per-checkpoint results into summary.tsv",
        description="One row per model x tensor x step x estimator; missing steps get "
                    "status=missing; a checkpoint whose tensor bytes equal an earlier one's gets "
                    "duplicate_of=<earlier step> (or <model>@<step> across models), duplicate_kind "
                    "blob|tensor and same_as_final.",
        epilog=EPILOG)
    p.add_argument("results", metavar="RESULTS_DIR", help="the sweep's results/ directory")
    p.add_argument("--model", action="append", required=True,
                   help="Hub repo id or local run directory, as in the config (repeatable)")
    p.add_argument("--steps", required=True,
                   help="comma-separated steps; START-STOP:EVERY is a range, stop inclusive")
    p.add_argument("--estimator", action="append", required=True, metavar="NAME:K",
                   help="estimator and k, e.g. mle:10, mle:10:k-2:mean or twonn (repeatable; "
                        "MLE without a convention: k-1, harmonic)")
    p.add_argument("--tensor", action="append", default=None,
                   help="tensor swept, as in the config (repeatable; default embed_in)")
    p.add_argument("--geometry", action=argparse.BooleanOptionalAction, default=True,
                   help="join the geometry columns of measure.json (default: yes)")
    p.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=False,
                   help="join baseline_id from <model>/<tensor>/baseline.json (default: no)")
    p.add_argument("--tokens-per-step", type=int, default=None, metavar="N",
                   help="tokens seen per step, for the tokens column where the revision name carries "
                        "none (default 2097152: Pythia, 1024 x 2048)")
    p.add_argument("--revision-pattern", default=None, metavar="REGEX",
                   help="the listing's revision pattern (as for `embdim revisions`), for tokens carried "
                        "in revision names")
    p.add_argument("--out", help="write the TSV here (atomically); default: print it")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run, human=human)


def parse_steps(text: str) -> list[int]:
    """``"1000,2000,5000-10000:5000"`` -> sorted unique ints (ranges stop-inclusive)."""
    from ..config import expand_steps

    items: list = []  # the config's own form: ints and {start, stop, every}
    for part in filter(None, (s.strip() for s in text.split(","))):
        m = re.fullmatch(r"(\d+)-(\d+):(\d+)", part)
        if m:
            start, stop, every = map(int, m.groups())
            if every < 1 or start > stop:
                raise InputError(f"--steps: bad range {part!r}")
            items.append({"start": start, "stop": stop, "every": every})
        elif part.isdigit():
            items.append(int(part))
        else:
            raise InputError(f"--steps: {part!r} is neither a step nor START-STOP:EVERY")
    if not items:
        raise InputError("--steps: no steps given")
    return expand_steps(items)


def parse_estimator(text: str):
    """``mle:10`` / ``mle:10:k-2:mean`` / ``twonn:2`` / ``twonn`` -> EstimatorSpec (registry names)."""
    from ..estimators import parse_spec

    return parse_spec(text)


def run(args) -> dict:
    from ..revnames import TOKENS_PER_STEP
    from ..summary import summarize, write_tsv

    tps = TOKENS_PER_STEP if args.tokens_per_step is None else args.tokens_per_step
    if tps < 1:
        raise InputError(f"--tokens-per-step must be >= 1 (got {tps})")
    rows = summarize(args.results, args.model, parse_steps(args.steps),
                     [parse_estimator(e) for e in args.estimator], geometry=args.geometry,
                     baseline=args.baseline, tensors=args.tensor or ["embed_in"], tokens_per_step=tps,
                     revision_pattern=args.revision_pattern)
    if args.out:
        write_tsv(rows, args.out)
    counts = Counter(r["status"] for r in rows)
    return {"out": args.out, "n_rows": len(rows), "status_counts": dict(counts),
            "duplicates": sum(r["duplicate_of"] is not None for r in rows),
            "rows": rows}


def human(result: dict) -> str:
    from ..summary import to_tsv

    if not result["out"]:  # no file: the table itself is the output
        return to_tsv(result["rows"])
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(result["status_counts"].items()))
    return f"wrote {result['n_rows']} rows to {result['out']} ({counts})"
