# SPDX-License-Identifier: MIT
"""The per-token view of a sweep: each token's local ID at every measured step (``tokens.tsv``).

Built on the ``lid.npz`` files of ``embdim measure`` (indexed by the original row, so row i is
token id i; a duplicate row already carries its distinct representative's value, through
``unique_of``). Only the ids the tokenizer knows are tabulated (padding rows are no token).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

# Tokens named in the report per list (highest / lowest LID at the first and last step).
TOP = 20


@dataclass
class TokenTable:
    """``token_id`` (0 .. n-1), ``token`` (decoded), ``steps`` (sorted) and ``lid`` (n x steps,
    NaN where a step did not measure the token, e.g. not drawn by ``sample``); ``key`` is the
    ``lid.npz`` array used."""

    tokens: list[str]
    steps: list[int]
    lid: np.ndarray
    key: str
    n_rows: int = 0  # rows of the matrix (tokens + padding rows)

    @property
    def columns(self) -> list[str]:
        """``token_id, token, lid_step<N>...`` (one LID column per step, ascending)."""
        return ["token_id", "token"] + [f"lid_step{s}" for s in self.steps]

    def extremes(self, step: int, top: int = TOP) -> dict:
        """The ``top`` tokens of highest and lowest LID at ``step`` (finite values only; ties by id)."""
        v = self.lid[:, self.steps.index(step)]
        ids = np.flatnonzero(np.isfinite(v))
        order = ids[np.lexsort((ids, v[ids]))]

        def entry(i):
            return {"token_id": int(i), "token": self.tokens[i], "lid": float(v[i])}
        high = ids[np.lexsort((ids, -v[ids]))][:top]  # highest first; ties: lower id first
        return {"step": step, "highest": [entry(i) for i in high],
                "lowest": [entry(i) for i in order[:top]]}  # lowest first


def lid_key(files: list[str], key: str | None, what: str) -> str:
    """``key`` if the file has it; by default the first ``lid_k*`` array (the first MLE estimator
    of the sweep: ``embdim measure`` writes them in estimator order)."""
    if key is not None:
        if key not in files:
            raise InputError(f"{what}: no array {key!r} (has {', '.join(files)})")
        return key
    for f in files:
        if f.startswith("lid_k"):
            return f
    raise InputError(f"{what}: no lid_k<k> array (has {', '.join(files)}); is it an embdim measure --lid-out file?")


def read_lid(path: str | os.PathLike, key: str | None = None) -> tuple[np.ndarray, str]:
    """One step's per-row LID from ``lid.npz`` (no pickle), mapped to original rows.

    An array as long as ``unique_of`` is per original row already; a shorter one (per distinct
    row) is spread through ``unique_of`` (-1: not measured -> NaN).

    Raises
    ------
    InputError
        Unreadable file, missing arrays, wrong shapes or out-of-range ``unique_of``.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            key = lid_key(list(z.files), key, str(path))
            v = np.asarray(z[key], dtype=np.float64)
            uo = np.asarray(z["unique_of"]) if "unique_of" in z.files else None
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{path}: unreadable lid file: {e}") from e
    if v.ndim != 1:
        raise InputError(f"{path}: {key} is not 1-D")
    if uo is None or len(v) == len(uo):
        return v, key
    if uo.ndim != 1 or uo.dtype.kind not in "iu" or (uo.size and (uo.max() >= len(v) or uo.min() < -1)):
        raise InputError(f"{path}: unique_of does not index {key}")
    out = np.full(len(uo), np.nan)
    out[uo >= 0] = v[uo[uo >= 0]]
    return out, key


