# SPDX-License-Identifier: MIT
"""``embdim integrity``: list a sweep's duplicate, final-weights, missing and no-weights steps
(the report's Integrity section; rule report_integrity)."""
from __future__ import annotations

import argparse
import html

from .options import add_output, command

EPILOG = """example:
  embdim integrity results/summary.tsv --out results/integrity.tsv --html results/integrity.html

One row per model x tensor x step of the summary that is not a clean measurement, with the
column issue: duplicate (duplicate_of is set: the same tensor bytes as an earlier step, or as
model@step of another model), final-weights (the model's last-step tensor served at an earlier
step), missing (no such revision) or no-weights (the revision lacks the tensor).
TSV columns: model, tensor, step, revision, issue, duplicate_of, duplicate_kind, same_as_final,
file, blob_sha256, tensor_sha256.
"""


def add_parser(subparsers) -> None:
    p = command(
        subparsers, "integrity", help="list duplicate, missing and no-weights steps of a summary",
        description="Audit a sweep's summary.tsv: every step whose checkpoint is a duplicate, "
                    "serves the final weights, is missing or holds no weights.",
        epilog=EPILOG)
    p.add_argument("summary", metavar="SUMMARY_TSV", help="results/summary.tsv of a sweep")
    p.add_argument("--html", default=None, metavar="PATH.html",
                   help="also write it as an HTML table (the Snakemake report shows it)")
    add_output(p, metavar="PATH.tsv", help="write the list as TSV (atomically)")
    p.set_defaults(func=run, human=human)


def to_html(entries: list[dict], columns: list[str]) -> str:
    """A standalone HTML page with one table (every cell escaped)."""
    def cell(v):
        return html.escape("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
    head = "".join(f"<th>{cell(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(e.get(c))}</td>" for c in columns) + "</tr>\n"
                   for e in entries)
    note = "" if entries else "<p>No duplicate, final-weights, missing or no-weights step.</p>"
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Integrity</title></head><body>"
            f"<h1>Integrity</h1>{note}<table border=\"1\"><tr>{head}</tr>\n{body}</table></body></html>\n")


def run(args) -> dict:
    from collections import Counter

    from . import check_out_path
    from ..integrity import ISSUE_COLUMNS, issues
    from ..io import atomic_write
    from ..summary import read_summary, to_tsv

    if args.html:
        check_out_path(args.html, "--html")
    entries = issues(read_summary(args.summary))
    if args.out:
        text = to_tsv(entries) if entries else "\t".join(ISSUE_COLUMNS) + "\n"
        atomic_write(args.out, [text.encode()])
    if args.html:
        atomic_write(args.html, [to_html(entries, ISSUE_COLUMNS).encode()])
    return {"summary": args.summary, "out": args.out, "html": args.html,
            "counts": dict(Counter(e["issue"] for e in entries)), "issues": entries}


def human(r: dict) -> str:
    from ..summary import to_tsv

    if not r["out"]:
        return to_tsv(r["issues"]) if r["issues"] else "no integrity issues"
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(r["counts"].items())) or "none"
    return f"wrote {len(r['issues'])} issues to {r['out']} ({counts})"
