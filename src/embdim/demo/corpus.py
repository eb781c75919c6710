# SPDX-License-Identifier: MIT
"""The demo's offline corpus and its locally trained byte-level BPE tokenizer.

Corpus: the top-level ``*.py`` modules of the running interpreter's standard library
(``sysconfig.get_paths()["stdlib"]``), sorted by name, minus the build-specific
``_sysconfigdata*`` files. It exists on every machine where this project is installed; it is
fixed for a given Python version (3.11.7: 167 files, 4.66 MB, ~1.28 M tokens at vocab 4096),
and its sha256 is recorded so two runs can be checked to have seen the same text.
"""
from __future__ import annotations

import hashlib
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

EOT = "<|endoftext|>"  # document separator, token id 0 (as in Pythia's tokenizer)


@dataclass(frozen=True)
class Corpus:
    root: str
    files: list[str]
    texts: list[str]
    sha256: str

    @property
    def n_bytes(self) -> int:
        return sum(len(t.encode("utf-8")) for t in self.texts)


def stdlib_corpus(root: str | Path | None = None, max_bytes: int | None = None) -> Corpus:
    """Read the stdlib's top-level modules in sorted order (optionally only the first ``max_bytes``).

    Raises
    ------
    InputError
        If the directory holds no Python files (a stripped-down interpreter).
    """
    root = Path(root or sysconfig.get_paths()["stdlib"])
    paths = sorted(p for p in root.glob("*.py") if not p.name.startswith("_sysconfigdata"))
    files, texts, total = [], [], 0
    h = hashlib.sha256()
    for p in paths:
        if max_bytes is not None and total >= max_bytes:
            break
        # errors="replace": the stdlib is UTF-8, but a patched install must not crash the demo
        text = p.read_text(encoding="utf-8", errors="replace")
        files.append(p.name)
        texts.append(text)
        total += len(text.encode("utf-8"))
        h.update(p.name.encode() + b"\0" + text.encode("utf-8") + b"\0")
    if not texts:
        raise InputError(f"no Python sources under {root}: cannot build the demo corpus")
    return Corpus(str(root), files, texts, h.hexdigest())


def train_tokenizer(texts: list[str], vocab_size: int = 4096):
    """Train a byte-level BPE (GPT-2/Pythia style) on ``texts``; deterministic for fixed input."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def encode_corpus(tok, texts: list[str]) -> np.ndarray:
    """All documents as one token stream, each followed by the end-of-text token."""
    eot = tok.token_to_id(EOT)
    ids: list[int] = []
    for enc in tok.encode_batch(texts):
        ids.extend(enc.ids)
        ids.append(eot)
    return np.asarray(ids, dtype=np.int64)
