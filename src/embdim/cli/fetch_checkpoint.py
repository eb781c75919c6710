# SPDX-License-Identifier: MIT
"""``embdim fetch-checkpoint``: every tensor of a Hub checkpoint but embed_out, for the forward pass."""
from __future__ import annotations

import argparse

from .fetch import NET_DOC
from .options import add_network_flags, command

EPILOG = """examples:
  embdim fetch-checkpoint EleutherAI/pythia-14m --revision step1000 --out-dir ckpt --json

Writes OUT_DIR/model.safetensors (every tensor except embed_out, in its stored dtype; the old
.bin buffers attention.bias / masked_bias / rotary inv_freq are left out too) and
OUT_DIR/config.json, through the range reader of `embdim fetch` (retries, resumption, length,
commit and etag checks, bounds-checked parsers; one request per run of adjacent tensors).
JSON keys: repo, revision, commit, files, tensors, skipped, dtype, bytes_downloaded (every HTTP
body byte, API answers included), bytes_written, weight_file_bytes, seconds, out_dir.
--record FILE.json writes the same object there. Exit codes as embdim fetch.
""" + NET_DOC


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = command(
        subparsers, "fetch-checkpoint", help="fetch a full checkpoint (all but embed_out) for embdim hidden",
        description="Fetch every tensor of REPO@REVISION except embed_out, plus config.json.",
        epilog=EPILOG)
    p.add_argument("repo", metavar="REPO", help="Hub repo id (e.g. EleutherAI/pythia-14m)")
    p.add_argument("--revision", required=True, help="branch, tag or commit (e.g. step1000)")
    p.add_argument("--out-dir", required=True, metavar="DIR", help="directory to write")
    p.add_argument("--record", default=None, metavar="FILE.json",
                   help="also write the JSON result here (atomically)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_network_flags(p)
    p.set_defaults(func=run, human=format_human)
    return p


def run(args: argparse.Namespace) -> dict:
    from pathlib import Path

    from . import check_out_path
    from ..errors import InputError
    from ..hidden.checkpoint import fetch_checkpoint
    from ..io import write_json
    from ..sources.hub import HubClient

    if Path(args.repo).is_dir():
        raise InputError(f"{args.repo} is a local directory: embdim hidden reads it in place")
    if args.record:
        check_out_path(args.record, "--record")
    client = HubClient(max_retry_after=args.max_retry_after)
    res = fetch_checkpoint(args.repo, args.revision, args.out_dir, client=client)
    res["out_dir"] = str(args.out_dir)
    if args.record:
        write_json(args.record, res)
    return res


def format_human(r: dict) -> str:
    return (f"{r['repo']}@{r['revision']} ({r['commit'][:12]}): {r['tensors']} tensors -> "
            f"{r['out_dir']} ({r['bytes_downloaded']} bytes downloaded of "
            f"{r['weight_file_bytes']} in the weight files)")
