# SPDX-License-Identifier: MIT
"""Fetching a checkpoint's tokenizer.json (issue 13) as hostile input: the Hub stand-in (size cap
before any byte, a 503 retried, a blob that does not match its id, a damaged cache entry) and a
local run (links out of the run directory, a FIFO)."""
from __future__ import annotations

import os

import pytest

from embdim.errors import CheckpointError, InputError, IntegrityError, NotFoundError
from embdim.sources import tokenizer as src
from embdim.sources.hub import HubClient
from tests.hubs.hubserver import FakeHub
from tests.tokfix import bpe_tokenizer_json

REPO = "org/m"



@pytest.fixture(scope="module")
def tok():
    return bpe_tokenizer_json(vocab_size=270, nasty=False)


def gets(hub):
    return [r for r in hub.requests if r.method == "GET" and "/resolve/" in r.path]


def test_hub_retry_cache_and_damaged_cache(tok, tmp_path):
    raw, n = tok
    with FakeHub() as hub:
        hub.add_revision(REPO, "step1", {"tokenizer.json": raw})
        c = HubClient(endpoint=hub.url, backoff_base=0.01, max_retries=3)
        hub.inject_503("resolve/step1/tokenizer.json")
        t = src.hub_tokenizer(c, REPO, "step1", tmp_path / "cache")
        assert (t.raw, t.n_tokens, t.cached) == (raw, n, False) and len(gets(hub)) == 2
        assert t.bytes_downloaded >= len(raw)
        (entry,) = (tmp_path / "cache").iterdir()
        entry.write_bytes(raw[:-1] + b" ")  # damaged: not the blob it is named after
        t = src.hub_tokenizer(c, REPO, "step1", tmp_path / "cache")
        assert not t.cached and len(gets(hub)) == 3 and entry.read_bytes() == raw
        t = src.hub_tokenizer(c, REPO, "step1", tmp_path / "cache")
        assert t.cached and len(gets(hub)) == 3


def test_hub_size_cap_before_any_byte_and_integrity(tok, tmp_path, monkeypatch):
    raw, _ = tok
    with FakeHub() as hub:
        hub.add_revision(REPO, "step1", {"tokenizer.json": raw})
        c = HubClient(endpoint=hub.url, backoff_base=0.01, max_retries=1)
        monkeypatch.setattr(src, "MAX_TOKENIZER_BYTES", len(raw) - 1)
        with pytest.raises(CheckpointError, match="larger than"):
            src.hub_tokenizer(c, REPO, "step1")
        assert gets(hub) == []
        monkeypatch.undo()
        hub.inject_body("resolve/step1/tokenizer.json", b"x" * len(raw),
                        headers={"Content-Length": str(len(raw))}, times=5)
        with pytest.raises(IntegrityError):
            src.hub_tokenizer(c, REPO, "step1", tmp_path / "cache")
        assert not (tmp_path / "cache").exists()
        with pytest.raises(NotFoundError):
            src.hub_tokenizer(c, REPO, "nope")


def test_local_run_refuses_links_out_and_fifos(tok, tmp_path):
    raw, n = tok
    run = tmp_path / "run"
    (run / "step1").mkdir(parents=True)
    with pytest.raises(NotFoundError, match="no tokenizer.json"):
        src.local_tokenizer(run, "step1")
    (tmp_path / "outside.json").write_bytes(raw)
    (run / "tokenizer.json").symlink_to(tmp_path / "outside.json")
    with pytest.raises(InputError, match="links outside"):
        src.local_tokenizer(run, "step1")
    os.mkfifo(run / "step1" / "tokenizer.json")  # the step directory is looked at first
    with pytest.raises(InputError, match="not a regular file"):
        src.local_tokenizer(run, "step1")
    os.unlink(run / "step1" / "tokenizer.json")
    (run / "step1" / "tokenizer.json").write_bytes(raw)
    assert src.local_tokenizer(run, "step1").n_tokens == n
    with pytest.raises(InputError):
        src.local_tokenizer(run, "../step1")


def test_local_tokenizer_code_does_not_load_the_network_stack():
    import subprocess
    import sys
    code = ("import sys, embdim.sources.tokenizer, embdim.tokens, embdim.rows, embdim.cli.tokens; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('huggingface_hub', 'httpx', 'httpx2', 'httpcore', 'httpcore2')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
