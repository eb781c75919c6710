# SPDX-License-Identifier: MIT
"""Tokenizer-aware rows (issue 13): the token count of a tokenizer.json (hostile input), where it
is looked up, measuring only the tokenizer's rows (= measuring the sliced matrix), the per-token
table built from lid.npz, and TSV escaping of nasty tokens."""
from __future__ import annotations

import json

import numpy as np
import pytest

from embdim.errors import CheckpointError, InputError
from embdim.formats.tokenizer import (count_tokens, decode_tokens, escape_tsv, find_tokenizer,
                                      unescape_tsv)
from embdim.measure import measure, write_lid
from embdim.rows import select_rows
from embdim.tokens import build_table, frequent_ids, read_lid, to_tsv
from tests.tokfix import NASTY, bpe_tokenizer_json, padded_matrix


def tj(vocab, added=(), **extra) -> bytes:
    return json.dumps({"model": {"type": "BPE", "vocab": vocab, **extra},
                       "added_tokens": [{"id": i, "content": f"<{i}>"} for i in added]}).encode()


def test_count_is_max_id_plus_one_over_vocab_and_added_tokens():
    assert count_tokens(tj({"a": 0, "b": 1, "c": 2})) == 3
    assert count_tokens(tj({"a": 0, "b": 1}, added=[5])) == 6  # a gap still counts up to max id
    assert count_tokens(tj({"a": 0, "b": 7}, added=[3])) == 8
    unigram = json.dumps({"model": {"type": "Unigram", "vocab": [["a", -1.0], ["b", -2.0]]},
                          "added_tokens": []}).encode()
    assert count_tokens(unigram) == 2
    raw, n = bpe_tokenizer_json()  # a real file from the tokenizers library
    from tokenizers import Tokenizer
    assert count_tokens(raw) == n == Tokenizer.from_str(raw.decode()).get_vocab_size(True)


@pytest.mark.parametrize("raw", [
    b"not json", b"[]", json.dumps({"model": {}}).encode(), b"[" * 100 + b"]" * 100,
    tj({"a": True}), tj({"a": -1}), tj({"a": 1 << 30}), tj({"a": "0"}), tj({}),
    json.dumps({"model": {"vocab": {"a": 0}}, "added_tokens": [{"id": 2.5}]}).encode(),
])
def test_hostile_tokenizer_json_is_a_checkpoint_error(raw):
    with pytest.raises(CheckpointError):
        count_tokens(raw)


def test_lookup_beside_then_parent_then_explicit(tmp_path):
    step = tmp_path / "run" / "step5"
    step.mkdir(parents=True)
    f = step / "e.safetensors"
    assert find_tokenizer(f) is None
    (tmp_path / "run" / "tokenizer.json").write_bytes(tj({"a": 0}))
    assert find_tokenizer(f) == tmp_path / "run" / "tokenizer.json"  # the parent directory
    (step / "tokenizer.json").write_bytes(tj({"a": 0, "b": 1}))
    assert find_tokenizer(f) == step / "tokenizer.json"  # beside the file wins
    other = tmp_path / "other.json"
    other.write_bytes(tj({"a": 0, "b": 1, "c": 2}))
    assert find_tokenizer(f, other) == other  # --tokenizer wins over both
    assert select_rows(10, "tokenizer", f).n_keep == 2
    assert select_rows(10, "tokenizer", f, other).n_keep == 3
    with pytest.raises(InputError, match="no such file"):
        find_tokenizer(f, tmp_path / "missing.json")


def test_rows_tokenizer_without_a_tokenizer_and_other_misuse_are_errors(tmp_path):
    f = tmp_path / "e.npy"
    with pytest.raises(InputError, match="no tokenizer.json"):
        select_rows(10, "tokenizer", f)
    (tmp_path / "tokenizer.json").write_bytes(tj({"a": i for i in range(1)} | {"z": 11}))
    with pytest.raises(InputError, match="knows 12 tokens but the matrix has only 10 rows"):
        select_rows(10, "tokenizer", f)
    with pytest.raises(InputError, match="--tokenizer is used only with --rows tokenizer"):
        select_rows(10, "all", f, tmp_path / "tokenizer.json")
    assert select_rows(10, "all", f).to_dict() == {"rows": "all", "n_rows_total": 10,
                                                   "n_tokens": None, "tokenizer": None}


def test_measure_drops_exactly_the_rows_beyond_the_tokenizer():
    """The planted case: 200 tokens, 24 identical padding rows after them."""
    X = padded_matrix(200, 24)
    kw = dict(bootstrap=20, k_curve=6, seed=3, device="cpu")
    cut = measure(X, n_rows=200, **kw)
    ref = measure(X[:200].copy(), **kw)  # the sliced matrix, measured directly
    assert (cut.result["n_rows_total"], cut.result["n"], cut.result["n_unique"]) == (224, 200, 200)
    assert (ref.result["n_rows_total"], ref.result["n"]) == (200, 200)
    full = measure(X, **kw)
    assert (full.result["n"], full.result["n_unique"]) == (224, 201)  # padding collapses to one row
    for a, b in zip(cut.result["estimates"], ref.result["estimates"]):
        assert a == b
    assert cut.result["id_vs_k"] == ref.result["id_vs_k"] and cut.result["geometry"] == ref.result["geometry"]
    for key, v in cut.arrays.items():
        if key == "row":
            assert np.array_equal(v, np.arange(224))
            continue
        assert len(v) == 224 and np.array_equal(v[:200], ref.arrays[key])
        if key == "unique_of":
            assert (v[200:] == -1).all()
        else:
            assert np.isnan(v[200:]).all()
    sampled, sref = measure(X, n_rows=200, sample=150, **kw), measure(X[:200].copy(), sample=150, **kw)
    assert sampled.result["estimates"] == sref.result["estimates"]
    assert sampled.result["sample"] == {"n": 150, "of": 200, "seed": 3}


