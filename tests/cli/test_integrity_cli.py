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


def test_every_planted_defect_through_the_cli_in_process(hub, tmp_path, monkeypatch, capsys):
    """The workflow's command sequence (revisions, fetch, measure, summarize, integrity, plot) run
    in this process over every planted repo: the summary flags exactly the planted ones."""
    from huggingface_hub import constants

    from embdim.cli import main
    from embdim.config import model_slug
    from embdim.summary import read_summary, requested_revisions

    # huggingface_hub read HF_ENDPOINT at import: point it (and its URL template) at the stand-in
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setenv("EMBDIM_BACKOFF_BASE", "0.01")
    run = str(tmp_path / "trainer_out")
    trainer = D.trainer_run_dir(tmp_path / "trainer_out")
    models = [*hub.planted, run]
    res = tmp_path / "results"
    for model in models:
        table = res / model_slug(model) / "revisions.tsv"
        assert main(["revisions", model, "--out", str(table)]) == 0
        for rev in requested_revisions(table, D.STEPS):
            d = res / model_slug(model) / "embed_in" / rev
            assert main(["fetch", model, "--revision", rev, "--out", str(d / "embedding.safetensors")]) == 0
            assert main(["measure", str(d / "embedding.safetensors"), "--estimator", "mle:5", "--k-curve", "0",
                         "--bootstrap", "0", "--no-geometry", "--device", "cpu", "--out", str(d / "measure.json")]) == 0
    args = [a for m in models for a in ("--model", m)]
    assert main(["summarize", str(res), *args, "--steps", ",".join(map(str, D.STEPS)), "--estimator", "mle:5",
                 "--no-geometry", "--out", str(res / "summary.tsv")]) == 0
    D.check_summary(read_summary(res / "summary.tsv"), hub.planted, trainer, run)
    assert main(["integrity", str(res / "summary.tsv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {(e["model"], e["step"]): e["issue"] for e in out["issues"]} == D.expected_issues(hub.planted, run)
    assert main(["plot", str(res / "summary.tsv"), "--out-dir", str(tmp_path / "plots"), "--format", "png",
                 "--x-axis", "tokens"]) == 0
    assert (tmp_path / "plots/embed_in/id_vs_step.png").stat().st_size > 5000


def test_integrity_of_a_missing_or_foreign_table_is_a_clear_error(tmp_path):
    (tmp_path / "other.tsv").write_text("a\tb\n1\t2\n")
    for table in (tmp_path / "nope.tsv", tmp_path / "other.tsv"):
        p = embdim(["integrity", str(table), "--json", "--out", str(tmp_path / "i.tsv")], tmp_path=tmp_path)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert json.loads(p.stdout)["error"]["exit_code"] == 2 and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "i.tsv").exists()
