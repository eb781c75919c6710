# SPDX-License-Identifier: MIT
"""``embdim sample-text``: the windows are the corpus's own token stream, seeded, with checksums."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from embdim.cli import main
from embdim.errors import InputError
from embdim.textsample import read_tokens


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from pydoc_data.topics import topics
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(list(topics.values())[:50], trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], show_progress=False))
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return path


def _sample(tokenizer, out, *extra):
    return main(["sample-text", "--corpus", "pydoc", "--tokenizer", str(tokenizer), "--n-seq", "12",
                 "--seq-len", "32", "--out", str(out), *extra])


def test_windows_are_the_joined_corpus_stream(tokenizer, tmp_path, capsys):
    from pydoc_data.topics import topics
    assert _sample(tokenizer, tmp_path / "s.npz", "--json") == 0
    res = json.loads(capsys.readouterr().out)
    tokens, meta = read_tokens(tmp_path / "s.npz")
    text = "\n\n".join(topics[k] for k in sorted(topics))  # joined as the issue says
    assert res["corpus_sha256"] == meta["corpus_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert res["sample_sha256"] == meta["sample_sha256"] == \
        hashlib.sha256(tokens.astype("<i8").tobytes()).hexdigest()
    assert tokens.shape == (12, 32) and tokens.dtype == np.int64
    assert not (tokens == 0).any()  # no end-of-document token inserted
    # every window decodes to a substring of the corpus text: consecutive tokens of its stream
    tok = Tokenizer.from_file(str(tokenizer))
    with np.load(tmp_path / "s.npz") as z:
        starts = z["windows"]
    assert (np.diff(starts) >= 32).all() and (starts % 32 == 0).all()
    for row in tokens:
        assert tok.decode(row.tolist()) in text


def test_same_seed_same_sample_other_seed_other(tokenizer, tmp_path):
    assert _sample(tokenizer, tmp_path / "a.npz") == 0
    assert _sample(tokenizer, tmp_path / "b.npz") == 0
    assert _sample(tokenizer, tmp_path / "c.npz", "--seed", "1") == 0
    a, b, c = (read_tokens(tmp_path / f"{x}.npz")[0] for x in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_input_is_one_line_and_nothing_written(tokenizer, tmp_path, capsys):
    assert main(["sample-text", "--corpus", "nosuch", "--tokenizer", str(tokenizer),
                 "--out", str(tmp_path / "x.npz")]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert _sample(tokenizer, tmp_path / "x.npz", "--n-seq", "100000") == 2
    assert "fewer than --n-seq" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    tampered = tmp_path / "t.npz"
    assert _sample(tokenizer, tampered) == 0
    with np.load(tampered) as z:
        d = dict(z)
    d["tokens"] = d["tokens"] + 1
    np.savez(tampered, **d)
    with pytest.raises(InputError, match="sample_sha256"):
        read_tokens(tampered)
