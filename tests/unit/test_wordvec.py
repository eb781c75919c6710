# SPDX-License-Identifier: MIT
"""Word-vector inputs (issue 15): every format, written by gensim itself, reads back to the same
matrix and word order; --format auto tells them apart from .npy/.safetensors/torch .bin; bad files
are one-line errors with exit 2; --sample and the lid.npz word column through the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from embdim.cli import main
from embdim.formats.inputs import load_input
from embdim.formats.wordvec import load_word_vectors, sniff

N, D = 120, 12


@pytest.fixture(scope="module")
def kv():
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(7)
    k = KeyedVectors(D)
    # words with non-ASCII letters and punctuation, not in sorted order
    k.add_vectors([f"w{(i * 37) % N}-é{i}" for i in range(N)],
                  rng.standard_normal((N, D)).astype(np.float32))
    return k


@pytest.fixture(scope="module")
def files(kv, tmp_path_factory):
    d = tmp_path_factory.mktemp("wordvec")
    kv.save_word2vec_format(str(d / "v.txt"))
    kv.save_word2vec_format(str(d / "v.bin"), binary=True)
    kv.save_word2vec_format(str(d / "glove.txt"), write_header=False)
    return d


@pytest.fixture(scope="module")
def fasttext_bin(tmp_path_factory):
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    sents = [["alpha", "beta", "gamma", "delta", "alphabet"], ["beta", "gamma", "epsilon", "zeta"]] * 30
    ft = FastText(sents, vector_size=D, min_count=1, epochs=2, bucket=500, workers=1, seed=1)
    path = tmp_path_factory.mktemp("ft") / "model.bin"
    save_facebook_model(ft, str(path))
    return path, ft.wv


@pytest.mark.parametrize("name,fmt", [("v.txt", "word2vec"), ("v.bin", "word2vec-bin"),
                                      ("glove.txt", "glove")])
def test_gensim_written_files_read_back_exactly(kv, files, name, fmt):
    for given in (fmt, "auto"):
        X, words, meta = load_word_vectors(files / name, given)
        assert words == list(kv.index_to_key)
        np.testing.assert_array_equal(X, kv.vectors)  # float32 text repr round-trips exactly
        assert meta["format"] == fmt and meta["shape"] == [N, D]


def test_fasttext_bin_reads_the_vocabulary_vectors(fasttext_bin):
    path, wv = fasttext_bin
    assert sniff(path) == "fasttext"
    X, words, meta = load_word_vectors(path, "auto")
    assert words == list(wv.index_to_key)
    np.testing.assert_allclose(X, wv.vectors, rtol=1e-6, atol=1e-7)
    assert meta["format"] == "fasttext"


def test_auto_detection_of_matrix_files_and_a_torch_bin(tmp_path, kv):
    import torch

    from embdim.formats.safetensors import write_safetensors

    X = kv.vectors
    np.save(tmp_path / "m.npy", X)
    (tmp_path / "m.npy").rename(tmp_path / "matrix")  # no extension: found by content
    write_safetensors(tmp_path / "s.safetensors", {"emb": X})
    torch.save({"weight": torch.from_numpy(X.copy())}, tmp_path / "pytorch_model.bin")
    assert sniff(tmp_path / "matrix") == "npy"
    assert sniff(tmp_path / "s.safetensors") == "safetensors"
    assert sniff(tmp_path / "pytorch_model.bin") == "torch-zip"  # a .bin that is not word2vec
    for p in ("matrix", "s.safetensors", "pytorch_model.bin"):
        got = load_input(tmp_path / p)
        assert got.words is None
        np.testing.assert_array_equal(got.X, X)
    assert load_input(tmp_path / "pytorch_model.bin").meta["tensor"] == "weight"


def _cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("content,fmt,needle", [
    (b"99999999 300\nfoo 1 2\n", "auto", "cannot hold"),              # header larger than the file
    (b"3 2\nfoo 1 2\nbar 1\nbaz 1 2\n", "word2vec", "line 3 holds 1"),  # a short row
    (b"foo 1 2\nbar 1 2 3\n", "glove", "line 2 holds 3"),
    (b"\x00\x01\x02 binary junk \xff\xfe" * 20, "auto", "not a word-vector file"),
    (b"foo bar baz\n", "glove", "not a readable glove file"),          # words, no numbers
    (b"2 3\nfoo \x00\x00", "word2vec-bin", "cannot hold"),
    (b"\x1f\x8b\x08\x00 gzip", "word2vec", "gunzip"),                # gensim-data's .gz as is
])
def test_bad_files_are_one_line_errors(tmp_path, capsys, content, fmt, needle):
    p = tmp_path / "bad.vec"
    p.write_bytes(content)
    code, out, err = _cli(["estimate", str(p), "--format", fmt], capsys)
    assert code == 2 and needle in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_truncated_files_and_wrong_format_flags(tmp_path, files, fasttext_bin, capsys):
    cut = tmp_path / "cut.bin"
    cut.write_bytes((files / "v.bin").read_bytes()[:-100])
    ft_cut = tmp_path / "ft_cut.bin"
    ft_cut.write_bytes(fasttext_bin[0].read_bytes()[:2000])
    import torch
    torch.save({"w": torch.zeros(3, 3)}, tmp_path / "t.bin")
    cases = [(cut, "auto"), (ft_cut, "fasttext"), (tmp_path / "t.bin", "word2vec-bin"),
             (files / "glove.txt", "word2vec"), (files / "v.txt", "fasttext"),
             (tmp_path / "missing.txt", "auto")]
    for path, fmt in cases:
        code, out, err = _cli(["estimate", str(path), "--format", fmt], capsys)
        assert code == 2, (path, fmt, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_estimate_sample_is_the_estimate_of_those_rows(files, kv, tmp_path, capsys):
    from embdim.estimators import estimate
    from embdim.measure import sample_rows

    code, out, _ = _cli(["estimate", str(files / "v.bin"), "--sample", "60", "--seed", "3",
                         "--k", "5", "--json"], capsys)
    r = json.loads(out)
    rows = sample_rows(N, 60, 3)
    ref = estimate(kv.vectors[rows], estimator="mle", k=5)
    assert code == 0 and r["sample"] == {"n": 60, "of": N, "seed": 3} and r["n"] == 60
    assert r["id"] == pytest.approx(ref.to_dict()["id"], rel=1e-12)
    assert r["format"] == "word2vec-bin" and r["shape"] == [N, D]


def test_measure_lid_rows_are_words(files, kv, tmp_path, capsys):
    lid = tmp_path / "lid.npz"
    code, out, err = _cli(["measure", str(files / "v.txt"), "--sample", "50", "--seed", "1",
                           "--estimator", "mle:5", "--k-curve", "0", "--bootstrap", "0",
                           "--lid-out", str(lid), "--json"], capsys)
    assert code == 0, err
    r = json.loads(out)
    z = np.load(lid)  # no pickle needed: words are a fixed-width unicode array
    words = list(kv.index_to_key)
    assert len(z["word"]) == len(z["row"]) == len(z["lid_k5"]) == 50
    assert list(z["word"]) == [words[i] for i in z["row"]]  # row = the word's index in the file
    assert list(z["row"]) == sorted(z["row"]) and np.isfinite(z["lid_k5"]).all()
    assert r["sample"] == {"n": 50, "of": N, "seed": 1} and r["provenance"]["format"] == "word2vec"
    # the same words measured alone give the same local IDs
    from embdim.estimators import MLE
    from embdim.knn import knn
    ref = MLE(k=5).fit(knn(kv.vectors[z["row"]], 5)).dimension_pw_
    np.testing.assert_allclose(z["lid_k5"], ref, rtol=1e-10)


def test_geometry_reads_word_vectors(files, kv, capsys):
    code, out, _ = _cli(["geometry", str(files / "glove.txt"), "--json"], capsys)
    r = json.loads(out)
    X = kv.vectors.astype(np.float64)
    mu = X.mean(0)
    assert code == 0 and r["n"] == N and r["format"] == "glove"
    assert r["mean_norm_sq"] == pytest.approx(float(mu @ mu), rel=1e-9)


def test_tensor_flag_is_refused_for_word_vectors(files, capsys):
    code, _, err = _cli(["estimate", str(files / "v.txt"), "--tensor", "embed_in"], capsys)
    assert code == 2 and "--tensor" in err


def test_fasttext_headers_that_lie(fasttext_bin, tmp_path, capsys):
    import struct

    raw = bytearray(fasttext_bin[0].read_bytes())
    bad = {}
    b = bytearray(raw)
    b[40:44] = struct.pack("<i", 2**31 - 1)  # n-gram buckets (fastText args) beyond the file
    bad["buckets"] = b
    b = bytearray(raw)
    b[64:72] = struct.pack("<ii", 2**31 - 1, 2**31 - 1)  # dictionary size / nwords
    bad["vocab"] = b
    nv = struct.unpack("<i", raw[68:72])[0] + struct.unpack("<i", raw[40:44])[0]
    at = raw.find(struct.pack("<qq", nv, D))  # the input matrix's (rows, dim) header
    assert at > 0
    b = bytearray(raw)
    b[at:at + 16] = struct.pack("<qq", 2**40, D)
    bad["matrix"] = b
    for name, content in bad.items():
        p = tmp_path / f"{name}.bin"
        p.write_bytes(bytes(content))
        code, _, err = _cli(["estimate", str(p)], capsys)
        assert code == 2 and "fastText" in err or "fasttext" in err, (name, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
