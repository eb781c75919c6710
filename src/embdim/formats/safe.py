# SPDX-License-Identifier: MIT
"""The safe-reader layer every format parser goes through: bounds-checked range reads, JSON with a
nesting limit (hostile offsets and nesting end in a one-line CheckpointError), and :class:`LocalFile`,
the ``read_range`` of a local file."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, InputError
from .records import ReadRange
from .view import _is_int

# Real headers and indexes nest 3 levels (object > tensor > shape); json recurses per level and raises
# RecursionError near 1000, so deeper input is refused before it is parsed.
MAX_JSON_DEPTH = 32


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)


def load_json(raw: bytes, what: str, max_depth: int = MAX_JSON_DEPTH):
    """``json.loads`` of untrusted bytes, refusing nesting deeper than ``max_depth`` before parsing."""
    if not isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw)
    skeleton = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)  # brackets inside strings do not nest
    depth = 0
    for i in range(0, skeleton.size, 1 << 22):  # chunked: a 100 MB header costs ~100 MB, not 10x that
        c = skeleton[i:i + (1 << 22)]
        step = (c == 0x5B) | (c == 0x7B)
        step = step.astype(np.int32) - ((c == 0x5D) | (c == 0x7D))
        run = np.cumsum(step) + depth
        if run.size and int(run.max()) > max_depth:
            raise CheckpointError(f"{what}: JSON nested deeper than {max_depth} levels")
        depth = int(run[-1]) if run.size else depth
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{what}: not valid JSON: {str(e)[:200]}") from e


class _CheckedReader:
    """``read_range`` that refuses any range outside ``[0, size]`` and any short or long answer."""

    def __init__(self, read_range: ReadRange, size: int, name: str):
        self.inner, self.size, self.name = read_range, size, name

    def __call__(self, start: int, end: int) -> bytes:
        if not (_is_int(start) and _is_int(end) and 0 <= start <= end <= self.size):
            raise CheckpointError(f"{self.name}: read {start}..{end} lies outside the file ({self.size} B)")
        buf = self.inner(start, end)
        if len(buf) != end - start:
            raise CheckpointError(f"{self.name}: read {len(buf)} bytes at {start}..{end} (truncated file?)")
        return buf


def checked_reader(read_range: ReadRange, size: int, name: str = "file") -> ReadRange:
    """The safe-reader layer every format parser reads through (wrapping once)."""
    if isinstance(read_range, _CheckedReader) and read_range.size == size:
        return read_range
    return _CheckedReader(read_range, size, name)


class LocalFile:
    """A local file exposing ``read_range`` and ``size``; counts bytes read."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self._f = open(self.path, "rb")
        except OSError as e:
            raise InputError(f"{path}: cannot open: {e.strerror}") from e
        self.size = os.fstat(self._f.fileno()).st_size
        self.bytes_read = 0

    def read_range(self, start: int, end: int) -> bytes:
        if not 0 <= start <= end <= self.size:
            raise CheckpointError(f"{self.path.name}: read {start}..{end} outside the file ({self.size} B)")
        self._f.seek(start)
        buf = self._f.read(end - start)
        self.bytes_read += len(buf)
        if len(buf) != end - start:
            raise CheckpointError(f"{self.path.name}: short read at {start}..{end} (truncated file?)")
        return buf

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "LocalFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
