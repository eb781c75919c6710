# SPDX-License-Identifier: MIT
"""Issue 13, package level: revision names (embdim.revnames), the one duplicate finder
(embdim.integrity), tensor_sha256 independent of the file layout, tied embeddings."""
from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from embdim.errors import ConfigError
from embdim.integrity import audit, first_duplicates, flagged, issues
from embdim.revnames import TOKENS_PER_STEP, compile_patterns, parse_revision, tokens_seen
from embdim.sources.local import fetch_local, list_local_revisions
from tests.fixtures import EMBED_IN, EMBED_OUT, LAYOUTS, checkpoint_files, pythia_like_tensors


# -- revision names --------------------------------------------------------------------------------
@pytest.mark.parametrize("name, step, tokens", [
    ("step0", 0, None), ("step143000", 143000, None), ("global_step1000", 1000, None),
    ("iter_0001000", 1000, None), ("checkpoint-1000", 1000, None), ("ckpt_000123", 123, None),
    ("stage1-step101000-tokens424B", 101000, 424 * 10**9), ("stage2-step0-tokens0B", 0, 0),
])
def test_default_patterns(name, step, tokens):
    parsed = parse_revision(name)
    assert (parsed.step, parsed.tokens) == (step, tokens)


@pytest.mark.parametrize("name", [
    "main", "step01", "step-1", "step 1", "Step1", "step1a", "step", "global_step01", "checkpoint-01",
    "step\u0663", "iter_\u0661\u0662", "ckpt_\uff11", "stage1-step1-tokens\u0664B", "stage1-step1-tokens4",
    "checkpoint-1000/", "../step1", "step1\n", "", None, 5,
])
def test_other_names_are_unnumbered(name):
    assert parse_revision(name) is None


def test_first_pattern_wins_and_user_patterns():
    assert parse_revision("step7").rank < parse_revision("global_step7").rank
    own = compile_patterns(r"run-(?P<step>\d+)-(?P<tokens>\d+)")
    assert parse_revision("run-12-3", own) == (12, 3 * 10**9, 0)
    assert parse_revision("step12", own) is None  # a pattern of one's own replaces the defaults
    assert parse_revision("run-\u0661-3", own) is None  # \d is ASCII only
    for bad in (r"run-(\d+)", r"(?P<step>", r"(?P<step>\d+)(?P<seed>\d)"):
        with pytest.raises(ConfigError, match="revision_pattern"):
            compile_patterns(bad)
    assert tokens_seen(1000, None) == 1000 * 1024 * 2048 == 1000 * TOKENS_PER_STEP
    assert tokens_seen(5, 7 * 10**9, 10) == 7 * 10**9 and tokens_seen(None, None) is None


# -- duplicates ------------------------------------------------------------------------------------
def test_first_duplicates():
    assert first_duplicates(["a", "b", "a", None, "", "b", "a"]) == [None, None, 0, None, None, 1, 0]


def _ck(step, blob, tensor):
    return {"step": step, "blob_sha256": blob, "tensor_sha256": tensor}


def test_audit_within_and_across_models():
    a = [_ck(0, "b0", "t0"), _ck(1, "b0", "t0"), _ck(2, "b2", "t0"), _ck(3, "b3", "tF"), _ck(4, "bF", "tF"),
         _ck(5, "bX", None)]
    b = [_ck(1, "c1", "t0"), _ck(2, "b2", "t0"), _ck(5, "c5", "u5")]
    flags = audit([("A", a, _ck(4, "bF", "tF")), ("B", b, _ck(5, "c5", "u5"))])
    got = {k: (v["duplicate_of"], v["duplicate_kind"], v["same_as_final"]) for k, v in flags.items()}
    assert got == {
        ("A", 0): (None, None, False), ("A", 1): (0, "blob", False), ("A", 2): (0, "tensor", False),
        ("A", 3): (None, None, True), ("A", 4): (3, "tensor", True),
        ("A", 5): (None, None, False),     # no tensor hash, a blob nobody else has: nothing to say
        ("B", 1): ("A@0", "tensor", False),  # across models: model@step of the first appearance
        ("B", 2): (1, "tensor", False),      # within the model first, even if A had the same blob
        ("B", 5): (None, None, True)}


def test_audit_lifts_a_blob_to_its_tensor():
    # step 2 was not read (no tensor hash) but holds step 1's blob, whose tensor is step 0's
    flags = audit([("A", [_ck(0, "x", "t"), _ck(1, "y", "t"), _ck(2, "y", None)], None)])
    assert [flags[("A", s)]["duplicate_of"] for s in (0, 1, 2)] == [None, 0, 0]
    assert flags[("A", 2)]["duplicate_kind"] == "tensor" and flags[("A", 2)]["same_as_final"] is False


