# SPDX-License-Identifier: MIT
"""HubClient against the loopback Hub stand-in, through the real huggingface_hub client (no mocks).

Faults are injected in the server; request counts and bytes are asserted exactly.
"""
from __future__ import annotations

import hashlib

import pytest

from embdim.errors import (HubError, IntegrityError, NotFoundError, TensorNotFoundError,
                           UnsafeCheckpointError)
from embdim.config import parse_step
from embdim.sources.hub import HubClient
from tests.fixtures import DTYPES, EMBED_IN, EMBED_OUT, LAYOUTS, evil_bin, make_pythia_like_repo
from tests.hubs.hubserver import FakeHub

REPO = "EleutherAI/pythia-14m"
KiB = 1024



def client(hub, **kw) -> HubClient:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("max_retries", 3)
    return HubClient(endpoint=hub.url, **kw)


def resolve_gets(hub) -> list:
    return [r for r in hub.requests if r.method == "GET" and r.server == "hub" and "/resolve/" in r.path]


def budget(nbytes: int) -> float:
    return 1.02 * nbytes + 64 * KiB


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_fetch_every_layout_is_byte_exact_and_within_budget(layout, dtype):
    with FakeHub() as hub:
        # 2048 x 64: the checkpoint (~2.2x the tensor) is far above the budget: a whole download fails it
        info = make_pythia_like_repo(hub, REPO, [1000], layout=layout, dtype=dtype, vocab=2048, dim=64, main=False)
        rev = info["step1000"]
        hub.reset()
        c = client(hub)
        res = c.fetch_tensor(REPO, "step1000", "embed_in")
        want = rev["tensors"][EMBED_IN]
        assert res.raw == want.data
        assert (res.tensor, res.dtype, tuple(res.shape)) == (EMBED_IN, want.dtype, want.shape)
        assert res.commit == hub.commit_of(REPO, "step1000")
        assert res.file == ("model.safetensors" if layout == "safetensors" else
                            "pytorch_model.bin" if layout.startswith("bin") else
                            "model-00001-of-00002.safetensors" if layout == "sharded-safetensors" else
                            "pytorch_model-00001-of-00002.bin")
        assert res.blob_sha256 == hashlib.sha256(rev["files"][res.file]).hexdigest()
        assert sum(len(d) for d in rev["files"].values()) > budget(want.nbytes)
        assert hub.bytes_sent <= budget(want.nbytes)
        assert res.bytes_downloaded == hub.bytes_sent  # every body byte counted, API answers included


def test_embed_out_and_full_names_and_unknown_tensor():
    with FakeHub() as hub:
        info = make_pythia_like_repo(hub, REPO, [1], layout="sharded-bin", dtype="F32", main=False)
        c = client(hub)
        out = c.fetch_tensor(REPO, "step1", "embed_out")
        assert out.raw == info["step1"]["tensors"][EMBED_OUT].data and out.file.endswith("00002-of-00002.bin")
        full = c.fetch_tensor(REPO, "step1", EMBED_IN)
        assert full.raw == info["step1"]["tensors"][EMBED_IN].data
        with pytest.raises(TensorNotFoundError):
            c.fetch_tensor(REPO, "step1", "transformer.h.0.nope")


def test_missing_revision_repo_and_weights_are_not_found():
    with FakeHub() as hub:
        make_pythia_like_repo(hub, REPO, [0, 1000], missing=[1000], main=False)
        hub.add_revision(REPO, "empty", {"README.md": b"no weights"})
        c = client(hub)
        with pytest.raises(NotFoundError, match="step1000"):
            c.fetch_tensor(REPO, "step1000")
        with pytest.raises(NotFoundError, match="repository"):
            c.fetch_tensor("EleutherAI/nope", "step0")
        with pytest.raises(NotFoundError, match="no weight file"):
            c.fetch_tensor(REPO, "empty")
        # only API calls were made: a missing revision is cheap to record and skip
        assert not resolve_gets(hub)


def test_429_retry_after_is_honoured_exactly():
    with FakeHub() as hub:
        info = make_pythia_like_repo(hub, REPO, [1], vocab=512, dim=32, main=False)
        hub.reset()
        hub.inject_429("/resolve/", retry_after=0.4)
        res = client(hub).fetch_tensor(REPO, "step1")
        assert res.raw == info["step1"]["tensors"][EMBED_IN].data
        gets = resolve_gets(hub)
        assert [g.status for g in gets] == [429, 206, 206]
        assert gets[1].range == gets[0].range  # the same range re-sent ...
        assert gets[1].time - gets[0].time >= 0.4  # ... and not before Retry-After


