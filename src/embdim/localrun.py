# SPDX-License-Identifier: MIT
"""The ``revisions``/``fetch`` commands on a local run directory: ``RUN_DIR/step{N}/model.safetensors``.

Each subdirectory is a revision (its step parsed from ``step{N}``); any layout the Hub uses works
(safetensors, sharded safetensors + index, torch-zip ``.bin``, sharded ``.bin`` + index). There is no
commit, so ``commit`` and ``blob_sha256`` are the sha256 of the file that holds the tensor.
"""
from __future__ import annotations

import os
import posixpath
from pathlib import Path

from .checkpoint import (LocalFile, is_weight_file, locate_tensor, parse_weight_index, pick_weight_file,
                         read_tensor_bytes, resolve_tensor_name, sha256_file)
from .errors import CheckpointError, InputError, NotFoundError, TensorNotFoundError
from .hub import FetchResult, parse_step, sort_rows


def _files(d: Path) -> list[str]:
    """Weight-file candidates of one revision directory (relative paths, '/'-separated)."""
    out = []
    for root, _, names in os.walk(d):
        for n in names:
            rel = Path(root, n).relative_to(d).as_posix()
            if is_weight_file(rel):
                out.append(rel)
    return sorted(out)


def _holder(d: Path, files: list[str], tensor: str | None, check: bool = True) -> tuple[str | None, str | None]:
    """(file holding ``tensor``, its full name if known) or (None, None). With ``check``, a single
    file's header is read to see that it holds the tensor (not needed for ``embed_in``)."""
    entry = pick_weight_file(files)
    if entry is None:
        return None, None
    if not entry.endswith(".index.json"):
        if not check or tensor in (None, "embed_in"):  # every causal LM has one: no need to look
            return entry, None
        with LocalFile(d / entry) as f:
            try:
                return entry, locate_tensor(f.read_range, f.size, entry, tensor).name
            except (TensorNotFoundError, CheckpointError):
                return None, None
    wm = parse_weight_index((d / entry).read_bytes(), entry)
    try:
        name = resolve_tensor_name(wm, tensor)
    except TensorNotFoundError:
        return None, None
    shard = posixpath.normpath(posixpath.join(posixpath.dirname(entry), wm[name]))
    return (shard if (d / shard).is_file() else None), name


def list_local_revisions(run_dir: str | os.PathLike, tensor: str | None = None) -> list[dict]:
    """Rows like :meth:`embdim.hub.HubClient.list_revisions` for the subdirectories of ``run_dir``."""
    root = Path(run_dir)
    if not root.is_dir():
        raise NotFoundError(f"{run_dir}: no such directory")
    rows = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        files = _files(d)
        step = parse_step(d.name)
        if step is None and not files:
            continue  # not a checkpoint directory (logs, plots, ...)
        row = {"revision": d.name, "step": step, "commit": None, "files": files, "file": None,
               "blob_sha256": None, "status": "no-weights"}
        try:
            holder, _ = _holder(d, files, tensor)
        except CheckpointError:
            holder = None
        if holder is not None:
            sha = sha256_file(d / holder)
            row.update(commit=sha, file=holder, blob_sha256=sha, status="ok")
        rows.append(row)
    return sort_rows(rows)


def fetch_local(run_dir: str | os.PathLike, revision: str, tensor: str | None = None) -> FetchResult:
    """Read one tensor from ``run_dir/revision`` (same parsers as the Hub path; nothing downloaded).

    Raises
    ------
    NotFoundError, TensorNotFoundError, CheckpointError, InputError
    """
    root = Path(run_dir)
    if not revision or revision in (".", "..") or "/" in revision or os.sep in revision:
        raise InputError(f"--revision {revision!r}: expected a subdirectory name of {run_dir}")
    d = root / revision
    if not d.is_dir():
        raise NotFoundError(f"{run_dir}: revision {revision!r} not found (no directory {d})")
    files = _files(d)
    holder, name = _holder(d, files, tensor, check=False)  # locate_tensor below says what is wrong
    if holder is None:
        if pick_weight_file(files) is None:
            raise NotFoundError(f"{d}: no weight file (model.safetensors, pytorch_model.bin or a sharded index)")
        raise TensorNotFoundError(f"{d}: tensor {tensor or 'embed_in'!r} is in none of the weight files",
                                  tensor=tensor)
    with LocalFile(d / holder) as f:
        try:
            loc = locate_tensor(f.read_range, f.size, holder, name or tensor)
        except TensorNotFoundError as e:
            raise TensorNotFoundError(f"{d / holder}: {e}", tensor=tensor) from e
        raw = read_tensor_bytes(f.read_range, loc)
    sha = sha256_file(d / holder)
    return FetchResult(str(run_dir), revision, sha, holder, loc.name, loc.dtype, loc.shape, raw, 0, sha)
