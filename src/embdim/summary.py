# SPDX-License-Identifier: MIT
"""Gather a sweep's per-checkpoint results into one table (``results/summary.tsv``).

One row per model x tensor x requested step x estimator (its name, k and MLE convention), read
from each checkpoint's ``measure.json`` (rule measure_checkpoint). A step the model does not
have is a row with ``status=missing`` (a revision without the tensor keeps the listing's status,
``no-weights``);
the integrity columns (``duplicate_of``, ``duplicate_kind``, ``same_as_final``) come from the
tensor's own bytes (:func:`embdim.integrity.audit`), ``tokens`` from the revision name or
step x ``tokens_per_step``. Geometry metrics come from the same ``measure.json``; the random baseline of the
same shape (``<model>/<tensor>/baseline.json``, rule estimate_baseline) as ``baseline_id`` on
model x tensor x estimator, the same value on every step's row.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .io import atomic_write, read_tsv
from .config import model_slug
from .errors import InputError
from .integrity import audit
from .revnames import TOKENS_PER_STEP, compile_patterns, parse_revision, tokens_seen

COLUMNS = [
    "model", "tensor", "step", "revision", "commit", "estimator", "k", "normalization",
    "aggregate", "id", "ci_low", "ci_high", "se", "ed", "redundancy", "n", "n_unique", "status",
    "duplicate_of", "file", "blob_sha256", "tensor_name", "dtype", "d", "id_mean", "id_median",
    "knn_engine",
    "n_rows_total",  # the matrix's rows; n (rows measured) is fewer with rows: tokenizer
    "tokens", "duplicate_kind", "same_as_final", "tensor_sha256", "tied",
]
GEOMETRY_COLUMNS = [
    "mean_cosine", "top_sv_share", "top_pc_share", "mean_norm_sq", "variance", "q",
    "mean_norm_ratio", "isotropy", "pca_dim_90", "pca_dim_95", "pca_dim_99", "effective_rank",
]
BASELINE_COLUMNS = ["baseline_id"]
# Keys copied from a measure.json estimate entry / its top level.
ESTIMATE_KEYS = ["id", "ci_low", "ci_high", "se", "redundancy", "id_mean", "id_median"]
# n_rows_total: the matrix's rows; n: rows measured (fewer with rows: tokenizer or sample).
MEASURE_KEYS = ["ed", "n_rows_total", "n", "n_unique"]


def measure_path(root, slug: str, tensor: str, revision: str) -> Path:
    """``<root>/<model slug>/<tensor>/<revision>/measure.json`` (rule measure_checkpoint)."""
    return Path(root) / slug / tensor / revision / "measure.json"


def baseline_path(root, slug: str, tensor: str) -> Path:
    """``<root>/<model slug>/<tensor>/baseline.json`` (rule estimate_baseline)."""
    return Path(root) / slug / tensor / "baseline.json"


def find_estimate(estimates: list[dict], spec) -> dict | None:
    """The entry of a measure/baseline ``estimates`` list that matches ``spec`` (name, k and,
    for MLE, normalization and aggregate)."""
    for e in estimates or []:
        if (e.get("estimator"), e.get("k")) == (spec.name, spec.k) and \
                (spec.name != "mle" or (e.get("normalization"), e.get("aggregate"))
                 == (spec.normalization, spec.aggregate)):
            return e
    return None


def read_revisions(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``revisions.tsv`` written by ``embdim revisions --out``; ``step`` as int or None.

    Raises
    ------
    InputError
        The file is missing or lacks the contract's columns.
    """
    from .sources.records import TSV_COLUMNS

    rows = []
    for row in read_tsv(path, TSV_COLUMNS, "a revision table", empty_ok=False):
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


def final_revision(rows: list[dict]) -> dict | None:
    """The model's last numbered revision that holds the tensor (``same_as_final`` compares to it)."""
    ok = [r for r in rows if r["step"] is not None and r["status"] == "ok"]
    return max(ok, key=lambda r: r["step"]) if ok else None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: unreadable result: {e}") from e