def test_503s_on_the_tensor_read_then_success():
    with FakeHub() as hub:
        info = make_pythia_like_repo(hub, REPO, [1], vocab=512, dim=32, main=False)
        hub.reset()
        hub.inject_503("/resolve/", times=2, skip=1)  # the header read passes, the tensor read fails twice
        res = client(hub).fetch_tensor(REPO, "step1")
        assert res.raw == info["step1"]["tensors"][EMBED_IN].data
        assert [g.status for g in resolve_gets(hub)] == [206, 503, 503, 206]


def test_cut_body_resumes_from_last_byte_with_exact_bytes():
    with FakeHub() as hub:
        info = make_pythia_like_repo(hub, REPO, [1], vocab=1024, dim=32, main=False)
        want = info["step1"]["tensors"][EMBED_IN]
        hub.reset()
        clean = client(hub).fetch_tensor(REPO, "step1")
        clean_bytes = hub.bytes_sent
        hub.reset()
        hub.cut_body_after(10_000, "/resolve/", skip=1)
        res = client(hub).fetch_tensor(REPO, "step1")
        assert res.raw == want.data == clean.raw
        gets = resolve_gets(hub)
        assert len(gets) == 3 and gets[1].body_bytes == 10_000
        a, b = (int(x) for x in gets[1].range[6:].split("-"))
        assert gets[2].range == f"bytes={a + 10_000}-{b}"  # resumed, not restarted
        assert hub.bytes_sent == clean_bytes  # not one byte fetched twice


def test_200_reply_to_a_range_request():
    with FakeHub() as hub:
        info = make_pythia_like_repo(hub, REPO, [1], layout="bin", vocab=256, dim=16, main=False)
        hub.ignore_range("/resolve/", times=1, skip=1)
        res = client(hub).fetch_tensor(REPO, "step1")
        assert res.raw == info["step1"]["tensors"][EMBED_IN].data
        assert 200 in [g.status for g in resolve_gets(hub)]


def test_api_calls_are_retried():
    with FakeHub() as hub:
        make_pythia_like_repo(hub, REPO, [0, 1], main=False)
        hub.reset()
        hub.inject_503("/refs", times=2)
        hub.inject_429("/revision/", retry_after=0.2)
        c = client(hub)
        rows = c.list_revisions(REPO)
        assert [r["revision"] for r in rows] == ["step0", "step1"]
        assert hub.count("/refs") == 3
        c.fetch_tensor(REPO, "step0")
        assert hub.count("/revision/") == 2


def test_persistent_failure_gives_up_after_max_retries():
    with FakeHub() as hub:
        make_pythia_like_repo(hub, REPO, [1], main=False)
        hub.reset()
        hub.inject_503("/resolve/", times=100)
        with pytest.raises(HubError, match="after 3 retries") as e:
            client(hub, max_retries=3).fetch_tensor(REPO, "step1")
        assert not isinstance(e.value, NotFoundError)
        assert len(resolve_gets(hub)) == 4


def test_416_and_changed_file_are_integrity_errors():
    with FakeHub() as hub:
        info = make_pythia_like_repo(hub, REPO, [1], main=False)
        c = client(hub)
        commit = hub.commit_of(REPO, "step1")
        url = c.url(REPO, "model.safetensors", commit)
        size = len(info["step1"]["files"]["model.safetensors"])
        with pytest.raises(IntegrityError, match=f"bytes={size + 10}-"):
            c.get_range(url, size + 10, size + 20)
        with pytest.raises(IntegrityError, match="sha256"):
            c.get_range(url, 0, 8, size=size, sha256="0" * 64)
        with pytest.raises(IntegrityError, match="size"):
            c.get_range(url, 0, 8, size=size + 1)


