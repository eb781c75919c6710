# SPDX-License-Identifier: MIT
"""``embdim fetch``: read ONE tensor of a Hub revision (or a local run's step) with range requests."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import add_network_flags, add_output, add_tensor, command

NET_DOC = """
Network: EMBDIM_HTTP_CONNECT_TIMEOUT (s, default 10), EMBDIM_HTTP_TIMEOUT (longest silence, s,
default 60), EMBDIM_HTTP_DEADLINE (s per request, default 120) plus one second per
EMBDIM_HTTP_MIN_RATE bytes expected (bytes/s, default 65536); EMBDIM_MAX_RETRY_AFTER (s, default
300; or --max-retry-after): a longer Retry-After fails at once, waits of 5 s or more are announced.
"""

EPILOG = """examples:
  embdim fetch EleutherAI/pythia-70m --revision step1000 --out e.safetensors
  embdim fetch EleutherAI/pythia-1b --revision step1000 --tensor embed_out --out W.npy --json
  embdim fetch runs/demo --revision step100 --out e.safetensors      # a local run directory

Only the header (or the zip directory + data.pkl, or the sharded index) and the tensor's own bytes are
downloaded. .safetensors keeps the dtype (bf16 included) under the tensor's full name; .npy is float32.
Auth: HF_TOKEN or a stored `hf auth login`. Retries: EMBDIM_BACKOFF_BASE (s, default 1),
EMBDIM_MAX_RETRIES (default 5). Exit codes: 2 bad arguments, 3 revision/file/tensor not found,
4 Hub/network failure after retries or integrity failure, 5 unreadable or unsafe checkpoint.
JSON keys: repo, revision, commit, file, tensor, dtype, shape, bytes_downloaded, blob_sha256,
tensor_sha256 (sha256 of the tensor's bytes as stored: dtype kept, C order; the same whatever the
file layout), tied (true: embed_out was served by the input embedding, tied weights), out.
A .safetensors output keeps these in its metadata (measure/estimate report them as provenance.source).
""" + NET_DOC


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = command(
        subparsers, "fetch", help="download ONE tensor of a checkpoint with range requests",
        description="Write one tensor (default: the input embedding) of REPO@REVISION, reading only the "
                    "bytes needed. REPO_OR_DIR is a Hub repo id or a local run directory with step{N}/ "
                    "subdirectories.",
        epilog=EPILOG)
    p.add_argument("repo", metavar="REPO_OR_DIR", help="Hub repo id (e.g. EleutherAI/pythia-70m) or run directory")
    p.add_argument("--revision", required=True, help="branch, tag or commit (e.g. step1000); a subdirectory locally")
    add_output(p, metavar="PATH", required=True,
               help="output .safetensors (dtype kept) or .npy (float32)")
    add_tensor(p)
    add_network_flags(p)
    p.set_defaults(func=run, human=format_human)
    return p


class _Progress:
    """Bytes received, redrawn on one stderr line at most 10 times a second; only used on a terminal."""

    def __init__(self, interval: float = 0.1):
        self.n = 0
        self.interval = interval
        self.last = None  # time of the last redraw; None until something was received

    def __call__(self, k: int) -> None:
        import time
        self.n += k
        now = time.monotonic()
        if self.last is None or now - self.last >= self.interval:
            self.last = now
            self._draw()

    def _draw(self) -> None:
        sys.stderr.write(f"\rfetch: {self.n / 2**20:8.2f} MiB received")
        sys.stderr.flush()

    def done(self) -> None:
        if self.last is not None:
            self._draw()
            sys.stderr.write("\n")
            sys.stderr.flush()


def run(args: argparse.Namespace) -> dict:
    from ..formats.layout import write_tensor
    from ..errors import InputError

    out = Path(args.out)
    if out.suffix not in (".safetensors", ".npy"):
        raise InputError(f"--out {args.out}: must end in .safetensors or .npy")
    tensor = args.tensor or "embed_in"  # a checkpoint holds many 2-D tensors
    progress = _Progress() if (sys.stderr.isatty() and not args.json) else None
    if Path(args.repo).is_dir():
        from ..sources.local import fetch_local
        res = fetch_local(args.repo, args.revision, tensor)
    else:
        from ..sources.hub import HubClient, quiet_hub_logs
        quiet_hub_logs()  # keep stderr to our one-line error; retries are logged at INFO by embdim.hub
        client = HubClient(on_bytes=progress, max_retry_after=args.max_retry_after)
        try:
            res = client.fetch_tensor(args.repo, args.revision, tensor)
        finally:
            if progress:
                progress.done()
    meta = {"repo": res.repo, "revision": res.revision, "commit": res.commit, "file": res.file,
            "tensor": res.tensor, "dtype": res.dtype, "tensor_sha256": res.tensor_sha256,
            "tied": str(res.tied).lower()}
    if res.blob_sha256:
        meta["blob_sha256"] = res.blob_sha256
    out.parent.mkdir(parents=True, exist_ok=True)
    write_tensor(out, res.tensor, res.dtype, res.shape, res.raw, meta)
    result = res.to_dict()
    result["out"] = str(out)
    return result


def format_human(r: dict) -> str:
    return (f"{r['repo']}@{r['revision']} ({r['commit'][:12]}) {r['file']}: {r['tensor']} {r['dtype']} "
            f"{'x'.join(map(str, r['shape']))} -> {r['out']} ({r['bytes_downloaded']} bytes downloaded)")
