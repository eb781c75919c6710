# SPDX-License-Identifier: MIT
"""Gather a sweep's per-checkpoint results into one table (``results/summary.tsv``).

One row per model x requested step x estimator. A step the model does not have is a row with
``status=missing`` (a revision without the tensor keeps the listing's status, ``no-weights``);
a checkpoint whose weight blob is byte-identical to an earlier step's names that step in
``duplicate_of``. Geometry metrics are joined on model x step; the random baseline of the same
shape (``<model>/baseline-<estimator>-k<k>.json``, rule estimate_baseline) as ``baseline_id`` on
model x estimator, the same value on every step's row.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from .checkpoint import atomic_write
from .config import model_slug
from .errors import InputError

COLUMNS = [
    "model", "step", "revision", "commit", "estimator", "k", "id", "ed", "redundancy", "n",
    "n_unique", "status", "duplicate_of", "file", "blob_sha256", "tensor", "dtype", "d",
    "id_mean", "id_median",
]
GEOMETRY_COLUMNS = [
    "mean_cosine", "top_sv_share", "top_pc_share", "mean_norm_sq", "variance", "q",
    "mean_norm_ratio", "isotropy", "pca_dim_90", "pca_dim_95", "pca_dim_99", "effective_rank",
]
BASELINE_COLUMNS = ["baseline_id"]
ESTIMATE_KEYS = ["id", "ed", "redundancy", "n", "n_unique", "tensor", "dtype", "id_mean", "id_median"]


def read_revisions(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``revisions.tsv`` written by ``embdim revisions --out``; ``step`` as int or None.

    Raises
    ------
    InputError
        The file is missing or lacks the contract's columns.
    """
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise InputError(f"{path}: cannot read revision table: {e}") from e
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    need = {"revision", "step", "commit", "file", "blob_sha256", "status"}
    if not need <= set(reader.fieldnames or []):
        raise InputError(f"{path}: expected columns {sorted(need)}, got {reader.fieldnames}")
    rows = []
    for row in reader:
        step = (row["step"] or "").strip()
        row["step"] = int(step) if step.lstrip("-").isdigit() else None
        rows.append(row)
    return rows


def revisions_by_step(rows: list[dict]) -> dict[int, dict]:
    """First listed revision for each numbered step."""
    out: dict[int, dict] = {}
    for row in rows:
        if row["step"] is not None:
            out.setdefault(row["step"], row)
    return out


def requested_revisions(table: str | os.PathLike, steps: list[int]) -> list[str]:
    """Revisions (branch names) to measure: requested steps that exist and hold the tensor."""
    by_step = revisions_by_step(read_revisions(table))
    return [by_step[s]["revision"] for s in steps if s in by_step and by_step[s]["status"] == "ok"]


def duplicate_steps(rows: list[dict]) -> dict[int, int]:
    """step -> the earliest other step whose weight blob has the same sha256."""
    first: dict[str, int] = {}
    for row in sorted((r for r in rows if r["step"] is not None), key=lambda r: r["step"]):
        sha = row.get("blob_sha256") or ""
        if row["status"] == "ok" and sha:
            first.setdefault(sha, row["step"])
    dups = {}
    for row in rows:
        sha = row.get("blob_sha256") or ""
        if row["step"] is not None and row["status"] == "ok" and sha and first[sha] != row["step"]:
            dups[row["step"]] = first[sha]
    return dups


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: unreadable result: {e}") from e


