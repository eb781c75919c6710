# SPDX-License-Identifier: MIT
"""``results/static/summary.tsv``: Table 3 (trained Word2Vec/FastText x tokenizer) and Table 1
(pretrained word-vector files), each row beside the paper's value and its N(0, I) baseline.

Layout read (written by the rules of workflow/rules/static.smk):
  results/static/<tokenizer>/<model>/{vectors.json, measure.json, baseline.json}
  results/static/vectors/<name>/{measure.json, baseline.json}
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError

# The paper's Table 3: MLE k = 10 on a 10 000-word sample, ED 300, trained on AG-NEWS.
PAPER_TABLE3 = {("word2vec", "sentencepiece"): 24.78, ("word2vec", "bpe"): 24.73,
                ("word2vec", "whitespace"): 27.00, ("fasttext", "sentencepiece"): 11.37,
                ("fasttext", "bpe"): 11.98, ("fasttext", "whitespace"): 10.75}
# The paper's Table 1 (gensim-data names), and random N(0, I) in the same 300 dimensions.
PAPER_TABLE1 = {"word2vec-google-news-300": 24.75, "glove-wiki-gigaword-300": 24.77,
                "fasttext-wiki-news-subwords-300": 13.19}
PAPER_RANDOM = 130.3

COLUMNS = ["table", "name", "model", "tokenizer", "estimator", "k", "id", "ci_low", "ci_high",
           "baseline_id", "paper_id", "paper_baseline_id", "n", "vocabulary", "all_words", "ed",
           "format", "input", "corpus_tokens", "train_seconds", "measure_seconds"]


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read ({e})") from e


def _rows(table: int, name: str, model: str, tokenizer: str, d: Path, train: dict | None,
          paper: float | None) -> list[dict]:
    m = _read(d / "measure.json")
    base = _read(d / "baseline.json") if (d / "baseline.json").exists() else {"estimates": []}
    vocab = (m.get("sample") or {}).get("of", m["n"])
    out = []
    for e in m["estimates"]:
        b = [x["id"] for x in base["estimates"] if x["estimator"] == e["estimator"] and x["k"] == e["k"]]
        out.append({
            "table": table, "name": name, "model": model, "tokenizer": tokenizer,
            "estimator": e["estimator"], "k": e["k"], "id": e["id"], "ci_low": e["ci_low"],
            "ci_high": e["ci_high"], "baseline_id": b[0] if b else None, "paper_id": paper,
            "paper_baseline_id": PAPER_RANDOM, "n": m["n"], "vocabulary": vocab,
            "all_words": m.get("sample") is None, "ed": m["ed"],
            "format": m["provenance"].get("format"), "input": m["provenance"]["input"],
            "corpus_tokens": (train or {}).get("corpus_tokens"),
            "train_seconds": (train or {}).get("train_seconds"),
            "measure_seconds": sum(m.get("seconds", {}).values()),
        })
    return out


def collect(root: str | Path, tokenizers: list[str], models: list[str],
            vectors: list[str]) -> list[dict]:
    """Rows of the static summary, Table 3 first (model x tokenizer), then Table 1 (``vectors``).

    Raises
    ------
    InputError
        A measurement is missing or unreadable.
    """
    root = Path(root)
    rows = []
    for model in models:
        for tok in tokenizers:
            d = root / tok / model
            train = _read(d / "vectors.json") if (d / "vectors.json").exists() else None
            rows += _rows(3, f"{model}-{tok}", model, tok, d, train, PAPER_TABLE3.get((model, tok)))
    for name in vectors:
        rows += _rows(1, name, "", "", root / "vectors" / name, None, PAPER_TABLE1.get(name))
    return rows


def to_tsv(rows: list[dict]) -> str:
    def cell(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return f"{v:.6g}"
        return str(v)
    return "\n".join(["\t".join(COLUMNS)] + ["\t".join(cell(r.get(c)) for c in COLUMNS) for r in rows]) + "\n"


def read_tsv(path: str | Path) -> list[dict]:
    """The summary back as dicts (numbers parsed), for the figures.

    Raises
    ------
    InputError
    """
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from e
    if not lines or lines[0].split("\t") != COLUMNS:
        raise InputError(f"{path}: not a static summary (header differs)")
    out = []
    for line in lines[1:]:
        r = dict(zip(COLUMNS, line.split("\t")))
        for key in ("id", "ci_low", "ci_high", "baseline_id", "paper_id", "paper_baseline_id"):
            r[key] = float(r[key]) if r[key] else None
        r["table"] = int(r["table"])
        out.append(r)
    return out
