# SPDX-License-Identifier: MIT
"""What the Hub and local sources share: the revisions.tsv row, shard resolution and ``FetchResult``.

A row is ``revision, step, tokens, commit, files, file, blob_sha256, tied, status`` (+ ``duplicate_of``
once sorted; ``tokens`` only where the revision name carries them);
``revisions --out`` writes the :data:`TSV_COLUMNS` of it, which ``embdim.summary.read_revisions`` reads.
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass

from ..errors import InputError
from ..formats.layout import resolve_tensor_name
from ..integrity import first_duplicates
from ..revnames import Parsed
from .names import shown

# The TSV keeps its six columns (tokens are parsed again from the name, tied is in the fetch's record);
# the JSON rows carry everything.
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
    tied: bool = False  # embed_out resolved to the input embedding (tied weights)

    @property
    def tensor_sha256(self) -> str:
        """sha256 of the tensor's bytes as stored (dtype kept, C order): the same in every layout."""
        return hashlib.sha256(self.raw).hexdigest()

    def to_dict(self) -> dict:
        return {"repo": self.repo, "revision": self.revision, "commit": self.commit, "file": self.file,
                "tensor": self.tensor, "dtype": self.dtype, "shape": list(self.shape),
                "bytes_downloaded": self.bytes_downloaded, "blob_sha256": self.blob_sha256,
                "tensor_sha256": self.tensor_sha256, "tied": self.tied}


def revision_row(revision: str, parsed: Parsed | None, commit: str | None, files: list[str] | None = None) -> dict:
    """A listing row before the tensor's file is known (status ``no-weights`` until it is).

    ``parsed`` is the name's :func:`embdim.revnames.parse_revision` (``None``: unnumbered)."""
    return {"revision": revision, "step": parsed.step if parsed else None,
            "tokens": parsed.tokens if parsed else None, "rank": parsed.rank if parsed else None,
            "commit": commit, "files": files or [], "file": None, "blob_sha256": None, "tied": None,
            "status": "no-weights"}


def found(row: dict, file: str, blob_sha256: str | None, commit: str | None = None, tied: bool = False) -> dict:
    """Mark ``row`` as holding the tensor in ``file``: status ``ok``, or ``unnumbered`` when its name
    gave no step (listed, never measured)."""
    row.update(file=file, blob_sha256=blob_sha256, tied=tied,
               status="ok" if row["step"] is not None else "unnumbered")
    if commit is not None:
        row["commit"] = commit
    return row


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
    """Sort by step (unnumbered branches last, by name; two names of one step in pattern order, so
    ``step1`` comes before ``global_step1``) and name in ``duplicate_of`` the first earlier revision
    whose blob is the same (:func:`embdim.integrity.first_duplicates`)."""
    rows = sorted(rows, key=lambda r: (r["step"] is None, r["step"] or 0, r.get("rank") or 0, r["revision"]))
    for r, j in zip(rows, first_duplicates([r.get("blob_sha256") for r in rows])):
        r["duplicate_of"] = rows[j]["revision"] if j is not None else None
    for r in rows:
        r.pop("rank", None)
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
