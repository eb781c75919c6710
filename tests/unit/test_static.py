# SPDX-License-Identifier: MIT
"""Static-embedding pieces (issue 15): the corpus readers, the three tokenizations, training
records gensim's settings, the summary table puts the paper's numbers beside each cell."""
from __future__ import annotations

import json

import numpy as np
import pytest

from embdim.errors import ConfigError, InputError
from embdim.static.corpus import doc_root, load_corpus
from embdim.static.settings import check_static
from embdim.static.table import COLUMNS, PAPER_TABLE3, collect, read_tsv, to_tsv
from embdim.static.tokenize import tokenize

TEXT = "The cat sat on the mat.\nIt was warm.\n\nA dog barked at the cat, twice.\n"


def test_text_corpus_paragraphs_and_slice(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text(TEXT)
    c = load_corpus(str(p))
    assert c.texts == ["The cat sat on the mat. It was warm.", "A dog barked at the cat, twice."]
    assert not c.truncated
    cut = load_corpus(str(p), max_bytes=40)
    assert cut.texts == c.texts[:1] and cut.truncated and cut.sha256 != c.sha256


def test_csv_corpus_column_by_index_and_by_header(tmp_path):
    p = tmp_path / "ag.csv"
    p.write_text('"3","Wall St. Bears","Short-sellers, Wall Street\'s dwindling band"\n'
                 '"4","Gene study","Scientists, at last, found it"\n')
    assert load_corpus(str(p), 2).texts == ["Short-sellers, Wall Street's dwindling band",
                                            "Scientists, at last, found it"]
    h = tmp_path / "h.csv"
    h.write_text("label,text\n1,hello world\n2,bye now\n")
    assert load_corpus(str(h), "text").texts == ["hello world", "bye now"]
    for col in (None, "nope", 7):
        with pytest.raises(InputError):
            load_corpus(str(h) if col != 7 else str(p), col)


def test_python3_doc_corpus_is_installed_and_fixed():
    # CI installs Debian's python3-doc (.ci/run); the default corpus must be there
    root = doc_root()
    assert (root / "tutorial" / "introduction.rst.txt").is_file()
    a, b = load_corpus("python3-doc", max_bytes=50_000), load_corpus("python3-doc", max_bytes=50_000)
    assert a.sha256 == b.sha256 and 40_000 < a.n_bytes <= 50_000 and a.truncated
    assert any("Python" in t for t in a.texts)


def test_tokenizers():
    texts = ["the quick brown fox jumps over the lazy dog " * 3, "a dog and a fox and a cat " * 4] * 20
    ws, info = tokenize(texts, "whitespace")
    assert ws == [t.split() for t in texts] and info["tokenizer"] == "whitespace"
    for method in ("sentencepiece", "bpe"):
        toks, info = tokenize(texts, method, vocab_size=300)
        assert len(toks) == len(texts) and info["tokenizer"] == method
        flat = [x for t in toks for x in t]
        assert flat and not any(" " in x or x == "" for x in flat)
        assert len(set(flat)) < len(flat)  # subwords repeat
        # subword pieces spell the text back (markers U+2581 / U+0120 stand for spaces)
        joined = "".join(toks[0]).replace("\u2581", " ").replace("\u0120", " ").strip()
        assert joined == texts[0].strip()
    with pytest.raises(InputError):
        tokenize(texts, "bpe", vocab_size=10)


def test_train_records_gensim_settings(tmp_path):
    from embdim.static.train import train_vectors

    corpus = tmp_path / "c.txt"
    rng = np.random.default_rng(0)
    vocab = [f"t{i}" for i in range(30)]
    corpus.write_text("\n".join(" ".join(rng.choice(vocab, 20)) for _ in range(60)) + "\n")
    for model in ("word2vec", "fasttext"):
        wv, s = train_vectors(str(corpus), model, vector_size=16, params={"bucket": 500, "epochs": 1})
        assert wv.vectors.shape == (30, 16) and s["vocabulary"] == 30 and s["corpus_tokens"] == 1200
        assert s["gensim"]["vector_size"] == 16 and s["gensim"]["window"] == 5  # gensim's default
        assert s["gensim"]["min_count"] == 5 and s["gensim"]["epochs"] == 1
        assert ("bucket" in s["gensim"]) == (model == "fasttext")
    with pytest.raises(InputError):
        train_vectors(str(corpus), "word2vec", params={"nope": 1})


def _measurement(d, ids, n, of):
    d.mkdir(parents=True)
    est = [{"estimator": "mle", "k": 10, "id": ids[0], "ci_low": ids[0] - 1, "ci_high": ids[0] + 1}]
    (d / "measure.json").write_text(json.dumps({
        "n": n, "ed": 300, "estimates": est, "sample": {"n": n, "of": of, "seed": 0} if of > n else None,
        "seconds": {"knn": 1.0, "prepare": 0.5}, "provenance": {"input": "x", "format": "word2vec-bin"}}))
    (d / "baseline.json").write_text(json.dumps({"estimates": [{"estimator": "mle", "k": 10, "id": ids[1]}]}))


def test_summary_rows_carry_the_paper_values(tmp_path):
    _measurement(tmp_path / "bpe" / "fasttext", (12.0, 120.0), 100, 5000)
    _measurement(tmp_path / "bpe" / "word2vec", (25.0, 121.0), 80, 80)
    _measurement(tmp_path / "vectors" / "glove-wiki-gigaword-300", (24.0, 130.0), 100, 400000)
    rows = collect(tmp_path, ["bpe"], ["word2vec", "fasttext"], ["glove-wiki-gigaword-300"])
    assert [(r["table"], r["model"], r["paper_id"]) for r in rows] == [
        (3, "word2vec", PAPER_TABLE3[("word2vec", "bpe")]), (3, "fasttext", 11.98), (1, "", 24.77)]
    assert rows[0]["all_words"] is True and rows[1]["all_words"] is False
    assert rows[1]["vocabulary"] == 5000 and rows[1]["baseline_id"] == 120.0
    assert rows[0]["measure_seconds"] == 1.5
    path = tmp_path / "s.tsv"
    path.write_text(to_tsv(rows))
    back = read_tsv(path)
    assert path.read_text().splitlines()[0].split("\t") == COLUMNS
    assert [r["id"] for r in back] == [25.0, 12.0, 24.0] and back[2]["paper_baseline_id"] == 130.3


def test_check_static(tmp_path):
    from embdim.estimators import EstimatorSpec

    est = [EstimatorSpec("mle", 10, "k-1", "harmonic")]
    check_static({"vectors": []}, est)
    with pytest.raises(ConfigError, match="static.vectors\\[0\\].path"):
        check_static({"vectors": [{"name": "a", "path": str(tmp_path / "none")}]}, est)
    with pytest.raises(ConfigError, match="static.corpus_column"):
        (tmp_path / "x.csv").write_text("a\n")
        check_static({"corpus": str(tmp_path / "x.csv")}, est)
    with pytest.raises(ConfigError, match="static.sample"):
        check_static({"sample": 10}, est)
