# SPDX-License-Identifier: MIT
"""A small real tokenizer.json (byte-level BPE trained with the ``tokenizers`` library) with
nasty added tokens, and a matrix with more rows than the tokenizer has tokens (the planted case of
issue 13: padding rows at the end, identical, as Pythia's)."""
from __future__ import annotations

import numpy as np

# Added tokens whose text needs escaping in a TSV cell.
NASTY = ["tab\there", "new\nline", "back\\slash", "nul\x00x", "cr\rx", "sep\u2028x", "del\x7fx",
         "c1\x85x", "\\t-literal"]
TEXT = "def f(x):\n\treturn x  # the cat sat on the mat\r\n" * 40


def bpe_tokenizer_json(vocab_size: int = 280, nasty: bool = True) -> tuple[bytes, int]:
    """(tokenizer.json bytes, its number of token ids = max id + 1)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([TEXT], trainer=trainer)
    if nasty:
        tok.add_tokens(NASTY)
    return tok.to_str().encode(), tok.get_vocab_size(with_added_tokens=True)


def padded_matrix(n_tokens: int, pad: int, dim: int = 24, seed: int = 0) -> np.ndarray:
    """float32 (n_tokens + pad) x dim: tokens on a 6-dim subspace, then ``pad`` identical rows."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n_tokens + pad, 6)) @ rng.standard_normal((6, dim))).astype(np.float32)
    X[n_tokens:] = X[n_tokens]
    return X.astype(np.float16).astype(np.float32)
