# SPDX-License-Identifier: MIT
"""``results/layers.tsv``: one row per model x step x layer x estimator x positions (x tokens).

Read from each checkpoint's ``layers.json`` (rule measure_layers), whose entries carry
``tokens``: ``sample``, or the word-order baseline ``shuffled`` (the last requested step). A step the model lacks is recorded as in
``summary.tsv``: rows with ``status=missing`` (or the listing's ``no-weights``), no layer; a
checkpoint whose weight blob equals an earlier step's names it in ``duplicate_of``; a result not
written yet is ``pending``. ``final_ln`` is in the JSON, not in the table (its layer is no
depth). The columns the issue fixes come first, in its order; ``positions``, ``tokens`` and
``duplicate_of`` follow.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..config import model_slug
from ..errors import InputError
from .layers import GEOMETRY_KEYS
from .normvar import KEYS as NORMVAR_KEYS

COLUMNS = (["model", "step", "revision", "commit", "layer", "depth", "n", "n_unique", "d",
            "estimator", "k", "id", "ci_low", "ci_high"] + list(GEOMETRY_KEYS)
           + list(NORMVAR_KEYS) + ["corpus_sha256", "sample_sha256", "status", "positions",
                                   "tokens", "duplicate_of"])
TOKENS = ("sample", "shuffled")


def layers_path(root, slug: str, revision: str) -> Path:
    """``<root>/<slug>/hidden/<revision>/layers.json`` (rule measure_layers)."""
    return Path(root) / slug / "hidden" / revision / "layers.json"


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable result: {e}") from e


def _duplicate_steps(model: str, listing: list[dict]) -> dict[int, int]:
    """step -> the earliest step served by the same weight file (the whole checkpoint is the
    same, so its hidden states are too), from :func:`embdim.integrity.audit`."""
    from ..integrity import audit

    ok = [{"step": r["step"], "blob_sha256": r.get("blob_sha256") or None, "tensor_sha256": None}
          for r in listing if r["step"] is not None and r["status"] == "ok"]
    return {step: f["duplicate_of"] for (_, step), f in audit([(model, ok, None)]).items()
            if f["duplicate_of"] is not None}


def summarize_layers(results_dir, models: list[str], steps: list[int], estimators,
                     positions=("all", "skip0")) -> list[dict]:
    """The rows of ``layers.tsv`` (keys :data:`COLUMNS`; absent values None).

    Raises
    ------
    InputError
        A revision table or result file is missing or unreadable.
    """
    from ..summary import _as_specs, find_estimate, read_revisions, revisions_by_step

    root, specs, out = Path(results_dir), _as_specs(estimators), []
    for model in models:
        slug = model_slug(model)
        listing = read_revisions(root / slug / "revisions.tsv")
        by_step, dups = revisions_by_step(listing), _duplicate_steps(model, listing)
        for step in steps:
            rev = by_step.get(step)
            base = dict.fromkeys(COLUMNS)
            base.update(model=model, step=step, status="missing")
            if rev is not None:
                base.update(revision=rev["revision"], commit=rev["commit"] or None,
                            status=rev["status"], duplicate_of=dups.get(step))
            if rev is None or rev["status"] != "ok":
                out += [{**base, "estimator": s.name, "k": s.k, "positions": p}
                        for s in specs for p in positions]
                continue
            doc = _read(layers_path(root, slug, rev["revision"]))
            if doc is None:
                out += [{**base, "estimator": s.name, "k": s.k, "positions": p,
                         "tokens": "sample", "status": "pending"}
                        for s in specs for p in positions]
                continue
            out += _rows(base, doc, specs, positions, find_estimate)
    return out


def _rows(base: dict, doc: dict, specs, positions, find_estimate) -> list[dict]:
    rows = []
    for e in doc.get("layers", []):
        if e.get("layer") is None or e.get("positions") not in positions:
            continue
        tokens = e.get("tokens") or doc.get("tokens") or "sample"
        common = {**base, "layer": e["layer"], "depth": e["depth"], "n": e["n"],
                  "n_unique": e["n_unique"], "d": e["d"], "positions": e["positions"],
                  "tokens": tokens, "corpus_sha256": doc.get("corpus_sha256"),
                  "sample_sha256": doc.get("sample_sha256"),
                  **{k: (e.get("geometry") or {}).get(k) for k in GEOMETRY_KEYS},
                  **{k: (e.get("norm_variance") or {}).get(k) for k in NORMVAR_KEYS}}
        for s in specs:
            est = find_estimate(e.get("estimates"), s)
            rows.append({**common, "estimator": s.name, "k": s.k,
                         "id": (est or {}).get("id"), "ci_low": (est or {}).get("ci_low"),
                         "ci_high": (est or {}).get("ci_high"),
                         "status": "ok" if est else "pending"})
    return rows


def write_layers_tsv(rows: list[dict], path: str | os.PathLike) -> None:
    """Write the table atomically, columns in :data:`COLUMNS` order."""
    from ..io import atomic_write
    from ..summary import _cell

    lines = ["\t".join(COLUMNS)] + ["\t".join(_cell(r.get(c)) for c in COLUMNS) for r in rows]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, [("\n".join(lines) + "\n").encode()])


def read_layers_tsv(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``layers.tsv``; numbers parsed, empty cells None."""
    from ..io import read_tsv

    rows = read_tsv(path, {"model", "step", "layer", "estimator", "id"}, "a layers table")
    text_cols = {"model", "revision", "commit", "estimator", "status", "positions", "tokens",
                 "corpus_sha256", "sample_sha256"}
    return [{k: None if v in (None, "") else v if k in text_cols else _num(v)
             for k, v in r.items()} for r in rows]


def _num(v: str):
    try:
        return int(v)
    except ValueError:
        return float(v)
