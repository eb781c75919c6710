# SPDX-License-Identifier: MIT
"""The three tokenizations of Table 3, each trained on the corpus itself (deterministically):

- ``sentencepiece``: a SentencePiece unigram model (the ``sentencepiece`` package);
- ``bpe``: a byte-level BPE (``tokenizers``, as the offline demo trains one);
- ``whitespace``: ``str.split()``.

The output is one document per line, tokens separated by single spaces (gensim's LineSentence
format); tokens never hold a space (SentencePiece writes U+2581, byte-level BPE U+0120).
"""
from __future__ import annotations

import io

from ..errors import InputError
from .corpus import TOKENIZERS


def tokenize(texts: list[str], method: str, vocab_size: int = 16000, seed: int = 0,
             threads: int = 1) -> tuple[list[list[str]], dict]:
    """Tokenize ``texts`` with ``method``; returns the token lists and the tokenizer's settings.

    Raises
    ------
    InputError
        Unknown method, a vocabulary too small to train.
    """
    if method == "whitespace":
        return [t.split() for t in texts], {"tokenizer": "whitespace", "rule": "str.split()"}
    if vocab_size < 300:  # byte alphabet (256) + a few merges / SentencePiece's own floor
        raise InputError(f"vocab_size {vocab_size}: at least 300 for {method}")
    if method == "sentencepiece":
        return _sentencepiece(texts, vocab_size, seed, threads)
    if method == "bpe":
        return _bpe(texts, vocab_size)
    raise InputError(f"tokenizer {method!r}: expected one of {', '.join(TOKENIZERS)}")


def _sentencepiece(texts, vocab_size, seed, threads):
    import sentencepiece as spm

    model = io.BytesIO()
    settings = dict(model_type="unigram", vocab_size=vocab_size, character_coverage=0.9995,
                    hard_vocab_limit=False,  # a small corpus yields fewer pieces, not an error
                    num_threads=threads)
    spm.set_random_generator_seed(seed)  # the unigram trainer's sampling
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=model,
                                       minloglevel=2, **settings)
    except RuntimeError as e:
        raise InputError(f"sentencepiece: {e}") from e
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    tokens = sp.encode(texts, out_type=str)
    return tokens, {"tokenizer": "sentencepiece", **settings, "seed": seed, "pieces": sp.get_piece_size(),
                    "sentencepiece_version": spm.__version__}


def _bpe(texts, vocab_size):
    import tokenizers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    tokens = [enc.tokens for enc in tok.encode_batch(texts)]
    return tokens, {"tokenizer": "bpe", "model": "byte-level BPE", "vocab_size": vocab_size,
                    "min_frequency": 2, "add_prefix_space": True,
                    "pieces": tok.get_vocab_size(), "tokenizers_version": tokenizers.__version__}
