# SPDX-License-Identifier: MIT
"""``embdim fetch`` / ``embdim revisions`` (subprocess, HF_ENDPOINT) against the strict stand-in
(``tests/hubs/hubserver_strict.py``): CDN redirects that refuse the token, branch names only, paginated
trees, gzip API answers, 401 for missing repos; bytes counted by that server, not by embdim."""
from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import struct
import subprocess
import time

import numpy as np
import pytest

from tests.fixtures import (EMBED_IN, EMBED_OUT, LAYOUTS, checkpoint_files, make_pythia_like_repo,
                            pythia_like_tensors)
from tests.hubs.hubserver_strict import StrictHub

TOKEN = "hf_strictSECRETtoken13579"
FETCH_KEYS = {"repo", "revision", "commit", "file", "tensor", "dtype", "shape", "bytes_downloaded", "blob_sha256"}
REV_KEYS = {"revision", "step", "commit", "files", "file", "blob_sha256", "status"}
TSV_HEADER = "revision\tstep\tcommit\tfile\tblob_sha256\tstatus"
# 512 x 64 embeddings: the other tensors of a file are larger than the 64 KiB slack, so reading a whole
# file (or both embeddings) breaks the budget.
VOCAB, DIM = 512, 64


def env_for(hub, tmp_path, token=None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf_home"),
               EMBDIM_BACKOFF_BASE="0.01", EMBDIM_MAX_RETRIES="3")
    if token:
        env["HF_TOKEN"] = token
    return env


def embdim(args, hub, tmp_path, token=None):
    return subprocess.run(["embdim", *args], env=env_for(hub, tmp_path, token), capture_output=True, text=True,
                          timeout=120)


def budget(nbytes: int) -> float:
    return 1.02 * nbytes + 64 * 1024


def st_read(path) -> tuple[dict, bytes]:
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def leftovers(d, stem: str) -> list[str]:
    return [f for f in os.listdir(d) if stem in f]


@pytest.fixture(scope="module")
def hub():
    with StrictHub(page_size=2, token=TOKEN) as h:
        h.info = {lay: make_pythia_like_repo(h, f"strict/{lay}", [0, 1000], layout=lay, vocab=VOCAB, dim=DIM,
                                             dtype="F16" if lay in ("safetensors", "bin") else "BF16", seed=i)
                  for i, lay in enumerate(LAYOUTS)}
        yield h


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fetch_each_layout_exact_and_within_budget_counted_by_the_server(hub, tmp_path, layout):
    repo, want = f"strict/{layout}", hub.info[layout]["step1000"]
    hub.reset()
    out = tmp_path / "e.safetensors"
    p = embdim(["fetch", repo, "--revision", "step1000", "--out", str(out), "--json"], hub, tmp_path, TOKEN)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""  # not a terminal, --json: silent
    res = json.loads(p.stdout)
    t = want["tensors"][EMBED_IN]
    assert FETCH_KEYS <= set(res)
    assert (res["repo"], res["revision"], res["commit"]) == (repo, "step1000", want["commit"])
    assert (res["tensor"], res["dtype"], res["shape"]) == (EMBED_IN, t.dtype, [VOCAB, DIM])
    assert res["file"] in want["files"] and not res["file"].endswith(".json")
    assert res["blob_sha256"] == hashlib.sha256(want["files"][res["file"]]).hexdigest()
    header, data = st_read(out)
    assert data == t.data and header[EMBED_IN]["dtype"] == t.dtype and header[EMBED_IN]["shape"] == [VOCAB, DIM]
    assert hub.bytes_sent <= budget(t.nbytes), (hub.bytes_sent, budget(t.nbytes))
    assert res["bytes_downloaded"] == hub.bytes_sent  # every body byte, redirect texts and API answers too
    cdn = [r for r in hub.requests if r.server == "cdn"]
    assert cdn and all(r.status == 206 and "authorization" not in r.headers for r in cdn)
    # no stray requests (huggingface_hub's agent-detection probe GETs /api/agent-harnesses)
    assert all(r.path.startswith((f"/api/models/{repo}/", f"/{repo}/resolve/", f"/api/resolve-cache/models/{repo}/"))
               for r in hub.requests if r.server == "hub"), [r.path for r in hub.requests]
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in hub.requests if r.server == "hub")
    assert any(r.headers.get("accept-encoding", "").find("gzip") >= 0 for r in hub.requests if "/api/" in r.path)


