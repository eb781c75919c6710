# SPDX-License-Identifier: MIT
"""``embdim revisions``: branches of a Hub repo (or step directories of a run) and where the tensor is."""
from __future__ import annotations

import argparse
from pathlib import Path

from .fetch import NET_DOC
from .options import add_network_flags, add_output, add_tensor, command

EPILOG = """examples:
  embdim revisions EleutherAI/pythia-70m --json
  embdim revisions EleutherAI/pythia-12b --tensor embed_out --out revisions.tsv
  embdim revisions runs/demo                      # a local run directory (step{N}/ subdirectories)
  embdim revisions allenai/OLMo-1B --revision-pattern 'stage1-step(?P<step>[0-9]+)-tokens(?P<tokens>[0-9]+)B'

One row per branch, sorted by the step parsed from its name: by default step<N>, global_step<N>,
iter_<N>, checkpoint-<N>, ckpt_<N> or stage<K>-step<N>-tokens<T>B (ASCII digits, whole name); other
branches (main, step01, ...) last, with status `unnumbered`. Columns: revision, step, commit, weight
files, the file holding the tensor (the shard, for sharded checkpoints), its LFS sha256, status `ok`,
`no-weights` or `unnumbered`. JSON rows also carry tokens (where the name carries them), tied (true:
embed_out is the input embedding, tied weights) and `duplicate_of`: the first earlier revision whose
file has the same sha256 (byte-identical checkpoints). Locally, commit = the file's sha256.
--out writes a TSV: revision, step, commit, file, blob_sha256, status.
""" + NET_DOC


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = command(
        subparsers, "revisions", help="list revisions (training steps) and the file holding a tensor",
        description="List the branches of a Hub repo (or the step directories of a local run), the "
                    "training step of each, and the weight file + sha256 holding the tensor.",
        epilog=EPILOG)
    p.add_argument("repo", metavar="REPO_OR_DIR", help="Hub repo id or a local run directory")
    add_tensor(p)
    add_output(p, metavar="PATH.tsv", help="also write a TSV (atomically)")
    p.add_argument("--revision-pattern", default=None, metavar="REGEX",
                   help="regex matched against whole revision names, with a named group (?P<step>...) and "
                        "optionally (?P<tokens>...) in billions (default: the patterns above)")
    add_network_flags(p)
    p.set_defaults(func=run, human=format_human)
    return p


def run(args: argparse.Namespace) -> dict:
    from ..io import atomic_write
    from ..revnames import compile_patterns
    from ..sources.records import to_tsv

    tensor = args.tensor or "embed_in"  # a checkpoint holds many 2-D tensors
    compile_patterns(args.revision_pattern)  # a bad pattern is a usage error before any request
    if Path(args.repo).is_dir():
        from ..sources.local import list_local_revisions
        rows = list_local_revisions(args.repo, tensor, args.revision_pattern)
    else:
        from ..sources.hub import HubClient, quiet_hub_logs
        quiet_hub_logs()  # keep stderr to our one-line error; retries are logged at INFO by embdim.hub
        rows = HubClient(max_retry_after=args.max_retry_after).list_revisions(
            args.repo, tensor, revision_pattern=args.revision_pattern)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)  # the path was checked before the work
        atomic_write(args.out, [to_tsv(rows).encode()])
    return {"repo": args.repo, "tensor": tensor, "revisions": rows}


def format_human(r: dict) -> str:
    lines = [f"{r['repo']}: {len(r['revisions'])} revisions (tensor {r['tensor']})"]
    for row in r["revisions"]:
        dup = f"  = {row['duplicate_of']}" if row.get("duplicate_of") else ""
        lines.append(f"  {row['revision']:<12} step={'' if row['step'] is None else row['step']:<7} "
                     f"{(row['commit'] or '')[:12]}  {row['file'] or '-'}  {row['status']}{dup}")
    return "\n".join(lines)
