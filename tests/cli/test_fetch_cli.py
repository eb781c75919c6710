# SPDX-License-Identifier: MIT
"""``embdim fetch`` / ``embdim revisions`` as a user runs them: a subprocess with HF_ENDPOINT set
(huggingface_hub reads it at import) talking to the loopback Hub stand-in."""
from __future__ import annotations

import json
import os
import struct
import hashlib
import subprocess

import numpy as np
import pytest

from tests.fixtures import EMBED_IN, EMBED_OUT, checkpoint_files, evil_bin, make_pythia_like_repo, pythia_like_tensors
from tests.hubs.hubserver import FakeHub

REPO = "EleutherAI/pythia-70m"
TOKEN = "hf_cliSECRETtoken0987654321"
FETCH_KEYS = {"repo", "revision", "commit", "file", "tensor", "dtype", "shape", "bytes_downloaded", "blob_sha256"}


def embdim(args, hub=None, tmp_path=None, token=None, **env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_HUB_DISABLE_TELEMETRY="1", EMBDIM_BACKOFF_BASE="0.01", EMBDIM_MAX_RETRIES="2")
    if tmp_path is not None:
        env["HF_HOME"] = str(tmp_path / "hf_home")  # no stored login from the machine
    if hub is not None:
        env["HF_ENDPOINT"] = hub.url
    if token:
        env["HF_TOKEN"] = token
    env.update(env_extra)
    return subprocess.run(["embdim", *args], env=env, capture_output=True, text=True, timeout=120)


def read_safetensors(path) -> tuple[dict, bytes]:
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


@pytest.fixture(scope="module")
def hub():
    with FakeHub(token=TOKEN) as h:
        h.info = make_pythia_like_repo(h, REPO, [0, 1000, 2000], missing=[2000], dtype="BF16",
                                       layout={0: "bin", 1000: "sharded-safetensors"}, vocab=256, dim=32)
        yield h


def test_fetch_json_and_outputs(hub, tmp_path):
    out = tmp_path / "sub" / "e.safetensors"
    p = embdim(["fetch", REPO, "--revision", "step1000", "--out", str(out), "--json"], hub, tmp_path, TOKEN)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)  # exactly one JSON object
    assert FETCH_KEYS <= set(res)
    want = hub.info["step1000"]["tensors"][EMBED_IN]
    assert res["commit"] == hub.info["step1000"]["commit"] and res["file"] == "model-00001-of-00002.safetensors"
    assert (res["tensor"], res["dtype"], res["shape"]) == (EMBED_IN, "BF16", [256, 32])
    header, data = read_safetensors(out)
    assert header[EMBED_IN]["dtype"] == "BF16" and data == want.data
    assert 0 < res["bytes_downloaded"] <= 1.02 * want.nbytes + 65536
    npy = tmp_path / "o.npy"
    p = embdim(["fetch", REPO, "--revision", "step0", "--tensor", "embed_out", "--out", str(npy)], hub, tmp_path, TOKEN)
    assert p.returncode == 0, p.stderr
    arr = np.load(npy)
    assert arr.dtype == np.float32 and np.array_equal(arr, hub.info["step0"]["tensors"][EMBED_OUT].array())
    assert "step0" in p.stdout and p.stderr == ""  # not a terminal: no progress output


@pytest.mark.parametrize("args,code,msg", [
    (["--revision", "step2000"], 3, "revision 'step2000' not found"),
    (["--revision", "step0", "--tensor", "no.such.tensor"], 3, "no.such.tensor"),
    (["--revision", "step0", "--out-suffix", ".txt"], 2, ".safetensors or .npy"),
])
def test_fetch_failures_exit_codes_and_leave_nothing(hub, tmp_path, args, code, msg):
    suffix = ".safetensors"
    if "--out-suffix" in args:
        suffix = args[-1]
        args = args[:-2]
    out = tmp_path / f"e{suffix}"
    p = embdim(["fetch", REPO, *args, "--out", str(out)], hub, tmp_path, TOKEN)
    assert p.returncode == code
    assert msg in p.stderr and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert not [f for f in os.listdir(tmp_path) if f.startswith((".e", "e."))]


def test_unsafe_bin_refused_exit_5_nothing_run(hub, tmp_path):
    sentinel = tmp_path / "SENTINEL"
    with FakeHub() as h:
        h.add_revision("evil/model", "main", {"pytorch_model.bin": evil_bin(f"touch {sentinel}")})
        out = tmp_path / "e.safetensors"
        p = embdim(["fetch", "evil/model", "--revision", "main", "--out", str(out), "--json"], h, tmp_path)
    assert p.returncode == 5, p.stderr
    assert json.loads(p.stdout)["error"]["type"] == "UnsafeCheckpointError"
    assert "os.system" in p.stderr
    assert not sentinel.exists() and not out.exists()


