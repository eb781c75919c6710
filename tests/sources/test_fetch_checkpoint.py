# SPDX-License-Identifier: MIT
"""Full-checkpoint fetch (every tensor but embed_out) against the loopback Hub stand-in, through
the real huggingface_hub client; then `embdim hidden` on a Hub repo id, as a user runs it."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from embdim.demo.model import GPTNeoX, NeoXConfig, hf_config
from embdim.errors import CheckpointError, NotFoundError
from embdim.formats.layout import load_safetensors_tensor
from embdim.formats.safetensors import read_safetensors_index, write_safetensors
from embdim.hidden.checkpoint import fetch_checkpoint
from embdim.sources.hub import HubClient
from tests.fixtures import hub_env
from tests.hubs.hubserver import FakeHub

REPO = "EleutherAI/pythia-14m"
KiB = 1024



@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(1)
    # a large vocabulary: embed_out is most of the file, so fetching it would break the budget
    cfg = NeoXConfig(vocab_size=2048, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=32)
    model = GPTNeoX(cfg).eval()
    write_safetensors(d / "model.safetensors", model.hf_state_dict(torch.float16))
    cfg_raw = json.dumps(hf_config(cfg, torch_dtype="float16")).encode()
    (d / "config.json").write_bytes(cfg_raw)
    np.save(d / "ids.npy", np.random.default_rng(0).integers(1, 2048, size=(4, 12)))
    return {"dir": d, "files": {"model.safetensors": (d / "model.safetensors").read_bytes(),
                                "config.json": cfg_raw}}


def _table(path):
    return {n: load_safetensors_tensor(path, n)[0] for n in read_safetensors_index(path)}


def test_every_tensor_but_embed_out_byte_exact_within_budget(repo, tmp_path):
    with FakeHub() as hub:
        commit = hub.add_revision(REPO, "step100", repo["files"])
        hub.inject_503("/resolve/step100/model.safetensors", times=1)  # retried
        hub.cut_body_after(300, "/resolve/step100/model.safetensors", times=1, skip=2)  # resumed
        rec = fetch_checkpoint(REPO, "step100", tmp_path,
                               client=HubClient(endpoint=hub.url, backoff_base=0.01, max_retries=3))
        sent = hub.bytes_sent
        assert hub.count("/resolve/step100/model.safetensors", status=503) == 1
    src = _table(repo["dir"] / "model.safetensors")
    got = _table(tmp_path / "model.safetensors")
    assert set(got) == set(src) - {"embed_out.weight"} and rec["skipped"] == ["embed_out.weight"]
    for name, arr in got.items():
        assert arr.dtype == src[name].dtype and np.array_equal(arr, src[name]), name
    assert (tmp_path / "config.json").read_bytes() == repo["files"]["config.json"]
    assert rec["commit"] == commit and rec["tensors"] == len(src) - 1
    assert rec["bytes_downloaded"] == sent  # every body byte, API answers included
    embed_out = src["embed_out.weight"].nbytes
    need = len(repo["files"]["model.safetensors"]) - embed_out
    assert need < rec["bytes_downloaded"] <= 1.02 * need + 64 * KiB
    assert rec["weight_file_bytes"] == len(repo["files"]["model.safetensors"])


def test_missing_revision_config_and_remote_code(repo, tmp_path):
    with FakeHub() as hub:
        hub.add_revision(REPO, "step1", {"model.safetensors": repo["files"]["model.safetensors"]})
        cfg = json.loads(repo["files"]["config.json"])
        hub.add_revision(REPO, "step2", {**repo["files"],
                                         "config.json": json.dumps({**cfg, "auto_map": {}}).encode()})
        client = HubClient(endpoint=hub.url, backoff_base=0.01, max_retries=1)
        with pytest.raises(NotFoundError):
            fetch_checkpoint(REPO, "step9", tmp_path / "a", client=client)
        with pytest.raises(NotFoundError, match="config.json"):
            fetch_checkpoint(REPO, "step1", tmp_path / "b", client=client)
        with pytest.raises(CheckpointError, match="config"):
            fetch_checkpoint(REPO, "step2", tmp_path / "c", client=client)
    assert not (tmp_path / "c" / "model.safetensors").exists()


def test_embdim_hidden_on_a_hub_repo_equals_the_local_run(repo, tmp_path):
    with FakeHub() as hub:
        hub.add_revision(REPO, "step100", repo["files"])
        env = hub_env(hub, tmp_path / "hf-home")
        args = ["--tokens", str(repo["dir"] / "ids.npy"), "--device", "cpu", "--json"]
        remote = subprocess.run(["embdim", "hidden", REPO, "--revision", "step100", *args,
                                 "--out", str(tmp_path / "remote.safetensors")],
                                env=env, capture_output=True, text=True, timeout=300)
    assert remote.returncode == 0, remote.stderr[-2000:]
    out = json.loads(remote.stdout)
    assert out["commit"] == hub.commit_of(REPO, "step100") and out["bytes_downloaded"] > 0
    local = subprocess.run(["embdim", "hidden", str(repo["dir"]), *args,
                            "--out", str(tmp_path / "local.safetensors")],
                           env=env, capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr[-2000:]
    a, b = _table(tmp_path / "remote.safetensors"), _table(tmp_path / "local.safetensors")
    assert list(a) == list(b) == ["layer.0", "layer.1", "layer.2", "final_ln"]
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
