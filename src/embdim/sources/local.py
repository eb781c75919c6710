# SPDX-License-Identifier: MIT
"""The ``revisions``/``fetch`` commands on a local run directory: ``RUN_DIR/step{N}/model.safetensors``.

Each subdirectory is a revision (its step parsed strictly by :mod:`embdim.revnames`: ``step{N}``,
an HF Trainer's ``checkpoint-{N}``, ...; a directory named ``step-1`` or ``step01`` is listed with
status ``unnumbered``, never as a step); any
layout the Hub uses works (safetensors, sharded safetensors + index, torch-zip ``.bin``, sharded
``.bin`` + index). There is no commit, so ``commit`` and ``blob_sha256`` are the sha256 of the file
that holds the tensor.

A run directory is not trusted either: only regular files inside it are opened (a FIFO would block,
``/dev/zero`` would be hashed forever), links that leave it are not followed, the walk of a step
directory is bounded, and a file that cannot be used is one line (a warning in ``revisions``, an
error in ``fetch``), not a traceback.

Reading a run directory imports neither ``huggingface_hub`` nor ``httpx`` (``tests/unit/test_imports.py``).
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from pathlib import Path

from ..errors import CheckpointError, InputError, NotFoundError, TensorNotFoundError
from ..formats.layout import (MAX_INDEX_BYTES, TENSOR_ALIASES, is_tied, is_weight_file, locate_tensor,
                              parse_weight_index, pick_weight_file, read_tensor_bytes)
from ..revnames import compile_patterns, parse_revision
from ..formats.safe import LocalFile
from .names import shown, unsafe_name
from .records import FetchResult, found, revision_row, shard_of, sort_rows

log = logging.getLogger("embdim.localrun")

# Checkpoints keep their weight files at the top of a step directory (index shards at most one level
# down); these bounds only stop a walk that was led somewhere huge.
MAX_DEPTH = 3
MAX_ENTRIES = 10_000


def _within(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _what(e: OSError) -> str:
    return "symlink loop" if e.errno == errno.ELOOP else (e.strerror or type(e).__name__)


def _checked(root: str, path: Path, rel: str) -> os.stat_result:
    """The stat of ``path`` if it is a regular file inside ``root`` (after links); never opens it.

    Raises
    ------
    InputError
    """
    try:
        st = os.stat(path)  # follows links; a loop raises ELOOP
    except OSError as e:
        raise InputError(f"{rel}: cannot read ({_what(e)})") from e
    if not _within(os.path.realpath(path), root):
        raise InputError(f"{rel}: links outside the run directory (to {shown(os.path.realpath(path))})")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a directory")
        raise InputError(f"{rel}: not a regular file ({kind})")
    return st


def _sha256(root: str, path: Path, rel: str) -> str:
    """sha256 of a regular file; opened non-blocking and checked again on the open descriptor."""
    size = _checked(root, path, rel).st_size
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise InputError(f"{rel}: cannot open ({_what(e)})") from e
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for something else since the stat
            raise InputError(f"{rel}: not a regular file")
        h, left = hashlib.sha256(), size
        while left > 0 and (block := f.read(min(left, 1 << 20))):
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def _files(d: Path) -> list[str]:
    """Weight-file candidates of one revision directory (relative paths, '/'-separated); links to
    directories are not followed, and the walk is bounded in depth and entries."""
    out, seen, todo = [], 0, [(d, "", 0)]
    while todo:
        cur, prefix, depth = todo.pop()
        try:
            entries = list(os.scandir(cur))
        except OSError:
            continue
        for e in entries:
            seen += 1
            if seen > MAX_ENTRIES:
                log.warning("warning: %s: more than %d entries; the rest is not listed", d.name, MAX_ENTRIES)
                return sorted(out)
            rel = prefix + e.name
            if e.is_dir(follow_symlinks=False):
                if depth + 1 < MAX_DEPTH:
                    todo.append((Path(e.path), rel + "/", depth + 1))
            elif is_weight_file(rel) and not unsafe_name(rel):
                out.append(rel)
    return sorted(out)


def _read_index(root: str, d: Path, entry: str) -> dict[str, str]:
    st = _checked(root, d / entry, f"{d.name}/{entry}")
    if st.st_size > MAX_INDEX_BYTES:
        raise CheckpointError(f"{d.name}/{entry}: index json of {st.st_size} bytes is larger than the "
                              f"{MAX_INDEX_BYTES >> 20} MiB accepted (Pythia-12b's is ~30 kB)")
    return parse_weight_index((d / entry).read_bytes(), entry)


def _holder(root: str, d: Path, files: list[str], tensor: str | None,
            check: bool = True) -> tuple[str | None, str | None]:
    """(file holding ``tensor``, its full name if known) or (None, None). With ``check``, a single
    file's header is read to see that it holds the tensor (not needed for ``embed_in``)."""
    entry = pick_weight_file(files)
    if entry is None:
        return None, None
    if not entry.endswith(".index.json"):
        if not check or tensor in (None, "embed_in"):  # every causal LM has one: no need to look
            return entry, None
        _checked(root, d / entry, f"{d.name}/{entry}")
        with LocalFile(d / entry) as f:
            try:
                return entry, locate_tensor(f.read_range, f.size, entry, tensor).name
            except (TensorNotFoundError, CheckpointError):
                return None, None
    wm = _read_index(root, d, entry)
    try:
        name, shard = shard_of(entry, wm, tensor)
    except TensorNotFoundError:
        return None, None
    return (shard if os.path.lexists(d / shard) else None), name


