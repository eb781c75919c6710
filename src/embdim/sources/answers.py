# SPDX-License-Identifier: MIT
"""Parsing and validation of Hub API answers (refs, tree, paths-info), leniently where fields are
only missing and strictly where a value would be kept or shown: commits must be 40 lowercase hex,
branch names and paths carry no control characters, sha256 values are 64 hex."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import HubError
from .names import shown, unsafe_name

_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class HubFile:
    """One file of a revision as the tree / paths-info API describes it."""

    path: str
    size: int
    oid: str | None           # git blob id
    sha256: str | None = None  # LFS files only


@dataclass(frozen=True)
class Branch:
    name: str
    target_commit: str


class BadAnswer(Exception):
    """An API answer we cannot use (not JSON, wrong shape)."""


def ref_commit(ref: dict) -> str | None:
    """A ref's commit (``targetCommit`` on the Hub): 40 lowercase hex, or None when absent."""
    c = ref.get("targetCommit") or ref.get("target_commit")
    if c is None:
        return None
    if not isinstance(c, str) or not COMMIT.fullmatch(c):
        raise HubError(f"refs answer: branch {shown(ref.get('name'))} points at {shown(c)}, not 40 lowercase hex")
    return c


def file_entries(items) -> dict[str, HubFile]:
    """Files (not folders) of a tree / paths-info answer, keyed by path."""
    if not isinstance(items, list):
        raise BadAnswer("expected a JSON list")
    out = {}
    for it in items:
        # A path with control characters cannot be a weight file we read; it is never kept or shown.
        if not isinstance(it, dict) or it.get("type", "file") != "file" or unsafe_name(it.get("path")):
            continue
        lfs = it.get("lfs") if isinstance(it.get("lfs"), dict) else None
        sha = (lfs.get("oid") or lfs.get("sha256")) if lfs else None
        sha = sha.removeprefix("sha256:").lower() if isinstance(sha, str) else None
        oid = it.get("oid") if isinstance(it.get("oid"), str) and _HEX40.fullmatch(it["oid"]) else None
        try:  # an LFS file's own size (the Hub gives the same at the top; a pointer's size would be wrong)
            raw = (lfs or {}).get("size") if (lfs or {}).get("size") is not None else it.get("size")
            if isinstance(raw, bool) or not isinstance(raw, (int, str)):
                raise TypeError(type(raw).__name__)
            size = int(raw)
        except (TypeError, ValueError) as e:
            raise BadAnswer(f"no size for {shown(it['path'])}") from e
        if size < 0:
            raise BadAnswer(f"negative size for {shown(it['path'])}")
        out[it["path"]] = HubFile(it["path"], size, oid and oid.lower(),
                                  sha if sha and _SHA256_HEX.fullmatch(sha) else None)
    return out