def _as_specs(estimators) -> list:
    from .estimators import EstimatorSpec, parse_spec
    return [e if isinstance(e, EstimatorSpec) else parse_spec(f"{e[0]}:{e[1]}") for e in estimators]


def summarize(results_dir: str | os.PathLike, models: list[str], steps: list[int],
              estimators: list, geometry: bool = True, baseline: bool = False,
              tensors: list[str] = ("embed_in",), tokens_per_step: int = TOKENS_PER_STEP,
              revision_pattern: str | None = None) -> list[dict]:
    """Build the summary rows of a sweep from its result directory.

    Parameters
    ----------
    results_dir : path
        The sweep's ``results/`` directory (``<model slug>/revisions.tsv`` and
        ``<model slug>/<tensor>/<revision>/measure.json``).
    models : list of str
        Models as given in the config (Hub ids or local directories).
    steps : list of int
        Requested steps.
    estimators : list of EstimatorSpec (or (name, k) pairs: MLE in the default convention)
        Requested estimators.
    geometry : bool
        Join the geometry columns of ``measure.json``.
    baseline : bool
        Join ``baseline_id``: the matching estimate of ``<model slug>/<tensor>/baseline.json``
        (N(0, I) samples shaped like the last measured checkpoint); ``None`` if absent.
    tensors : list of str
        Tensors swept, as in the config (``embed_in``, ``embed_out``, ...).
    tokens_per_step : int
        Tokens seen per step, for ``tokens`` where the revision name does not carry them.
    revision_pattern : str or None
        The listing's ``revision_pattern`` (:mod:`embdim.revnames`), to read tokens from names.

    Returns
    -------
    list of dict
        One row per model x tensor x step x estimator, keyed by :data:`COLUMNS`
        (+ :data:`GEOMETRY_COLUMNS`, + :data:`BASELINE_COLUMNS`); absent values are ``None``.
        A result file not written yet gives ``status=pending``.

    Raises
    ------
    InputError
        A revision table or result file is missing or unreadable.
    """
    root = Path(results_dir)
    specs = _as_specs(estimators)
    listings = {m: read_revisions(root / model_slug(m) / "revisions.tsv") for m in models}
    results: dict = {}  # (model, tensor, step) -> (revision row, measure.json or None)
    for model in models:
        by_step = revisions_by_step(listings[model])
        for tensor in tensors:
            for step in steps:
                rev = by_step.get(step)
                res = None
                if rev is not None and rev["status"] == "ok":
                    res = _read_json(measure_path(root, model_slug(model), tensor, rev["revision"]))
                results[(model, tensor, step)] = (rev, res)
    flags = {t: _audit(root, models, listings, results, t, steps) for t in tensors}
    patterns = compile_patterns(revision_pattern)
    out = []
    for model in models:
        slug = model_slug(model)
        for tensor in tensors:
            base = _read_json(baseline_path(root, slug, tensor)) if baseline else None
            for step in steps:
                rev, res = results[(model, tensor, step)]
                for spec in specs:
                    row = _row(model, tensor, step, spec, rev, res, geometry, base if baseline else False)
                    row.update(flags[tensor].get((model, step), {}))
                    parsed = parse_revision(rev["revision"], patterns) if rev else None
                    row["tokens"] = tokens_seen(step, parsed.tokens if parsed else None, tokens_per_step)
                    out.append(row)
    return out


def _identity(rev: dict, res: dict | None) -> dict:
    """What identifies a checkpoint's tensor: its bytes' sha256 (measure.json) and the blob of the
    file that holds it (the fetch's own record where there is one: the listing's file is that of
    the listed tensor, another shard for a sharded checkpoint's embed_out)."""
    prov = (res or {}).get("provenance") or {}
    source = prov.get("source") or {}
    tied = source.get("tied")
    return {"step": rev["step"], "tensor_sha256": prov.get("tensor_sha256") or source.get("tensor_sha256"),
            "blob_sha256": source.get("blob_sha256") or rev.get("blob_sha256") or None,
            "file": source.get("file") or rev.get("file") or None,
            "tied": {"true": True, "false": False}.get(tied)}


