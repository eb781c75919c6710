# SPDX-License-Identifier: MIT
"""What the Hub and local sources share: the revisions.tsv row, shard resolution and ``FetchResult``.

A row is ``revision, step, commit, files, file, blob_sha256, status`` (+ ``duplicate_of`` once sorted);
``revisions --out`` writes the :data:`TSV_COLUMNS` of it, which ``embdim.summary.read_revisions`` reads.
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass

from ..errors import InputError
from ..formats.layout import resolve_tensor_name
from .names import shown

TSV_COLUMNS = ("revision", "step", "commit", "file", "blob_sha256", "status")
_UNSAFE_CELL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


@dataclass
class FetchResult:
    """One fetched tensor and where it came from (``raw`` is little-endian, C order)."""

    repo: str
    revision: str
    commit: str
    file: str
    tensor: str
    dtype: str
    shape: tuple
    raw: bytes
    bytes_downloaded: int
    blob_sha256: str | None

    def to_dict(self) -> dict:
        return {"repo": self.repo, "revision": self.revision, "commit": self.commit, "file": self.file,
                "tensor": self.tensor, "dtype": self.dtype, "shape": list(self.shape),
                "bytes_downloaded": self.bytes_downloaded, "blob_sha256": self.blob_sha256,
                "tensor_sha256": hashlib.sha256(self.raw).hexdigest()}


def revision_row(revision: str, step: int | None, commit: str | None, files: list[str] | None = None) -> dict:
    """A listing row before the tensor's file is known (status ``no-weights`` until it is)."""
    return {"revision": revision, "step": step, "commit": commit, "files": files or [], "file": None,
            "blob_sha256": None, "status": "no-weights"}


def shard_of(entry: str, weight_map: dict[str, str], tensor: str | None) -> tuple[str, str]:
    """(full tensor name, shard path relative to the checkpoint) for ``tensor`` in an index json
    ``entry`` whose ``weight_map`` was read (shard paths are relative to the index's directory).

    Raises
    ------
    TensorNotFoundError
    """
    name = resolve_tensor_name(weight_map, tensor)
    return name, posixpath.normpath(posixpath.join(posixpath.dirname(entry), weight_map[name]))


def sort_rows(rows: list[dict]) -> list[dict]:
    """Sort by step (unnumbered branches last, by name) and mark blobs already seen at an earlier row."""
    rows = sorted(rows, key=lambda r: (r["step"] is None, r["step"] or 0, r["revision"]))
    first: dict[str, str] = {}
    for r in rows:
        sha = r.get("blob_sha256")
        r["duplicate_of"] = first.get(sha) if sha else None
        if sha and sha not in first:
            first[sha] = r["revision"]
    return rows


def to_tsv(rows: list[dict]) -> str:
    """The revisions.tsv text of ``rows`` (:data:`TSV_COLUMNS`); a control character in a cell is refused."""
    lines = ["\t".join(TSV_COLUMNS)]
    for r in rows:
        cells = ["" if r.get(c) is None else str(r[c]) for c in TSV_COLUMNS]
        if any(_UNSAFE_CELL.search(c) for c in cells):  # validated upstream; never forge a row
            raise InputError(f"refusing to write revision {shown(cells[0])}: a control character in a cell")
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"
