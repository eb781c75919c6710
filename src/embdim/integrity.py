# SPDX-License-Identifier: MIT
"""Which checkpoints are not what their name says: the one place where duplicates are found.

Two checkpoints are the same when their tensors have the same bytes (``tensor_sha256``: stored
dtype, C order, whatever the file layout) or, where a tensor was not read, when the files that hold
it are the same blob (``blob_sha256``; the same blob holds the same tensor). The Hub's blob check
alone misses EleutherAI/pythia#205: 2.8b's final-era branches hold two different
``model.safetensors`` blobs with byte-identical embeddings.

Used by the revision listing (:func:`embdim.sources.records.sort_rows`, blobs only) and the summary
(:func:`audit`, per model and across the sweep's models).
"""
from __future__ import annotations

from typing import Hashable, Iterable, Sequence


def first_duplicates(keys: Sequence[Hashable | None]) -> list[int | None]:
    """For each position, the index of the first earlier position with the same key; ``None`` for
    a first occurrence or an empty key."""
    first: dict = {}
    out: list[int | None] = []
    for i, key in enumerate(keys):
        out.append(first.get(key) if key else None)
        if key and key not in first:
            first[key] = i
    return out


def _identities(rows: Iterable[dict]) -> dict[str, str]:
    """blob sha256 -> tensor sha256 where some row knows both."""
    return {r["blob_sha256"]: r["tensor_sha256"] for r in rows
            if r.get("blob_sha256") and r.get("tensor_sha256")}


def _identity(row: dict | None, blob_to_tensor: dict[str, str]) -> str | None:
    if not row:
        return None
    if row.get("tensor_sha256"):
        return "t:" + row["tensor_sha256"]
    blob = row.get("blob_sha256")
    if blob in blob_to_tensor:
        return "t:" + blob_to_tensor[blob]
    return "b:" + blob if blob else None


def audit(models: list[tuple[str, list[dict], dict | None]]) -> dict[tuple[str, int], dict]:
    """Duplicate flags of every checkpoint of one tensor over a sweep's models.

    Parameters
    ----------
    models : list of (model, rows, final)
        In sweep order. ``rows``: the model's checkpoints, each a dict with ``step``,
        ``blob_sha256`` and ``tensor_sha256`` (``None`` where unknown). ``final``: the same for the
        model's last numbered revision (``None`` if it has none).

    Returns
    -------
    dict
        ``(model, step)`` -> ``duplicate_of`` (the earliest step of the same model with identical
        bytes, else ``model@step`` of an earlier model, else ``None``), ``duplicate_kind``
        (``blob``: the same weight file; ``tensor``: another file, the same tensor bytes; ``None``)
        and ``same_as_final`` (``True``/``False``; ``None`` when nothing is known of the tensor).
    """
    blob_to_tensor = _identities(r for _, rows, final in models for r in [*rows, final or {}])
    seen: dict[str, tuple[str, dict]] = {}  # identity -> (model, row) of its first appearance
    out: dict[tuple[str, int], dict] = {}
    for model, rows, final in models:
        final_key = _identity(final, blob_to_tensor)
        own: dict[str, dict] = {}
        for r in sorted(rows, key=lambda r: r["step"]):
            key = _identity(r, blob_to_tensor)
            flags = {"duplicate_of": None, "duplicate_kind": None, "same_as_final": None}
            out[(model, r["step"])] = flags
            if key is None:
                continue
            origin = own.get(key)
            if origin is not None:
                flags["duplicate_of"] = origin["step"]
            elif key in seen:
                origin = seen[key][1]
                flags["duplicate_of"] = f"{seen[key][0]}@{origin['step']}"
            if origin is not None:
                same_blob = r.get("blob_sha256") and r.get("blob_sha256") == origin.get("blob_sha256")
                flags["duplicate_kind"] = "blob" if same_blob else "tensor"
            flags["same_as_final"] = final_key is not None and key == final_key
            own.setdefault(key, r)
        for key, r in own.items():
            seen.setdefault(key, (model, r))
    return out


def flagged(row: dict, last_step: int | None) -> bool:
    """Whether a summary row's point misrepresents its step (drawn hollow, left out of the lines):
    a duplicate, or final weights served at an earlier step. The last step itself is never flagged."""
    if row.get("step") is not None and row.get("step") == last_step:
        return False
    return bool(row.get("duplicate_of") not in (None, "") or row.get("same_as_final") in (True, "true"))


ISSUE_COLUMNS = ["model", "tensor", "step", "revision", "issue", "duplicate_of", "duplicate_kind",
                 "same_as_final", "file", "blob_sha256", "tensor_sha256"]


def issues(rows: list[dict]) -> list[dict]:
    """One entry per model x tensor x step of a summary that is not a clean measurement:
    ``duplicate`` (``duplicate_of`` set), ``final-weights`` (the last step's tensor at an earlier
    step), ``missing`` (no such revision) or ``no-weights`` (a revision without the tensor).
    Summary rows repeat per estimator; each checkpoint is listed once, in summary order."""
    last: dict = {}
    for r in rows:
        if r.get("status") == "ok" and r.get("step") is not None:
            key = (r["model"], r.get("tensor"))
            last[key] = max(last.get(key, r["step"]), r["step"])
    out, seen = [], set()
    for r in rows:
        key = (r["model"], r.get("tensor"), r.get("step"))
        if key in seen:
            continue
        seen.add(key)
        if r.get("duplicate_of") not in (None, ""):
            issue = "duplicate"
        elif r.get("status") in ("missing", "no-weights"):
            issue = r["status"]
        elif flagged(r, last.get(key[:2])):
            issue = "final-weights"
        else:
            continue
        out.append({c: r.get(c) for c in ISSUE_COLUMNS} | {"issue": issue})
    return out