def summarize(results_dir: str | os.PathLike, models: list[str], steps: list[int],
              estimators: list[tuple[str, int]], geometry: bool = True,
              baseline: bool = False) -> list[dict]:
    """Build the summary rows of a sweep from its result directory.

    Parameters
    ----------
    results_dir : path
        The sweep's ``results/`` directory (``<model slug>/revisions.tsv`` and
        ``<model slug>/<revision>/id-<estimator>-k<k>.json``, ``geometry.json``).
    models : list of str
        Models as given in the config (Hub ids or local directories).
    steps : list of int
        Requested steps.
    estimators : list of (name, k)
        Requested estimators.
    geometry : bool
        Join ``geometry.json`` columns.
    baseline : bool
        Join ``baseline_id``: the ``id`` of ``<model slug>/baseline-<estimator>-k<k>.json``
        (N(0, I) samples shaped like the model's last measured checkpoint); ``None`` if absent.

    Returns
    -------
    list of dict
        Rows keyed by :data:`COLUMNS` (+ :data:`GEOMETRY_COLUMNS`, + :data:`BASELINE_COLUMNS`);
        absent values are ``None``.
        A result file not written yet gives ``status=pending``.

    Raises
    ------
    InputError
        A revision table or result file is missing or unreadable.
    """
    root = Path(results_dir)
    out = []
    for model in models:
        listing = read_revisions(root / model_slug(model) / "revisions.tsv")
        by_step, dups = revisions_by_step(listing), duplicate_steps(listing)
        base_id = {}
        for name, k in estimators if baseline else []:
            res = _read_json(root / model_slug(model) / f"baseline-{name}-k{k}.json")
            base_id[(name, k)] = (res or {}).get("id")
        for step in steps:
            rev = by_step.get(step)
            geo = None
            if rev is not None and rev["status"] == "ok" and geometry:
                geo = _read_json(root / model_slug(model) / rev["revision"] / "geometry.json")
            for name, k in estimators:
                row = dict.fromkeys(COLUMNS + (GEOMETRY_COLUMNS if geometry else [])
                                    + (BASELINE_COLUMNS if baseline else []))
                row.update(model=model, step=step, estimator=name, k=k, status="missing")
                if rev is not None:
                    row.update(revision=rev["revision"], commit=rev["commit"] or None,
                               file=rev["file"] or None, blob_sha256=rev["blob_sha256"] or None,
                               status=rev["status"], duplicate_of=dups.get(step))
                if rev is not None and rev["status"] == "ok":
                    est = _read_json(root / model_slug(model) / rev["revision"] / f"id-{name}-k{k}.json")
                    if est is None or (geometry and geo is None):
                        row["status"] = "pending"
                    for key in ESTIMATE_KEYS:
                        row[key] = (est or {}).get(key)
                    if est and est.get("shape"):
                        row["d"] = est["shape"][-1]
                    for key in GEOMETRY_COLUMNS if geometry else []:
                        row[key] = (geo or {}).get(key)
                if baseline:
                    row["baseline_id"] = base_id[(name, k)]
                out.append(row)
    return out


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # round-trips exactly: reruns compare equal
    return str(value)


def to_tsv(rows: list[dict]) -> str:
    """Render rows as TSV with a header (column order of the first row)."""
    if not rows:
        return "\t".join(COLUMNS) + "\n"
    cols = list(rows[0])
    lines = ["\t".join(cols)] + ["\t".join(_cell(r.get(c)) for c in cols) for r in rows]
    return "\n".join(lines) + "\n"


def write_tsv(rows: list[dict], path: str | os.PathLike) -> None:
    """Write the summary atomically (temporary name, then rename)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, [to_tsv(rows).encode()])


def read_summary(path: str | os.PathLike) -> list[dict]:
    """Read a summary TSV back; numbers become int/float, empty cells ``None``."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise InputError(f"{path}: cannot read summary: {e}") from e
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    if rows and not {"model", "step", "estimator", "id", "status"} <= set(rows[0]):
        raise InputError(f"{path}: not a summary table (columns: {list(rows[0])})")
    return [{k: _parse(k, v) for k, v in row.items()} for row in rows]


def _parse(key: str, value: str | None):
    if value is None or value == "":
        return None
    if key in ("model", "revision", "commit", "estimator", "status", "file", "blob_sha256",
               "tensor", "dtype"):
        return value
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value