def test_cdn_redirect_keeps_range_and_token_stays_on_the_hub():
    token = "hf_loopbackSECRET123"
    with FakeHub(cdn=True, token=token) as hub:
        info = make_pythia_like_repo(hub, REPO, [1], layout="bin-zip64", dtype="BF16", vocab=512, dim=32, main=False)
        hub.reset()
        res = client(hub, token=token).fetch_tensor(REPO, "step1")
        assert res.raw == info["step1"]["tensors"][EMBED_IN].data
        hub_reqs = [r for r in hub.requests if r.server == "hub"]
        cdn_reqs = [r for r in hub.requests if r.server == "cdn"]
        assert cdn_reqs and all(r.status == 206 and r.range for r in cdn_reqs)
        assert all(r.headers.get("authorization") == f"Bearer {token}" for r in hub_reqs)
        assert not any("authorization" in r.headers for r in cdn_reqs)
        assert [r.range for r in cdn_reqs] == [r.range for r in resolve_gets(hub)]


def test_unsafe_bin_on_the_hub_is_refused(tmp_path):
    sentinel = tmp_path / "pwned"
    with FakeHub() as hub:
        hub.add_revision(REPO, "step1", {"pytorch_model.bin": evil_bin(f"touch {sentinel}")})
        with pytest.raises(UnsafeCheckpointError, match="os.system"):
            client(hub).fetch_tensor(REPO, "step1")
    assert not sentinel.exists()


def test_list_revisions_steps_duplicates_and_request_count():
    with FakeHub() as hub:
        info = make_pythia_like_repo(hub, REPO, [0, 1, 2, 1000], missing=[2], identical=[1],
                                     layout={0: "safetensors", 1: "safetensors", 1000: "sharded-safetensors"})
        hub.add_revision(REPO, "empty", {"README.md": b"x"})
        hub.reset()
        rows = client(hub).list_revisions(REPO, "embed_in")
        assert [r["revision"] for r in rows] == ["step0", "step1", "step1000", "empty", "main"]
        assert [r["step"] for r in rows] == [0, 1, 1000, None, None]
        by = {r["revision"]: r for r in rows}
        for name in ("step0", "step1", "step1000", "main"):
            r = by[name]
            # main names no step: listed (with its blob) as unnumbered, never measured
            assert r["commit"] == info[name]["commit"] and r["status"] == ("unnumbered" if name == "main" else "ok")
            assert r["blob_sha256"] == hashlib.sha256(info[name]["files"][r["file"]]).hexdigest()
        assert by["step1000"]["file"] == "model-00001-of-00002.safetensors"
        assert "model.safetensors.index.json" in by["step1000"]["files"]
        assert by["step1"]["blob_sha256"] == by["step0"]["blob_sha256"] and by["step1"]["duplicate_of"] == "step0"
        assert by["main"]["duplicate_of"] == "step1000" and by["step0"]["duplicate_of"] is None
        assert by["empty"]["status"] == "no-weights" and by["empty"]["file"] is None
        # one refs call, one tree listing per branch, one index read per sharded branch (step1000, main)
        assert hub.count("/refs") == 1 and hub.count("/tree/") == 5
        assert len(resolve_gets(hub)) == 2 and len(hub.requests) == 8


def test_parse_step():
    # strict: one canonical name per step (step05 is no alias of step5); the other suites' names count
    assert [parse_step(n) for n in ("step0", "step143000", "main", "step1a", "global_step5", "step05")] == \
        [0, 143000, None, None, 5, None]


def test_missing_shard_and_whole_file_checks():
    with FakeHub() as hub:
        info = make_pythia_like_repo(hub, REPO, [1], layout="sharded-safetensors", main=False)
        files = dict(info["step1"]["files"])
        del files["model-00001-of-00002.safetensors"]
        hub.add_revision(REPO, "broken", files)
        c = client(hub)
        with pytest.raises(NotFoundError, match="model-00001-of-00002.safetensors"):
            c.fetch_tensor(REPO, "broken")
        # the index (a non-LFS file) is checked against its git blob id when read whole
        url = c.url(REPO, "model.safetensors.index.json", hub.commit_of(REPO, "step1"))
        size = len(files["model.safetensors.index.json"])
        assert c.get_file(url, size, git_oid=hashlib.sha1(b"blob %d\0" % size + files["model.safetensors.index.json"])
                          .hexdigest()) == files["model.safetensors.index.json"]
        with pytest.raises(IntegrityError, match="git blob id"):
            c.get_file(url, size, git_oid="0" * 40)