def test_token_sent_but_never_shown_or_written(hub, tmp_path):
    hub.reset()
    out = tmp_path / "e.safetensors"
    ok = embdim(["fetch", REPO, "--revision", "step0", "--out", str(out), "--json"], hub, tmp_path, TOKEN)
    bad = embdim(["fetch", REPO, "--revision", "step2000", "--out", str(tmp_path / "x.npy")], hub, tmp_path, TOKEN)
    revs = embdim(["revisions", REPO, "--out", str(tmp_path / "r.tsv"), "--json"], hub, tmp_path, TOKEN)
    assert ok.returncode == 0 and bad.returncode == 3 and revs.returncode == 0
    assert hub.requests and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in hub.requests)
    for p in (ok, bad, revs):
        assert TOKEN not in p.stdout and TOKEN not in p.stderr
    for root, _, files in os.walk(tmp_path):
        for f in files:
            assert TOKEN.encode() not in open(os.path.join(root, f), "rb").read(), f
    # without the token the (private) stand-in refuses: exit 4 with a hint, not a traceback
    p = embdim(["fetch", REPO, "--revision", "step0", "--out", str(tmp_path / "n.npy")], hub, tmp_path)
    assert p.returncode == 4 and "HF_TOKEN" in p.stderr and "Traceback" not in p.stderr


def test_revisions_json_and_tsv(hub, tmp_path):
    tsv = tmp_path / "r.tsv"
    p = embdim(["revisions", REPO, "--json", "--out", str(tsv)], hub, tmp_path, TOKEN)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["repo"] == REPO and [r["revision"] for r in res["revisions"]] == ["step0", "step1000", "main"]
    assert [r["step"] for r in res["revisions"]] == [0, 1000, None]
    for r in res["revisions"]:
        assert {"revision", "step", "commit", "files", "file", "blob_sha256", "status"} <= set(r)
    lines = tsv.read_text().splitlines()
    assert lines[0] == "revision\tstep\tcommit\tfile\tblob_sha256\tstatus"
    assert lines[3].split("\t")[:2] == ["main", ""] and lines[1].split("\t")[-1] == "ok"
    p = embdim(["revisions", "EleutherAI/nope", "--json"], hub, tmp_path, TOKEN)
    assert p.returncode == 3 and json.loads(p.stdout)["error"]["exit_code"] == 3


def test_hub_unreachable_exit_4(tmp_path):
    p = embdim(["fetch", REPO, "--revision", "step0", "--out", str(tmp_path / "e.npy")], None, tmp_path,
               HF_ENDPOINT="http://127.0.0.1:9")
    assert p.returncode == 4 and "retries" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "e.npy").exists()


def test_local_run_directory(tmp_path):
    run = tmp_path / "run"
    expected = {}
    for step, layout in ((0, "safetensors"), (10, "sharded-bin"), (20, "bin-zip64")):
        tensors = pythia_like_tensors(vocab=64, dim=8, dtype="F32", seed=step)
        expected[step] = tensors
        d = run / f"step{step}"
        d.mkdir(parents=True)
        for name, data in checkpoint_files(tensors, layout).items():
            (d / name).write_bytes(data)
    (run / "logs").mkdir()
    p = embdim(["revisions", str(run), "--json"], None, tmp_path)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)["revisions"]
    assert [(r["revision"], r["step"], r["status"]) for r in rows] == [("step0", 0, "ok"), ("step10", 10, "ok"),
                                                                       ("step20", 20, "ok")]
    assert rows[1]["file"] == "pytorch_model-00001-of-00002.bin"
    assert rows[1]["commit"] == hashlib.sha256((run / "step10" / rows[1]["file"]).read_bytes()).hexdigest()
    for step in (0, 10, 20):
        out = tmp_path / f"l{step}.safetensors"
        p = embdim(["fetch", str(run), "--revision", f"step{step}", "--out", str(out), "--json"], None, tmp_path)
        assert p.returncode == 0, p.stderr
        assert read_safetensors(out)[1] == expected[step][EMBED_IN].data
    p = embdim(["fetch", str(run), "--revision", "step30", "--out", str(tmp_path / "x.npy")], None, tmp_path)
    assert p.returncode == 3 and "step30" in p.stderr


def test_neither_directory_nor_repo_id_is_bad_input(tmp_path):
    for cmd in (["fetch", str(tmp_path / "no-such-dir") + "/", "--revision", "x", "--out", str(tmp_path / "e.npy")],
                ["revisions", "a/b/c"]):
        p = embdim(cmd, None, tmp_path, HF_ENDPOINT="http://127.0.0.1:9")
        assert p.returncode == 2 and "valid Hub repo id" in p.stderr and "Traceback" not in p.stderr