def test_tsv_escaping_of_nasty_tokens():
    for tok in NASTY + ["plain", " the", "\u00e9", "\ufffd", "\x1b[31m"]:
        cell = escape_tsv(tok)
        assert not any(c in cell for c in "\t\n\r\x00\x7f\x85\u2028\x1b"), cell
        assert len(cell.splitlines()) <= 1 and unescape_tsv(cell) == tok
    assert escape_tsv("a\tb\nc\\d\x00\u2028") == "a\\tb\\nc\\\\d\\x00\\u2028"
    assert escape_tsv("\\t") == "\\\\t"  # a literal backslash-t stays distinguishable from a tab


def test_token_table_maps_lid_back_to_token_ids(tmp_path):
    raw, n = bpe_tokenizer_json()
    X = padded_matrix(n, 11, seed=1)
    X[7] = X[3]  # a duplicate token row: it carries its representative's LID
    files = {}
    for step in (0, 50):
        m = measure(X * (1 + step), n_rows=n, bootstrap=0, k_curve=0, device="cpu")
        files[step] = tmp_path / f"step{step}" / "lid.npz"
        write_lid(files[step], m.arrays)
    table = build_table(files, raw)
    assert table.columns == ["token_id", "token", "lid_step0", "lid_step50"] and table.key == "lid_k10"
    assert table.lid.shape == (n, 2) and table.n_rows == n + 11
    with np.load(files[50]) as z:
        lid, uo = z["lid_k10"], z["unique_of"]
    assert np.array_equal(table.lid[:, 1], lid[:n]) and table.lid[7, 1] == table.lid[3, 1]
    assert uo[7] == uo[3] and (uo[n:] == -1).all()
    # A per-distinct-row array is spread back through unique_of
    np.savez(tmp_path / "d.npz", lid_k10=lid[:n][np.unique(uo[:n], return_index=True)[1]], unique_of=uo)
    assert np.array_equal(read_lid(tmp_path / "d.npz")[0][:n], lid[:n])
    lines = to_tsv(table).splitlines()
    assert len(lines) == n + 1 and lines[0].split("\t") == table.columns
    tokens = decode_tokens(raw, n)
    for i, line in enumerate(lines[1:]):
        cells = line.split("\t")
        assert len(cells) == 4 and int(cells[0]) == i and unescape_tsv(cells[1]) == tokens[i]
        assert float(cells[2]) == table.lid[i, 0] and float(cells[3]) == table.lid[i, 1]
    ex = table.extremes(50, 5)
    order = np.argsort(-table.lid[:, 1], kind="stable")
    assert [e["token_id"] for e in ex["highest"]] == list(order[:5])
    assert [e["lid"] for e in ex["lowest"]] == sorted(table.lid[:, 1])[:5]
    # frequent: the tokens formed by the first merges (merge i makes token 'a'+'b')
    model = json.loads(raw)["model"]
    first = model["merges"][0]
    piece = "".join(first.split(" ") if isinstance(first, str) else first)
    assert frequent_ids(raw, n)[0] == model["vocab"][piece]


def test_config_rows_and_tokens_keys(tmp_path):
    from embdim.config import prepare
    from embdim.errors import ConfigError
    from tests.workflow.conftest import REPO

    schema = REPO / "workflow/schemas/config.schema.yaml"
    run = tmp_path / "run"
    (run / "step0").mkdir(parents=True)
    base = {"models": [str(run)], "steps": [0]}
    sweep = prepare({**base, "tokens": "false"}, schema)  # --config strings are coerced
    assert sweep.config["rows"] == "all" and sweep.config["tokens"] is False
    assert prepare(base, schema).tokens_enabled(next(iter(sweep.models))) is False  # auto, none
    with pytest.raises(ConfigError, match="'rows'.*no tokenizer.json"):
        prepare({**base, "rows": "tokenizer"}, schema)
    with pytest.raises(ConfigError, match="config key 'rows'"):
        prepare({**base, "rows": "tokens"}, schema)
    (run / "step0" / "tokenizer.json").write_bytes(tj({"a": 0}))
    s = prepare({**base, "rows": "tokenizer"}, schema)
    slug = next(iter(s.models))
    assert s.uses_tokenizer(slug) and s.tokens_enabled(slug)
    hub = prepare({"models": ["EleutherAI/pythia-14m"], "steps": [1]}, schema)
    assert not hub.tokens_enabled("EleutherAI--pythia-14m")  # auto: no Hub download by default
