# SPDX-License-Identifier: MIT
"""Train gensim Word2Vec or FastText on a tokenized corpus and save the word vectors.

Settings: ``vector_size`` 300 (the paper's ED), everything else gensim's defaults unless the
caller sets it; the settings gensim actually used are read back from the trained model and
recorded in the JSON beside the vectors.
"""
from __future__ import annotations

import time

from ..errors import InputError

MODELS = ("word2vec", "fasttext")
# The gensim parameters a config may set (any other stays gensim's default).
PARAMS = ("window", "min_count", "epochs", "sg", "negative", "sample", "alpha", "min_n", "max_n",
          "bucket", "max_vocab_size")
# Read back from the trained model and recorded (FastText-only ones where present).
RECORDED = ("vector_size", "window", "min_count", "epochs", "sg", "hs", "negative", "ns_exponent",
            "sample", "alpha", "min_alpha", "cbow_mean", "seed", "workers", "max_vocab_size",
            "min_n", "max_n", "bucket", "word_ngrams")


def train_vectors(corpus_file: str, model: str, vector_size: int = 300, seed: int = 0,
                  workers: int = 1, params: dict | None = None):
    """Train ``model`` on ``corpus_file`` (one document per line, tokens space-separated).

    Returns ``(KeyedVectors, settings dict)``.

    Raises
    ------
    InputError
        Unknown model or parameter, an empty vocabulary.
    """
    import gensim
    from gensim.models import FastText, Word2Vec
    from gensim.models.word2vec import LineSentence

    if model not in MODELS:
        raise InputError(f"model {model!r}: expected one of {', '.join(MODELS)}")
    params = dict(params or {})
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise InputError(f"unknown gensim parameter(s) {unknown}; allowed: {', '.join(PARAMS)}")
    if model == "word2vec":
        for key in ("min_n", "max_n", "bucket"):
            params.pop(key, None)  # FastText only
    cls = Word2Vec if model == "word2vec" else FastText
    t0 = time.perf_counter()
    m = cls(vector_size=vector_size, seed=seed, workers=workers, **params)
    m.build_vocab(corpus_iterable=LineSentence(corpus_file))
    if not m.wv.index_to_key:
        raise InputError(f"{corpus_file}: no token occurs min_count={m.min_count} times")
    m.train(corpus_iterable=LineSentence(corpus_file), total_examples=m.corpus_count,
            epochs=m.epochs)
    seconds = time.perf_counter() - t0
    wv = m.wv
    settings = {"model": model, "class": f"gensim.models.{cls.__name__}",
                "gensim_version": gensim.__version__, "set": {"vector_size": vector_size, **params},
                "gensim": {k: _plain(getattr(m, k, getattr(wv, k, None))) for k in RECORDED
                           if hasattr(m, k) or hasattr(wv, k)},
                "vocabulary": len(wv.index_to_key), "corpus_documents": m.corpus_count,
                "corpus_tokens": m.corpus_total_words, "train_seconds": seconds}
    return wv, settings


def _plain(v):
    return v.item() if hasattr(v, "item") else v