def test_flagged_and_issues():
    assert flagged({"step": 5, "duplicate_of": 3}, 5) is False  # the last step is always drawn
    assert flagged({"step": 3, "duplicate_of": None, "same_as_final": True}, 5) is True
    assert flagged({"step": 3, "duplicate_of": "m@1", "same_as_final": False}, 5) is True
    assert flagged({"step": 3, "duplicate_of": None, "same_as_final": False}, 5) is False
    rows = [{"model": "m", "tensor": "embed_in", "step": s, "status": st, "duplicate_of": d,
             "same_as_final": f, "estimator": e}
            for s, st, d, f in [(0, "ok", None, False), (1, "ok", 0, False), (2, "missing", None, None),
                                (3, "no-weights", None, None), (4, "ok", None, True), (5, "ok", 4, True)]
            for e in ("mle", "twonn")]
    assert [(i["step"], i["issue"]) for i in issues(rows)] == [
        (1, "duplicate"), (2, "missing"), (3, "no-weights"), (4, "final-weights"), (5, "duplicate")]


# -- tensor identity over layouts, tied weights ----------------------------------------------------
def test_tensor_sha256_is_the_same_in_every_layout(tmp_path):
    tensors = pythia_like_tensors(40, 8, "BF16", seed=3)
    for layout in LAYOUTS:
        d = tmp_path / "run" / f"step{LAYOUTS.index(layout)}"
        d.mkdir(parents=True)
        for name, data in checkpoint_files(tensors, layout).items():
            (d / name).write_bytes(data)
    want = {t: hashlib.sha256(tensors[n].data).hexdigest() for t, n in (("embed_in", EMBED_IN), ("embed_out", EMBED_OUT))}
    for tensor in ("embed_in", "embed_out"):
        got = {fetch_local(tmp_path / "run", f"step{i}", tensor).tensor_sha256 for i in range(len(LAYOUTS))}
        assert got == {want[tensor]}, tensor
    blobs = {r["blob_sha256"] for r in list_local_revisions(tmp_path / "run")}
    assert len(blobs) == len(LAYOUTS)  # five different files, one tensor


def test_tied_weights_saved_twice_in_a_torch_bin(tmp_path):
    import torch
    w = torch.randn(32, 8, dtype=torch.float16)
    d = tmp_path / "run" / "step1"
    d.mkdir(parents=True)
    torch.save({"transformer.wte.weight": w, "lm_head.weight": w}, d / "pytorch_model.bin")  # one storage
    res = fetch_local(tmp_path / "run", "step1", "embed_out")
    assert (res.tensor, res.tied) == ("lm_head.weight", True)
    assert res.tensor_sha256 == hashlib.sha256(w.numpy().astype("<f2").tobytes()).hexdigest()
    torch.save({"transformer.wte.weight": w, "lm_head.weight": w.clone()}, d / "pytorch_model.bin")
    assert fetch_local(tmp_path / "run", "step1", "embed_out").tied is False  # equal values, own storage
    assert fetch_local(tmp_path / "run", "step1", "embed_in").tied is False


def test_config_checks_revision_pattern():
    from pathlib import Path

    from embdim.config import prepare
    schema = Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml"
    base = {"models": ["EleutherAI/pythia-14m"], "steps": [1000]}
    sweep = prepare(dict(base), schema)
    assert (sweep.config["revision_pattern"], sweep.config["tokens_per_step"], sweep.config["x_axis"]) == \
        (None, 2097152, "step")
    assert prepare(dict(base, revision_pattern=r"ckpt-(?P<step>[0-9]+)"), schema).config["revision_pattern"]
    for bad, why in ((r"ckpt-([0-9]+)", "revision_pattern"), (r"(?P<step>[0-9]+", "revision_pattern"),
                     ("x", "revision_pattern")):
        with pytest.raises(ConfigError, match=re.escape(why)):
            prepare(dict(base, revision_pattern=bad), schema)
    with pytest.raises(ConfigError, match="x_axis"):
        prepare(dict(base, x_axis="time"), schema)
    with pytest.raises(ConfigError, match="tokens_per_step"):
        prepare(dict(base, tokens_per_step=0), schema)
    assert np.int64(prepare(dict(base, tokens_per_step="1000"), schema).config["tokens_per_step"]) == 1000