def _audit(root: Path, models, listings, results, tensor: str, steps) -> dict:
    """Integrity flags of one tensor's rows (:func:`embdim.integrity.audit`), plus the identity columns."""
    per_model = []
    for model in models:
        rows = []
        for step in steps:
            rev, res = results[(model, tensor, step)]
            if rev is not None and rev["status"] == "ok":
                rows.append(_identity(rev, res))
        final = final_revision(listings[model])
        if final is not None:
            done = next((r for r in rows if r["step"] == final["step"]), None)
            final = done or _identity(final, _read_json(measure_path(root, model_slug(model), tensor,
                                                                     final["revision"])))
        per_model.append((model, rows, final))
    flags = audit(per_model)
    for model, rows, _ in per_model:
        for r in rows:
            flags[(model, r["step"])].update(tensor_sha256=r["tensor_sha256"], blob_sha256=r["blob_sha256"],
                                             file=r["file"], tied=r["tied"])
    return flags


def _row(model, tensor, step, spec, rev, res, geometry, base) -> dict:
    """One summary row (see :func:`summarize`); ``base`` False = no baseline column."""
    row = dict.fromkeys(COLUMNS + (GEOMETRY_COLUMNS if geometry else [])
                        + (BASELINE_COLUMNS if base is not False else []))
    row.update(model=model, tensor=tensor, step=step, estimator=spec.name, k=spec.k,
               normalization=spec.normalization, aggregate=spec.aggregate, status="missing")
    if rev is not None:
        row.update(revision=rev["revision"], commit=rev["commit"] or None,
                   file=rev["file"] or None, blob_sha256=rev["blob_sha256"] or None,
                   status=rev["status"])
    if rev is not None and rev["status"] == "ok":
        est = find_estimate((res or {}).get("estimates"), spec)
        if est is None or (geometry and not (res or {}).get("geometry")):
            row["status"] = "pending"
        for key in ESTIMATE_KEYS:
            row[key] = (est or {}).get(key)
        for key in MEASURE_KEYS:
            row[key] = (res or {}).get(key)
        prov = (res or {}).get("provenance") or {}
        row.update(tensor_name=prov.get("tensor"), dtype=prov.get("dtype"),
                   knn_engine=((res or {}).get("knn") or {}).get("engine"))
        if prov.get("shape"):
            row["d"] = prov["shape"][-1]
        for key in GEOMETRY_COLUMNS if geometry else []:
            row[key] = ((res or {}).get("geometry") or {}).get(key)
    if base is not False:
        row["baseline_id"] = (find_estimate((base or {}).get("estimates"), spec) or {}).get("id")
    return row


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
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
    rows = read_tsv(path, {"model", "step", "estimator", "id", "status"}, "a summary table")
    return [{k: _parse(k, v) for k, v in row.items()} for row in rows]


def _parse(key: str, value: str | None):
    if value is None or value == "":
        return None
    if key in ("model", "revision", "commit", "estimator", "status", "file", "blob_sha256",
               "tensor", "tensor_name", "dtype", "normalization", "aggregate", "duplicate_kind", "tensor_sha256"):
        return value
    if key in ("same_as_final", "tied"):
        return {"true": True, "false": False}.get(value, value)
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def read_measure_extras(results_dir, rows: list[dict], lid_key: str | None) -> dict:
    """Per (model, tensor, step) of the ``ok`` rows: ``id_vs_k`` from ``measure.json`` and, when
    ``lid_key`` is given, the finite per-token values ``lid_key`` of ``lid.npz`` (for the
    figures; missing files are skipped)."""
    import numpy as np

    out: dict = {}
    for r in rows:
        key = (r["model"], r["tensor"], r["step"])
        if r["status"] != "ok" or key in out or not r.get("revision"):
            continue
        d = Path(results_dir) / model_slug(r["model"]) / r["tensor"] / r["revision"]
        res = _read_json(d / "measure.json") or {}
        lid = None
        if lid_key and (d / "lid.npz").is_file():
            with np.load(d / "lid.npz") as z:
                if lid_key in z.files:
                    v = z[lid_key]
                    lid = v[np.isfinite(v)]
        out[key] = {"id_vs_k": res.get("id_vs_k"), "lid": lid}
    return out
