# SPDX-License-Identifier: MIT
"""Issue 15 end to end through Snakemake: a tiny corpus is tokenized three ways, Word2Vec and
FastText are trained on each, every vector set (and one word-vector file) is measured on a word
sample beside its N(0, I) baseline, and results/static/summary.tsv + the figures come out."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from embdim.static.table import COLUMNS, read_tsv
from tests.workflow.conftest import job_counts, make_workdir, snakemake, sweep_env

pytestmark = pytest.mark.slow


class NoHub:  # nothing here may reach a Hub
    url = "http://127.0.0.1:9"


def _corpus(path, n_docs=300):
    # a Zipf-like vocabulary, so a few hundred types pass gensim's min_count of 5
    rng = np.random.default_rng(0)
    vocab = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ra", "si", "tu")
             for b in ("n", "ren", "mas", "tel", "bo", "x", "ly", "ra", "dun", "ek")]
    p = 1 / np.arange(1, len(vocab) + 1)
    docs = [" ".join(rng.choice(vocab, 25, p=p / p.sum())) for _ in range(n_docs)]
    path.write_text("\n\n".join(docs) + "\n")


def test_static_tables_end_to_end(tmp_path):
    from gensim.models import KeyedVectors

    corpus = tmp_path / "corpus.txt"
    _corpus(corpus)
    kv = KeyedVectors(16)
    kv.add_vectors([f"v{i}" for i in range(60)],
                   np.random.default_rng(1).standard_normal((60, 16)).astype(np.float32))
    glove = tmp_path / "glove.txt"
    kv.save_word2vec_format(str(glove), write_header=False)
    cfg = {"models": ["EleutherAI/pythia-14m"], "steps": [1000],  # unused: static is set
           "estimators": [{"name": "mle", "k": 5}], "bootstrap": 10, "k_curve": 0,
           "geometry": False, "device": "cpu", "threads": 1,
           "static": {"corpus": str(corpus), "corpus_bytes": None, "vector_size": 16,
                      "vocab_size": 300, "sample": 40, "workers": 1,
                      "gensim": {"bucket": 1000, "epochs": 1},
                      "vectors": [{"name": "glove-wiki-gigaword-300", "path": str(glove),
                                   "format": "glove"}]}}
    wd = make_workdir(tmp_path / "wd", cfg)
    env = sweep_env(NoHub, wd / "hf-home")
    counts = job_counts(snakemake(wd, "-n", env=env).stdout)
    assert counts["tokenize_static_corpus"] == 3 and counts["train_static_embedding"] == 6
    assert counts["measure_static_embedding"] == 6 and counts["measure_word_vectors"] == 1
    assert counts["estimate_static_baseline"] == 7 and "list_revisions" not in counts
    snakemake(wd, "--cores", "2", env=env)

    rows = read_tsv(wd / "results/static/summary.tsv")
    assert (wd / "results/static/summary.tsv").read_text().split("\n")[0].split("\t") == COLUMNS
    cells = [(r["table"], r["model"], r["tokenizer"]) for r in rows]
    assert cells == [(3, m, t) for m in ("word2vec", "fasttext")
                     for t in ("sentencepiece", "bpe", "whitespace")] + [(1, "", "")]
    for r in rows:
        assert math.isfinite(r["id"]) and 0 < r["id"] < 16 * 3 and r["ed"] == "16"
        assert r["baseline_id"] is not None and r["paper_id"] is not None
        assert r["n"] == "40" and r["all_words"] == "false"  # each set has more than 40 words
    assert rows[-1]["name"] == "glove-wiki-gigaword-300" and rows[-1]["paper_id"] == 24.77
    assert rows[-1]["vocabulary"] == "60" and rows[-1]["format"] == "glove"
    for name in ("table3", "table1"):
        for ext in ("png", "svg"):
            assert (wd / f"results/static/{name}.{ext}").stat().st_size > 1000
    # settings recorded beside the vectors: the configured ones and gensim's own defaults
    s = json.loads((wd / "results/static/bpe/fasttext/vectors.json").read_text())
    assert s["gensim"]["vector_size"] == 16 and s["gensim"]["bucket"] == 1000
    assert s["gensim"]["window"] == 5 and s["gensim"]["min_n"] == 3
    tok = json.loads((wd / "results/static/sentencepiece/corpus.json").read_text())
    assert tok["tokenizer"] == "sentencepiece" and tok["model_type"] == "unigram"
    assert len(tok["corpus"]["sha256"]) == 64
    z = np.load(wd / "results/static/whitespace/word2vec/lid.npz")
    words = KeyedVectors.load_word2vec_format(
        str(wd / "results/static/whitespace/word2vec/vectors.bin"), binary=True).index_to_key
    assert list(z["word"]) == [words[i] for i in z["row"]] and len(z["word"]) == 40
    for log in ("logs/train_static_embedding/bpe/word2vec.log",
                "benchmarks/train_static_embedding/bpe/word2vec.tsv"):
        assert (wd / log).exists()
