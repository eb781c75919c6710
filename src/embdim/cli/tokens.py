# SPDX-License-Identifier: MIT
"""``embdim tokens``: every token's local ID at every measured step (``tokens.tsv``), a figure of
chosen trajectories and the report's table of extremes (rule tabulate_tokens)."""
from __future__ import annotations

import argparse

from .options import add_output, command

EPILOG = """examples:
  embdim tokens results/local--results-demo-adam/embed_in
  embdim tokens results/EleutherAI--pythia-70m/embed_in --steps 1000,143000 \\
      --tokenizer tokenizer.json --figure tokens_lid.png --top-out tokens_top20.html --json

TENSOR_DIR is results/{model}/{tensor}; its step<N>/lid.npz files (embdim measure --lid-out) are
read, every one unless --steps names some. tokens.tsv (default TENSOR_DIR/tokens.tsv) has one row
per token id the tokenizer knows (padding rows are left out) and the columns token_id, token (decoded
with the tokenizers library; backslash, tab, newline, CR as \\\\ \\t \\n \\r, other control characters
as \\xHH / \\uHHHH), lid_step<N> for each step ascending (empty: not measured there). The LID is the
lid.npz array --key (default: the first lid_k<k>, i.e. the sweep's first MLE estimator). Tokenizer
(default): TENSOR_DIR/step<last>/tokenizer.json, TENSOR_DIR/tokenizer.json, then its parent's.
--figure: trajectories of the 5 tokens of highest and of lowest final LID and of 5 frequent ones
(the tokens formed by the BPE's first merges). --top-out: HTML tables of the --top highest- and
lowest-LID tokens at the first and the last step.
JSON keys: out, figure, top_out, tokenizer, key, steps, columns, n_tokens, n_rows, frequent,
extremes [{step, highest [{token_id, token, lid}], lowest}].
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = command(
        subparsers, "tokens", help="per-token LID over training (tokens.tsv) from lid.npz files",
        description="Tabulate each token's local ID at every measured step of one model's tensor.",
        epilog=EPILOG)
    p.add_argument("tensor_dir", metavar="TENSOR_DIR", help="results/{model}/{tensor}")
    p.add_argument("--steps", default=None, help="comma-separated steps (default: every step found)")
    p.add_argument("--tokenizer", default=None, metavar="PATH", help="tokenizer.json to decode with")
    p.add_argument("--key", default=None, help="lid.npz array (default: the first lid_k<k>)")
    p.add_argument("--figure", default=None, metavar="PATH.png|svg|pdf", help="trajectory figure")
    p.add_argument("--top-out", default=None, metavar="PATH.html", help="report table of extremes")
    p.add_argument("--top", type=int, default=20, help="tokens per list in --top-out/JSON (default 20)")
    add_output(p, metavar="PATH.tsv", help="table to write (default TENSOR_DIR/tokens.tsv), atomically")
    p.set_defaults(func=run, human=human)
    return p


def _tokenizer(args, steps: list[int]):
    from pathlib import Path

    from ..errors import InputError
    from ..formats.tokenizer import TOKENIZER_FILE, find_tokenizer

    if args.tokenizer:
        return find_tokenizer(args.tensor_dir, args.tokenizer)
    d = Path(args.tensor_dir).absolute()
    for cand in (d / f"step{steps[-1]}" / TOKENIZER_FILE, d / TOKENIZER_FILE, d.parent / TOKENIZER_FILE):
        if cand.is_file():
            return cand
    raise InputError(f"{args.tensor_dir}: no tokenizer.json (in step{steps[-1]}/, the directory or its "
                     "parent); name one with --tokenizer PATH")


def run(args) -> dict:
    from pathlib import Path

    from . import check_out_path
    from .summarize import parse_steps
    from ..errors import InputError
    from ..formats.tokenizer import read_tokenizer_bytes
    from ..io import atomic_write
    from ..tokens import build_table, extremes_html, find_lid_files, frequent_ids, to_tsv

    if args.top < 1:
        raise InputError(f"--top must be >= 1, got {args.top}")
    out = args.out or str(Path(args.tensor_dir) / "tokens.tsv")
    check_out_path(out)
    for flag, path in (("--figure", args.figure), ("--top-out", args.top_out)):
        if path:
            check_out_path(path, flag)
    if args.figure and not args.figure.endswith((".png", ".svg", ".pdf")):
        raise InputError(f"--figure {args.figure}: expected .png, .svg or .pdf")
    want = parse_steps(args.steps) if args.steps else None
    files = find_lid_files(args.tensor_dir, want)
    if not files:
        raise InputError(f"{args.tensor_dir}: no step<N>/lid.npz"
                         + (f" for steps {args.steps}" if args.steps else ""))
    if want and set(want) - set(files):
        raise InputError(f"{args.tensor_dir}: no lid.npz for step(s) "
                         f"{', '.join(map(str, sorted(set(want) - set(files))))}")
    tok_path = _tokenizer(args, sorted(files))
    raw = read_tokenizer_bytes(tok_path)
    table = build_table(files, raw, args.key, str(tok_path))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, [to_tsv(table).encode("utf-8")])
    n = len(table.tokens)
    final = table.extremes(table.steps[-1], 5)
    frequent = frequent_ids(raw, n)
    where = Path(args.tensor_dir).absolute()
    title = f"{where.parent.name} {where.name}: per-token local ID"
    if args.figure:
        from ..token_plots import save_figure, token_trajectories
        groups = {"highest final LID": [e["token_id"] for e in final["highest"]],
                  "lowest final LID": [e["token_id"] for e in final["lowest"]],
                  "frequent (first BPE merges)": frequent}
        save_figure(token_trajectories(table, groups, title), args.figure)
    if args.top_out:
        atomic_write(args.top_out, [extremes_html(table, title, args.top).encode("utf-8")])
    return {"out": out, "figure": args.figure, "top_out": args.top_out, "tokenizer": str(tok_path),
            "key": table.key, "steps": table.steps, "columns": table.columns, "n_tokens": n,
            "n_rows": table.n_rows, "frequent": frequent,
            "extremes": [table.extremes(s, args.top) for s in dict.fromkeys([table.steps[0], table.steps[-1]])]}


def human(r: dict) -> str:
    last = r["extremes"][-1]
    hi = ", ".join(repr(e["token"]) for e in last["highest"][:5])
    lo = ", ".join(repr(e["token"]) for e in last["lowest"][:5])
    return (f"wrote {r['out']}: {r['n_tokens']} tokens x {len(r['steps'])} steps ({r['key']})\n"
            f"step {last['step']}: highest LID {hi}; lowest {lo}")