def build_table(lid_files: dict[int, str | os.PathLike], tokenizer_raw: bytes,
                key: str | None = None, tokenizer_name: str = "tokenizer.json") -> TokenTable:
    """The per-token table of ``{step: lid.npz}`` with the tokenizer's decoded tokens.

    Raises
    ------
    InputError
        No step, the steps' row counts differ, or the tokenizer knows more tokens than rows.
    CheckpointError
        A malformed tokenizer.
    """
    from .formats.tokenizer import count_tokens, decode_tokens

    if not lid_files:
        raise InputError("no lid.npz to tabulate")
    steps = sorted(lid_files)
    cols, rows = [], None
    for s in steps:
        v, key = read_lid(lid_files[s], key)
        if rows is not None and len(v) != rows:
            raise InputError(f"{lid_files[s]}: {len(v)} rows, but step {steps[0]} has {rows}")
        rows = len(v)
        cols.append(v)
    n = count_tokens(tokenizer_raw, tokenizer_name)
    if n > rows:
        raise InputError(f"{tokenizer_name} knows {n} tokens but the matrix has only {rows} rows")
    lid = np.stack(cols, axis=1)[:n]
    return TokenTable(decode_tokens(tokenizer_raw, n, tokenizer_name), steps, lid, key, rows)


def frequent_ids(tokenizer_raw: bytes, n_tokens: int, count: int = 5) -> list[int]:
    """Ids of a few frequent tokens: a BPE's first merges (merge order is frequency order in BPE
    training), i.e. the tokens those merges form; without merges, the lowest ids that are not
    added (special) tokens."""
    from .formats.safe import load_json

    data = load_json(tokenizer_raw, "tokenizer.json")
    model = data.get("model") if isinstance(data, dict) else {}
    vocab = model.get("vocab") if isinstance(model, dict) else None
    merges = model.get("merges") if isinstance(model, dict) else None
    out: list[int] = []
    if isinstance(vocab, dict) and isinstance(merges, list):
        for m in merges:
            parts = m.split(" ", 1) if isinstance(m, str) else m
            if isinstance(parts, list) and len(parts) == 2 and all(isinstance(p, str) for p in parts):
                i = vocab.get(parts[0] + parts[1])
                if isinstance(i, int) and 0 <= i < n_tokens and i not in out:
                    out.append(i)
            if len(out) == count:
                return out
    added = {t.get("id") for t in data.get("added_tokens") or [] if isinstance(t, dict)}
    for i in range(n_tokens):
        if len(out) == count:
            break
        if i not in added and i not in out:
            out.append(i)
    return out


def _cell(v: float) -> str:
    return repr(float(v)) if np.isfinite(v) else ""


def to_tsv(table: TokenTable) -> str:
    """``tokens.tsv``: header :attr:`TokenTable.columns`, one row per token id; tokens escaped
    (:func:`embdim.formats.tokenizer.escape_tsv`), a LID not measured is an empty cell."""
    from .formats.tokenizer import escape_tsv

    buf = io.StringIO()
    buf.write("\t".join(table.columns) + "\n")
    for i, tok in enumerate(table.tokens):
        buf.write(f"{i}\t{escape_tsv(tok)}\t" + "\t".join(_cell(v) for v in table.lid[i]) + "\n")
    return buf.getvalue()


def extremes_html(table: TokenTable, title: str, top: int = TOP) -> str:
    """The report's table: the ``top`` highest- and lowest-LID tokens at the first and last step."""
    import html

    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>",
             f"<h2>{html.escape(title)}</h2><p>local ID ({html.escape(table.key)}) per token; "
             "tokens shown with Python escapes (repr)</p>"]
    for step in dict.fromkeys([table.steps[0], table.steps[-1]]):
        ex = table.extremes(step, top)
        for which in ("highest", "lowest"):
            parts.append(f"<h3>step {step}: {top} {which} LID</h3><table border='1'>"
                         "<tr><th>token_id</th><th>token</th><th>LID</th></tr>")
            parts += [f"<tr><td>{e['token_id']}</td><td><code>{html.escape(repr(e['token']))}</code>"
                      f"</td><td>{e['lid']:.3f}</td></tr>" for e in ex[which]]
            parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def find_lid_files(tensor_dir: str | os.PathLike, steps: list[int] | None = None) -> dict[int, Path]:
    """``{step: <tensor_dir>/step<N>/lid.npz}`` for the requested steps that have one (all found
    when ``steps`` is None)."""
    from .config import parse_step

    out = {}
    d = Path(tensor_dir)
    if not d.is_dir():
        raise InputError(f"{tensor_dir}: no such directory")
    for sub in sorted(d.iterdir()):
        s = parse_step(sub.name)
        if s is not None and (steps is None or s in steps) and (sub / "lid.npz").is_file():
            out[s] = sub / "lid.npz"
    return out