def _root(run_dir) -> tuple[Path, str]:
    root = Path(run_dir)
    if not root.is_dir():
        raise NotFoundError(f"{run_dir}: no such directory")
    return root, os.path.realpath(root)


def list_local_revisions(run_dir: str | os.PathLike, tensor: str | None = None,
                         revision_pattern: str | None = None) -> list[dict]:
    """Rows like :meth:`embdim.sources.hub.HubClient.list_revisions` for the subdirectories of ``run_dir``
    (``step1000/``, an HF Trainer's ``checkpoint-1000/``, ...: :mod:`embdim.revnames`)."""
    patterns = compile_patterns(revision_pattern)
    root, real = _root(run_dir)
    try:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError as e:
        raise InputError(f"{run_dir}: cannot list ({_what(e)})") from e
    rows = []
    for d in subdirs:
        if unsafe_name(d.name):  # a tab or newline would forge rows of revisions.tsv
            log.warning("warning: skipped directory %s (a control character in its name)", shown(d.name))
            continue
        parsed = parse_revision(d.name, patterns)
        inside = _within(os.path.realpath(d), real)
        files = _files(d) if inside else []
        if parsed is None and not files:
            continue  # not a checkpoint directory (logs, plots, ...)
        row = revision_row(d.name, parsed, None, files)
        rows.append(row)
        if not inside:
            log.warning("warning: %s links outside the run directory; listed as no-weights", d.name)
            continue
        try:
            holder, name = _holder(real, d, files, tensor)
            sha = _sha256(real, d / holder, f"{d.name}/{holder}") if holder is not None else None
        except (CheckpointError, InputError) as e:
            log.warning("warning: %s; listed as no-weights", e)
            continue
        if holder is not None:
            found(row, holder, sha, commit=sha, tied=tensor == "embed_out" and name in TENSOR_ALIASES["embed_in"])
    return sort_rows(rows)


def fetch_local(run_dir: str | os.PathLike, revision: str, tensor: str | None = None) -> FetchResult:
    """Read one tensor from ``run_dir/revision`` (same parsers as the Hub path; nothing downloaded).

    Raises
    ------
    NotFoundError, TensorNotFoundError, CheckpointError, InputError
    """
    root, real = _root(run_dir)
    if not revision or revision in (".", "..") or "/" in revision or os.sep in revision or unsafe_name(revision):
        raise InputError(f"--revision {shown(revision)}: expected a subdirectory name of {run_dir}")
    d = root / revision
    if not d.is_dir():
        raise NotFoundError(f"{run_dir}: revision {revision!r} not found (no directory {d})")
    if not _within(os.path.realpath(d), real):
        raise InputError(f"{d}: links outside the run directory")
    files = _files(d)
    holder, name = _holder(real, d, files, tensor, check=False)  # locate_tensor below says what is wrong
    if holder is None:
        if pick_weight_file(files) is None:
            raise NotFoundError(f"{d}: no weight file (model.safetensors, pytorch_model.bin or a sharded index)")
        raise TensorNotFoundError(f"{d}: tensor {tensor or 'embed_in'!r} is in none of the weight files",
                                  tensor=tensor)
    _checked(real, d / holder, f"{d}/{holder}")
    with LocalFile(d / holder) as f:
        try:
            loc = locate_tensor(f.read_range, f.size, holder, name or tensor)
        except TensorNotFoundError as e:
            raise TensorNotFoundError(f"{d / holder}: {e}", tensor=tensor) from e
        raw = read_tensor_bytes(f.read_range, loc)
    sha = _sha256(real, d / holder, f"{d}/{holder}")
    return FetchResult(str(run_dir), revision, sha, holder, loc.name, loc.dtype, loc.shape, raw, 0, sha,
                       is_tied(tensor, loc))
