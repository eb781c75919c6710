# SPDX-License-Identifier: MIT
"""SIGTERM (Snakemake, SLURM) in the middle of a write: every command exits 143 and leaves no
temporary file and no output behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

# The child stalls inside io.atomic_write, after the temporary file is written and before the
# rename, and says so on stderr: the signal then lands exactly mid-write.
CHILD = """
import os, sys, time
import embdim.io as io
from embdim.cli import main
def stalled_fsync(fd):
    sys.stderr.write("STALLED\\n"); sys.stderr.flush()
    time.sleep(60)
io.os.fsync = stalled_fsync
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def npy(tmp_path_factory):
    path = tmp_path_factory.mktemp("sig") / "x.npy"
    np.save(path, np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32))
    return path


@pytest.mark.parametrize("command", [
    ["estimate", "{x}", "--k", "5"],
    ["geometry", "{x}"],
    ["measure", "{x}", "--bootstrap", "0", "--k-curve", "0", "--estimator", "mle:5"],
    ["baseline", "random", "--n", "50", "--ed", "4", "--k", "5"],
], ids=lambda c: c[0])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_signal_mid_write_leaves_nothing(tmp_path, npy, command, sig):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "r.json"
    argv = [a.replace("{x}", str(npy)) for a in command] + ["--out", str(out)]
    child = subprocess.Popen([sys.executable, "-c", CHILD, *argv], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        line = ""
        while "STALLED" not in line and time.monotonic() < deadline:
            line = child.stderr.readline()
            if not line and child.poll() is not None:
                break
        assert "STALLED" in line, f"the child never reached the write (rc {child.poll()})"
        assert any(p.name.endswith(".tmp") for p in out_dir.iterdir())  # the write is under way
        child.send_signal(sig)
        rc = child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()
    assert rc == 128 + sig
    assert list(out_dir.iterdir()) == [], os.listdir(out_dir)
