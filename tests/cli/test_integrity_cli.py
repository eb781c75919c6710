# SPDX-License-Identifier: MIT
"""Issue 13 through the real CLI on the planted stand-in repos (tests/hubs/defects.py):
tensor_sha256 whatever the blob or layout, revision names of other suites, tied embeddings,
an HF Trainer run directory."""
from __future__ import annotations

import json

import pytest

from tests.cli.test_fetch_cli import embdim
from tests.hubs import defects as D
from tests.hubs.hubserver import FakeHub


@pytest.fixture(scope="module")
def hub():
    with FakeHub() as h:
        h.planted = D.plant(h)
        yield h


def fetch(hub, tmp_path, repo, rev, *extra):
    p = embdim(["fetch", repo, "--revision", rev, "--out", str(tmp_path / f"{rev}.safetensors"), "--json",
                *extra], hub, tmp_path)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_tensor_sha256_is_the_stored_bytes_whatever_the_file(hub, tmp_path):
    planted = hub.planted
    got = {(repo, rev): fetch(hub, tmp_path, repo, rev) for repo, rev in
           [(D.M28, "step2"), (D.M28, "step1000"), (D.M14, "step0"), (D.M14, "step2"), (D.M12, "step2")]}
    for (repo, rev), r in got.items():
        info = planted[repo][rev]
        assert r["tensor_sha256"] == D.sha(D.embed(info["tensors"])), (repo, rev)
        assert r["blob_sha256"] == D.sha(info["files"][r["file"]]) and r["tied"] is False
    # pythia#205: two blobs, one tensor; #83: safetensors and torch .bin of the same tensor
    assert got[(D.M28, "step2")]["blob_sha256"] != got[(D.M28, "step1000")]["blob_sha256"]
    assert got[(D.M28, "step2")]["tensor_sha256"] == got[(D.M28, "step1000")]["tensor_sha256"]
    assert (got[(D.M14, "step0")]["file"], got[(D.M14, "step2")]["file"]) == ("model.safetensors", "pytorch_model.bin")
    assert got[(D.M14, "step0")]["tensor_sha256"] == got[(D.M14, "step2")]["tensor_sha256"]
    # pythia#206: the shard, not the index, and its blob is the final's
    assert got[(D.M12, "step2")]["file"] == "pytorch_model-00001-of-00002.bin"
    assert got[(D.M12, "step2")]["blob_sha256"] == D.sha(planted[D.M12]["step1000"]["files"][got[(D.M12, "step2")]["file"]])


def test_revisions_of_an_olmo_like_repo(hub, tmp_path):
    p = embdim(["revisions", D.OLMO, "--tensor", "embed_out", "--json"], hub, tmp_path)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)["revisions"]
    assert [(r["revision"], r["step"], r["tokens"], r["status"]) for r in rows] == [
        ("stage1-step0-tokens0B", 0, 0, "ok"), ("stage1-step1-tokens2B", 1, 2 * 10**9, "ok"),
        ("stage1-step2-tokens4B", 2, 4 * 10**9, "ok"), ("stage2-step1000-tokens4000B", 1000, 4000 * 10**9, "ok"),
        ("main", None, None, "unnumbered"), ("stage1-step3-tokens6Bx", None, None, "unnumbered")]
    assert all(r["tied"] is True for r in rows)  # OLMo ties its output matrix to the embedding
    # a pattern of one's own: only stage 1 is numbered
    p = embdim(["revisions", D.OLMO, "--json", "--revision-pattern", r"stage1-step(?P<step>\d+)-tokens[0-9]+B"],
               hub, tmp_path)
    assert p.returncode == 0, p.stderr
    steps = {r["revision"]: r["step"] for r in json.loads(p.stdout)["revisions"]}
    assert steps["stage1-step2-tokens4B"] == 2 and steps["stage2-step1000-tokens4000B"] is None
    for bad in (r"stage(\d+)", r"(?P<step>\d+", r"s(?P<step>\d+)(?P<stage>\d)"):
        p = embdim(["revisions", D.OLMO, "--json", "--revision-pattern", bad], hub, tmp_path)
        assert p.returncode == 2 and "revision_pattern" in json.loads(p.stdout)["error"]["message"], p.stdout


def test_tied_embed_out_resolves_to_the_embedding(hub, tmp_path):
    r = fetch(hub, tmp_path, D.OLMO, "stage1-step2-tokens4B", "--tensor", "embed_out")
    assert (r["tensor"], r["tied"]) == (D.OLMO_EMBED, True)
    assert r["tensor_sha256"] == D.sha(hub.planted[D.OLMO]["stage1-step2-tokens4B"]["tensors"][D.OLMO_EMBED].data)
    r = fetch(hub, tmp_path, D.M14, "step0", "--tensor", "embed_out")  # untied: its own matrix
    assert (r["tensor"], r["tied"]) == (D.EMBED_OUT, False)


def test_hf_trainer_run_directory(tmp_path):
    run = tmp_path / "trainer_out"
    tensors = D.trainer_run_dir(run)
    p = embdim(["revisions", str(run), "--tensor", "embed_out", "--json"], tmp_path=tmp_path)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)["revisions"]
    assert [(r["revision"], r["step"], r["status"], r["tied"]) for r in rows] == [
        (f"checkpoint-{s}", s, "ok", True) for s in (1, 2, 1000)]  # runs/ is no checkpoint
    r = fetch(None, tmp_path, str(run), "checkpoint-1000", "--tensor", "embed_out")
    assert (r["tensor"], r["tied"], r["file"]) == (D.TRAINER_EMBED, True, "model.safetensors")
    assert r["tensor_sha256"] == D.sha(tensors[1000][D.TRAINER_EMBED].data)
