# SPDX-License-Identifier: MIT
"""``embdim fetch-tokenizer``: a checkpoint's tokenizer.json (rule fetch_tokenizer)."""
from __future__ import annotations

import argparse

from .options import add_network_flags, add_output, command

EPILOG = """examples:
  embdim fetch-tokenizer EleutherAI/pythia-70m --revision step1000 --out tokenizer.json \\
      --cache results/EleutherAI--pythia-70m/tokenizers
  embdim fetch-tokenizer results/demo/adam --revision step600 --out tokenizer.json --json

On the Hub: one paths-info call, then the file (at most 64 MiB), checked against its git blob id or
LFS sha256; with --cache DIR each blob is downloaded once and kept as DIR/<blob id>.json. A local
run directory: REPO_OR_DIR/REVISION/tokenizer.json, else REPO_OR_DIR/tokenizer.json. The file is
parsed (no code runs) and must name its tokens before --out is written.
JSON keys: repo, revision, source, blob, size, n_tokens (max id + 1 over the vocabulary and the
added tokens), cached, bytes_downloaded, out. Exit codes: 2 bad arguments, 3 no tokenizer.json,
4 Hub/network failure or a blob that does not match its id, 5 not a usable tokenizer.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = command(
        subparsers, "fetch-tokenizer", help="fetch a checkpoint's tokenizer.json (Hub or local run)",
        description="Write the tokenizer.json of REPO@REVISION (or of a local run's step).",
        epilog=EPILOG)
    p.add_argument("repo", metavar="REPO_OR_DIR", help="Hub repo id or local run directory")
    p.add_argument("--revision", required=True, help="branch (e.g. step1000); a subdirectory locally")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="Hub only: keep each blob here as <blob id>.json and reuse it")
    add_output(p, metavar="PATH.json", required=True, help="where to write it (atomically)")
    add_network_flags(p)
    p.set_defaults(func=run, human=human)
    return p


def run(args) -> dict:
    from pathlib import Path

    from ..io import atomic_write

    if Path(args.repo).is_dir():
        from ..sources.tokenizer import local_tokenizer
        tok = local_tokenizer(args.repo, args.revision)
    else:
        from ..sources.hub import HubClient, quiet_hub_logs
        from ..sources.tokenizer import hub_tokenizer
        quiet_hub_logs()
        client = HubClient(max_retry_after=args.max_retry_after)
        tok = hub_tokenizer(client, args.repo, args.revision, args.cache)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, [tok.raw])
    return {"repo": args.repo, "revision": args.revision, **tok.to_dict(), "out": args.out}


def human(r: dict) -> str:
    how = "from the cache" if r["cached"] else f"{r['bytes_downloaded']} bytes downloaded"
    return f"{r['source']}: {r['n_tokens']} tokens -> {r['out']} ({how})"
