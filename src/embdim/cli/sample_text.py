# SPDX-License-Identifier: MIT
"""``embdim sample-text``: a fixed, seeded token sample for the hidden-state measurements."""
from __future__ import annotations

import argparse

from .options import command

EPILOG = """examples:
  embdim sample-text --corpus pydoc --tokenizer EleutherAI/pythia-14m --out sample.npz
  embdim sample-text --corpus stdlib --tokenizer results/demo/adam --n-seq 32 --seq-len 64 --out s.npz
  embdim sample-text --corpus enwik8 --tokenizer tokenizer.json --seed 1 --out s.npz --json

--corpus: pydoc (the stdlib's pydoc_data.topics, 465 kB of English on every Python), stdlib (the
demo's corpus: the stdlib's top-level .py modules) or a text FILE (enwik8, BookCorpus, ...).
Documents are joined with "\\n\\n" and tokenised without special tokens (no token 0 is inserted);
--n-seq windows of --seq-len consecutive tokens are drawn without replacement (seeded) and kept
in corpus order. --tokenizer: a tokenizer.json, a directory holding one, or a Hub repo (its
tokenizer.json at main). The .npz holds tokens (n_seq x seq_len int64), windows (start offsets)
and n_seq, seq_len, seed, corpus, corpus_sha256 (of the joined UTF-8 text), corpus_tokens,
tokenizer, tokenizer_sha256, sample_sha256 (of the ids as little-endian int64) - the JSON keys.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = command(
        subparsers, "sample-text", help="draw a fixed token sample from a corpus (for embdim hidden)",
        description="Tokenise a corpus and draw n_seq windows of seq_len tokens, seeded.",
        epilog=EPILOG)
    p.add_argument("--corpus", default="pydoc", metavar="pydoc|stdlib|FILE",
                   help="corpus (default pydoc)")
    p.add_argument("--tokenizer", required=True, metavar="REPO_OR_DIR",
                   help="tokenizer.json, a directory holding one, or a Hub repo id")
    p.add_argument("--n-seq", type=int, default=256, help="sequences (default 256)")
    p.add_argument("--seq-len", type=int, default=128, help="tokens per sequence (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    p.add_argument("--out", required=True, metavar="SAMPLE.npz", help="output .npz")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run, human=format_human)
    return p


def run(args: argparse.Namespace) -> dict:
    from .. import __version__
    from ..errors import InputError
    from ..textsample import draw_sample, write_sample

    if not str(args.out).endswith(".npz"):
        raise InputError(f"--out {args.out}: expected a .npz path")
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0 (got {args.seed})")
    s = draw_sample(args.corpus, args.tokenizer, args.n_seq, args.seq_len, args.seed)
    write_sample(args.out, s)
    return {**s.to_dict(), "out": str(args.out), "version": __version__}


def format_human(r: dict) -> str:
    return (f"{r['out']}: {r['n_seq']} x {r['seq_len']} tokens of {r['corpus']} "
            f"({r['corpus_tokens']} tokens, sha256 {r['corpus_sha256'][:12]}), seed {r['seed']}, "
            f"sample sha256 {r['sample_sha256'][:12]}")
