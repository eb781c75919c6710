# SPDX-License-Identifier: MIT
"""Writing results: atomic writes (temporary sibling, fsync, rename), JSON, and a file's sha256.

Every output embdim writes goes through :func:`atomic_write`, so a reader (or Snakemake) never sees a
half-written file.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def atomic_write(path: str | os.PathLike, chunks) -> None:
    """Write byte chunks to ``path`` through a fresh temporary sibling, fsync, then rename.

    The temporary file comes from ``tempfile.mkstemp`` in the target directory (O_EXCL, an
    unpredictable name, no symlink followed), gets the permissions a plain ``open`` would give, and is
    removed on any failure.
    """
    import tempfile
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would make results unreadable to the group
        with os.fdopen(fd, "wb") as f:
            fd = -1
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        os.unlink(tmp)
        raise


def write_json(path, result: dict) -> None:
    """Write ``result`` to ``path`` as JSON, atomically, creating the parent directory."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, [(json.dumps(result, indent=2, default=jsonable) + "\n").encode()])


def jsonable(o):
    """``json.dumps`` fallback: numpy scalars and arrays become Python numbers and lists."""
    import numpy as np
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a local file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_tsv(path: str | os.PathLike, required, what: str, *,
             empty_ok: bool = True) -> list[dict[str, str]]:
    """The rows of a TSV that embdim wrote (a header line first), as strings.

    Raises
    ------
    InputError
        The file cannot be read, or its header lacks a ``required`` column (then it is not ``what``);
        with ``empty_ok=False`` also an empty file (no header at all).
    """
    import csv
    import io as _io

    from .errors import InputError

    try:
        text = Path(path).read_text()
    except OSError as e:
        raise InputError(f"{path}: cannot read {what}: {e}") from e
    reader = csv.DictReader(_io.StringIO(text), delimiter="\t")
    if reader.fieldnames is None and empty_ok:
        return []
    if not set(required) <= set(reader.fieldnames or []):
        raise InputError(f"{path}: not {what}: expected columns {sorted(required)}, "
                         f"got {reader.fieldnames}")
    return list(reader)