def test_embed_out_to_npy_is_float32_exact(hub, tmp_path):
    want = hub.info["sharded-bin"]["step0"]["tensors"][EMBED_OUT]  # BF16, last shard
    assert want.dtype == "BF16"
    out = tmp_path / "w.npy"
    p = embdim(["fetch", "strict/sharded-bin", "--revision", "step0", "--tensor", "embed_out", "--out", str(out),
                "--json"], hub, tmp_path, TOKEN)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["tensor"] == EMBED_OUT and res["file"] == "pytorch_model-00002-of-00002.bin"
    arr = np.load(out)
    bits = np.frombuffer(want.data, "<u2").astype(np.uint32) << 16  # bf16 = top half of a float32
    assert arr.dtype == np.float32 and arr.shape == (VOCAB, DIM)
    assert np.array_equal(arr.view(np.uint32), bits.reshape(VOCAB, DIM))


def test_revisions_paginated_gzip_tree_json_and_tsv(hub, tmp_path):
    repo = "strict/mixed"
    info = make_pythia_like_repo(hub, repo, [0, 1, 2, 512, 1000], identical=[1],
                                 layout={0: "bin", 2: "sharded-safetensors", 512: "sharded-bin", 1000: "safetensors"},
                                 vocab=64, dim=16)
    hub.add_revision(repo, "docs-only", {"README.md": b"# no weights\n", "config.json": b"{}"})
    hub.reset()
    hub.fault("hub", "/tree/step512", "cut", n=40)            # a tree page cut mid-body is asked again
    hub.fault("hub", "/refs", "status", status=503)
    tsv = tmp_path / "sub" / "r.tsv"
    p = embdim(["revisions", repo, "--json", "--out", str(tsv)], hub, tmp_path, TOKEN)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""  # retries (a 503, a cut page) stay quiet
    res = json.loads(p.stdout)
    assert res["repo"] == repo and res["tensor"] == "embed_in"
    rows = res["revisions"]
    assert [r["revision"] for r in rows] == ["step0", "step1", "step2", "step512", "step1000", "docs-only", "main"]
    assert [r["step"] for r in rows] == [0, 1, 2, 512, 1000, None, None]
    for r in rows:
        assert REV_KEYS <= set(r)
        if r["revision"] == "docs-only":
            assert (r["status"], r["file"], r["blob_sha256"], r["files"]) == ("no-weights", None, None, [])
            continue
        src = info[r["revision"]]
        assert r["commit"] == src["commit"] and r["status"] == ("unnumbered" if r["revision"] == "main" else "ok")
        holder = [f for f in src["files"] if not f.endswith(".json") and EMBED_IN.encode() in src["files"][f]]
        assert r["file"] == holder[0] and len(holder) == 1
        assert r["blob_sha256"] == hashlib.sha256(src["files"][r["file"]]).hexdigest()
        assert sorted(r["files"]) == sorted(f for f in src["files"] if f != "config.json")
    assert rows[1]["blob_sha256"] == rows[0]["blob_sha256"]  # step1 is byte-identical to step0
    # pages of 2 entries (the cut first page is asked twice)
    assert len([r for r in hub.requests if "/tree/step512" in r.path]) == 1 + -(-len(info["step512"]["files"]) // 2)
    lines = tsv.read_text().splitlines()
    assert lines[0] == TSV_HEADER and len(lines) == 1 + len(rows)
    cells = [ln.split("\t") for ln in lines[1:]]
    assert all(len(c) == 6 for c in cells)
    assert cells[-1][:2] == ["main", ""] and cells[-2][-1] == "no-weights" and cells[0][-1] == "ok"
    assert cells[-1][-1] == "unnumbered"  # main names no step
    assert cells[3][3] == "pytorch_model-00001-of-00002.bin"
    assert not [f for f in os.listdir(tsv.parent) if f != "r.tsv"]


def test_faults_retry_after_503_and_api_faults_exact(hub, tmp_path):
    repo, want = "strict/safetensors", hub.info["safetensors"]["step1000"]["tensors"][EMBED_IN]
    hub.reset()
    hub.fault("hub", "/revision/", "status", status=503, times=2)
    # the Hub's own rate-limit header, no Retry-After: no request left, window resets in 1 s
    limit = {"RateLimit": '"api";r=0;t=1', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}
    hub.fault("hub", "/revision/", "status", status=429, headers=limit)
    hub.fault("hub", "/paths-info/", "status", status=429, headers={"Retry-After": "1"})
    hub.fault("cdn", "/xet-bridge-us/", "status", status=429, skip=1, headers={"Retry-After": "1"})
    hub.fault("cdn", "/xet-bridge-us/", "status", status=503, times=2)
    out = tmp_path / "e.safetensors"
    p = embdim(["fetch", repo, "--revision", "step1000", "--out", str(out), "--json"], hub, tmp_path, TOKEN)
    assert p.returncode == 0, p.stderr
    assert st_read(out)[1] == want.data and p.stderr == ""
    reqs = hub.requests
    assert len([r for r in reqs if "/revision/" in r.path]) == 4
    for path, server in (("/revision/", "hub"), ("/paths-info/", "hub"), ("/xet-bridge-us/", "cdn")):
        seen = [r for r in reqs if path in r.path and r.server == server]
        i = next(k for k, r in enumerate(seen) if r.status == 429)
        # nothing re-sent to that path before Retry-After (1 s) elapsed
        assert seen[i + 1].t - seen[i].t >= 1.0, (path, seen[i + 1].t - seen[i].t)
    assert json.loads(p.stdout)["bytes_downloaded"] == hub.bytes_sent


def test_cut_bodies_resume_from_last_byte_and_200_to_range(hub, tmp_path):
    repo = "strict/bin-zip64"
    want = hub.info["bin-zip64"]["step1000"]["tensors"][EMBED_IN]
    hub.reset()
    hub.fault("cdn", "/xet-bridge-us/", "cut", n=1000, skip=3)       # the tensor read (4th CDN GET)
    hub.fault("cdn", "/xet-bridge-us/", "cut", n=7000, skip=3)       # ... and its first resume
    out = tmp_path / "e.safetensors"
    p = embdim(["fetch", repo, "--revision", "step1000", "--out", str(out), "--json"], hub, tmp_path, TOKEN)
    assert p.returncode == 0, p.stderr
    assert st_read(out)[1] == want.data
    cdn = [r for r in hub.requests if r.server == "cdn"]
    first = [int(x) for x in cdn[3].range[len("bytes="):].split("-")]
    assert first[1] - first[0] + 1 == want.nbytes
    # resumed from the last byte received, not from the start of the range
    assert [r.range for r in cdn[4:6]] == [f"bytes={first[0] + 1000}-{first[1]}",
                                           f"bytes={first[0] + 8000}-{first[1]}"]
    assert hub.bytes_sent <= budget(want.nbytes)
    # a 200 with the whole file to a Range request: still exact
    hub.reset()
    hub.fault("cdn", "/xet-bridge-us/", "full", times=2)
    hub.fault("hub", "/api/resolve-cache/", "full")
    p = embdim(["fetch", "strict/sharded-safetensors", "--revision", "step0", "--out", str(out)], hub, tmp_path,
               TOKEN)
    assert p.returncode == 0, p.stderr
    assert st_read(out)[1] == hub.info["sharded-safetensors"]["step0"]["tensors"][EMBED_IN].data
    assert [r.status for r in hub.requests if r.server == "cdn"][:2] == [200, 200]


@pytest.mark.parametrize("args,needle", [
    (["strict/safetensors", "--revision", "step7"], "step7"),                  # missing revision
    (["strict/nope", "--revision", "main"], "strict/nope"),                    # missing repo (401 RepoNotFound)
    (["strict/empty", "--revision", "main"], "no weight file"),                # revision without weights
    (["strict/safetensors", "--revision", "main", "--tensor", "no.such"], "no.such"),
])
def test_not_found_is_exit_3_one_line_and_leaves_nothing(hub, tmp_path, args, needle):
    hub.add_revision("strict/empty", "main", {"README.md": b"hi\n"})
    for out in (tmp_path / "e.safetensors", tmp_path / "e.npy"):
        p = embdim(["fetch", *args, "--out", str(out), "--json"], hub, tmp_path, TOKEN)
        assert p.returncode == 3, p.stderr
        assert needle in p.stderr and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
        assert json.loads(p.stdout)["error"]["exit_code"] == 3
        assert not leftovers(tmp_path, "e.")
    p = embdim(["revisions", "strict/nope", "--json"], hub, tmp_path)  # no token: the Hub answers 401
    assert p.returncode == 3 and TOKEN not in p.stdout + p.stderr


def test_failure_after_retries_exit_4_and_token_never_written(hub, tmp_path):
    hub.reset()
    hub.fault("cdn", "/xet-bridge-us/", "status", status=503, times=50)
    out = tmp_path / "e.npy"
    p = embdim(["fetch", "strict/bin", "--revision", "step0", "--out", str(out)], hub, tmp_path, TOKEN)
    assert p.returncode == 4 and "retries" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not leftovers(tmp_path, "e.")
    hub.reset()
    ok = embdim(["fetch", "strict/bin", "--revision", "step0", "--out", str(out), "--json"], hub, tmp_path, TOKEN)
    assert ok.returncode == 0 and TOKEN not in ok.stdout + ok.stderr
    for root, _, files in os.walk(tmp_path):
        for f in files:
            assert TOKEN.encode() not in open(os.path.join(root, f), "rb").read()


def _run_with_tty_stderr(args, env) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (stdout a pipe); return (code, stdout, what the tty got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(["embdim", *args], env=env, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    got, deadline = b"", time.monotonic() + 120
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            got += chunk
        elif proc.poll() is not None:
            break
    out = proc.communicate(timeout=60)[0]
    os.close(master)
    return proc.returncode, out.decode(), got.decode(errors="replace")


def test_progress_only_on_a_terminal_and_never_with_json(hub, tmp_path):
    env = env_for(hub, tmp_path, TOKEN)
    args = ["fetch", "strict/safetensors", "--revision", "step0", "--out", str(tmp_path / "e.safetensors")]
    code, out, tty = _run_with_tty_stderr(args, env)
    assert code == 0 and "fetch" in tty and "MiB" in tty and "step0" in out
    code, out, tty = _run_with_tty_stderr(args + ["--json"], env)
    assert code == 0 and tty == "" and json.loads(out)["revision"] == "step0"


def test_server_without_revision_and_paths_info_endpoints(tmp_path):
    with StrictHub(lacking=("revision", "paths-info")) as h:
        info = make_pythia_like_repo(h, "min/model", [0, 1000], layout={0: "sharded-safetensors", 1000: "bin"},
                                     vocab=VOCAB, dim=DIM)
        for rev in ("step0", "step1000"):
            h.reset()
            out = tmp_path / f"{rev}.safetensors"
            p = embdim(["fetch", "min/model", "--revision", rev, "--out", str(out), "--json"], h, tmp_path)
            assert p.returncode == 0, p.stderr
            res = json.loads(p.stdout)
            assert res["commit"] == info[rev]["commit"]
            t = info[rev]["tensors"][EMBED_IN]
            assert st_read(out)[1] == t.data and h.bytes_sent <= budget(t.nbytes)
        p = embdim(["fetch", "min/model", "--revision", "step5", "--out", str(tmp_path / "x.npy")], h, tmp_path)
        assert p.returncode == 3 and "step5" in p.stderr and not leftovers(tmp_path, "x.")


def test_branch_moved_during_fetch_is_an_integrity_error(monkeypatch):
    import huggingface_hub.constants
    from embdim.errors import IntegrityError
    from embdim.sources.hub import HubClient
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with StrictHub() as h:
        make_pythia_like_repo(h, "mv/model", [0, 1], main=False, vocab=64, dim=16)
        c = HubClient(endpoint=h.url, backoff_base=0.01, max_retries=1)
        commit = c.resolve_commit("mv/model", "step0")
        url = c.url("mv/model", "model.safetensors", "step0")
        assert len(c.get_range(url, 0, 8, commit=commit)) == 8
        h.repos["mv/model"]["step0"] = h.repos["mv/model"]["step1"]  # the branch now points elsewhere
        with pytest.raises(IntegrityError, match="moved"):
            c.get_range(url, 0, 8, commit=commit)


def test_after_a_429_no_thread_sends_anything_before_retry_after(tmp_path):
    # one entry per tree page and 20 ms a request: the other threads have work well past the 429
    with StrictHub(page_size=1, latency=0.02) as h:
        make_pythia_like_repo(h, "rl/model", range(0, 30000, 1000), vocab=32, dim=8,
                              layout={s: "sharded-safetensors" for s in range(0, 30000, 1000)})
        h.fault("hub", "/tree/step3000", "status", status=429, headers={"Retry-After": "1"})
        p = embdim(["revisions", "rl/model", "--json"], h, tmp_path)
        assert p.returncode == 0, p.stderr
        assert [r["status"] for r in json.loads(p.stdout)["revisions"]] == ["ok"] * 30 + ["unnumbered"]  # + main
        t429 = next(r.t for r in h.requests if r.status == 429)
        # requests already on their way when the 429 left may land just after it; then silence for 1 s
        early = [r.path for r in h.requests if t429 + 0.3 < r.t < t429 + 1.0]
        assert not early, early
        assert any(r.t >= t429 + 1.0 for r in h.requests)


@pytest.mark.parametrize("layout", ["sharded-safetensors", "bin"])
def test_http10_without_content_length_cut_bodies_are_detected(tmp_path, layout):
    with StrictHub(http10=True) as h:
        info = make_pythia_like_repo(h, "h10/model", [0], layout=layout, vocab=VOCAB, dim=DIM, main=False)
        h.fault("hub", "/paths-info/", "cut", n=30)          # a JSON answer cut: only json.loads can tell
        # cut the tensor read: the 2nd CDN GET for safetensors (header, tensor), the 4th for a .bin
        h.fault("cdn", "/xet-bridge-us/", "cut", n=500, skip=1 if "safetensors" in layout else 3)
        out = tmp_path / "e.safetensors"
        p = embdim(["fetch", "h10/model", "--revision", "step0", "--out", str(out), "--json"], h, tmp_path)
        assert p.returncode == 0, p.stderr
        t = info["step0"]["tensors"][EMBED_IN]
        assert st_read(out)[1] == t.data
        assert json.loads(p.stdout)["bytes_downloaded"] == h.bytes_sent <= budget(t.nbytes)
        assert any(r.status == 206 and r.sent == 500 for r in h.requests)
        h.fault("hub", "/tree/step0", "cut", n=50)
        p = embdim(["revisions", "h10/model", "--json"], h, tmp_path)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["revisions"][0]["status"] == "ok"


@pytest.mark.parametrize("kind", ["bare206", "slice200"])
def test_simple_servers_range_answers_without_content_range(hub, tmp_path, kind):
    want = hub.info["bin"]["step1000"]["tensors"][EMBED_IN]
    hub.reset()
    hub.fault("cdn", "/xet-bridge-us/", kind, times=100)
    out = tmp_path / "e.safetensors"
    p = embdim(["fetch", "strict/bin", "--revision", "step1000", "--out", str(out), "--json"], hub, tmp_path, TOKEN)
    assert p.returncode == 0, p.stderr
    assert st_read(out)[1] == want.data and hub.bytes_sent <= budget(want.nbytes)
    assert {r.status for r in hub.requests if r.server == "cdn"} == {206 if kind == "bare206" else 200}


def test_revisions_tensor_absent_from_a_single_file_is_no_weights(tmp_path):
    """A full name the file lacks is no-weights; the alias embed_out of a tied checkpoint (no output
    matrix of its own) resolves to the input embedding and says so (issue 13)."""
    tied = pythia_like_tensors(vocab=64, dim=16, seed=3)
    del tied[EMBED_OUT]  # tied embeddings: no output matrix of its own
    with StrictHub() as h:
        make_pythia_like_repo(h, "tied/model", [0, 1000], layout={0: "bin", 1000: "safetensors"}, main=False)
        h.add_revision("tied/model", "step2000", checkpoint_files(tied, "safetensors"))
        h.add_revision("tied/model", "step3000", checkpoint_files(tied, "bin"))
        run = tmp_path / "run"
        for rev, files in (("step0", checkpoint_files(pythia_like_tensors(seed=1), "bin")),
                           ("step2000", checkpoint_files(tied, "safetensors"))):
            (run / rev).mkdir(parents=True)
            for name, data in files.items():
                (run / rev / name).write_bytes(data)
        for where in ("tied/model", str(run)):
            cases = (("embed_out", "ok"), ("embed_in", "ok"), (EMBED_OUT, "ok"), ("x.weight", "no-weights"))
            for tensor, want in cases:
                p = embdim(["revisions", where, "--tensor", tensor, "--json"], h, tmp_path)
                assert p.returncode == 0, p.stderr
                rows = {r["revision"]: r for r in json.loads(p.stdout)["revisions"]}
                assert rows["step0"]["status"] == want, (where, tensor)
                tied_status = "ok" if tensor in ("embed_in", "embed_out") else "no-weights"
                assert rows["step2000"]["status"] == tied_status, (where, tensor)
                assert rows["step2000"]["tied"] is ((tensor == "embed_out") if tied_status == "ok" else None)
                assert rows["step0"]["tied"] is (False if want == "ok" else None)
                if where == "tied/model":
                    assert rows["step3000"]["status"] == tied_status, tensor  # a tied torch-zip .bin
                if tied_status == "no-weights":
                    assert rows["step2000"]["file"] is None and rows["step2000"]["blob_sha256"] is None
        p = embdim(["fetch", str(run), "--revision", "step2000", "--tensor", "embed_out", "--out",
                    str(tmp_path / "o.npy"), "--json"], h, tmp_path)
        assert p.returncode == 0 and json.loads(p.stdout)["tied"] is True, p.stderr
        assert json.loads(p.stdout)["tensor"] == EMBED_IN
        p = embdim(["fetch", str(run), "--revision", "step2000", "--tensor", EMBED_OUT, "--out",
                    str(tmp_path / "o.npy")], h, tmp_path)
        assert p.returncode == 3 and EMBED_OUT in p.stderr and "available" in p.stderr


def test_renamed_repo_relative_redirects_keep_the_token(tmp_path):
    with StrictHub(renamed={"Old/name": "new/name"}, token=TOKEN) as h:
        info = make_pythia_like_repo(h, "new/name", [0], layout="sharded-bin", vocab=VOCAB, dim=DIM, main=False)
        out = tmp_path / "e.safetensors"
        p = embdim(["fetch", "Old/name", "--revision", "step0", "--out", str(out), "--json"], h, tmp_path, TOKEN)
        assert p.returncode == 0, p.stderr
        t = info["step0"]["tensors"][EMBED_IN]
        assert st_read(out)[1] == t.data and json.loads(p.stdout)["bytes_downloaded"] == h.bytes_sent
        assert {r.status for r in h.requests if r.path.startswith(("/Old/", "/api/models/Old/"))} == {307}
        assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in h.requests if r.server == "hub")
        p = embdim(["revisions", "Old/name", "--json"], h, tmp_path, TOKEN)
        assert p.returncode == 0 and json.loads(p.stdout)["revisions"][0]["status"] == "ok"
