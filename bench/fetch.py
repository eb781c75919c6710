# SPDX-License-Identifier: MIT
"""Bytes and seconds of ``embdim``'s ranged fetch of one embedding vs ``hf_hub_download`` of the whole
file holding it, on the loopback Hub stand-in (timing only, never a CI gate).

The checkpoint imitates Pythia-70m in fp16: embed_in 50304 x 512, embed_out 50304 x 512 and ~44 MB of
layer weights (70 M parameters in all), in each layout. Each fetch runs ``--repeat`` times; the median
is reported with the machine and the git commit.

    python bench/fetch.py                      # Pythia-70m-like, all layouts
    python bench/fetch.py --dim 128 --repeat 5 # Pythia-14m-like
    python bench/fetch.py --rate 100 --latency 0.05   # a 100 MB/s link, 50 ms per request
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # no agent-registry request in the counts
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from huggingface_hub import hf_hub_download  # noqa: E402

from embdim.sources.hub import HubClient  # noqa: E402
from tests.fixtures import EMBED_IN, LAYOUTS, checkpoint_files, pythia_like_tensors, raw_from_float32  # noqa: E402
from tests.hubs.hubserver import FakeHub  # noqa: E402


def checkpoint(vocab: int, dim: int, params: int, dtype: str) -> "OrderedDict":
    t = pythia_like_tensors(vocab, dim, dtype, seed=1)
    rest = params - sum(x.nbytes // 2 for x in t.values())  # parameters still to add (2 B each in fp16)
    if rest <= 0:
        return t
    rows = max(1, rest // dim)
    filler = raw_from_float32(np.random.default_rng(2).standard_normal((rows, dim), dtype=np.float32) * 0.02, dtype)
    # Third in order, so the 2-shard layouts put it in shard 1 beside embed_in, as in Pythia-12b's shard 1
    items = list(t.items())
    return OrderedDict(items[:2] + [("gpt_neox.layers.1.mlp.dense_4h_to_h.weight", filler)] + items[2:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", type=int, default=50304)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--params", type=float, default=70e6, help="total parameters of the fake checkpoint")
    ap.add_argument("--dtype", default="F16")
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cdn", action="store_true", help="serve LFS files through the 302-to-CDN path")
    ap.add_argument("--rate", type=float, default=None, help="simulated link speed, MB/s (default: unpaced)")
    ap.add_argument("--latency", type=float, default=0.0, help="simulated delay per request, s")
    a = ap.parse_args()

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"# machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, {platform.system()}; commit {commit}; loopback stand-in"
          f"{' with CDN redirects' if a.cdn else ''}"
          f"{f', link {a.rate} MB/s' if a.rate else ', unpaced'}, {a.latency * 1000:.0f} ms per request")
    tensors = checkpoint(a.vocab, a.dim, int(a.params), a.dtype)
    nbytes = tensors[EMBED_IN].nbytes
    print(f"# tensor {EMBED_IN} {a.vocab}x{a.dim} {a.dtype} = {nbytes} B; median of {a.repeat}")
    print("layout\tfile_bytes\tembdim_bytes\tembdim_s\twhole_bytes\twhole_s\tbytes_ratio\ttime_ratio")
    repo = "bench/pythia-like"
    for layout in a.layouts.split(","):
        with FakeHub(cdn=a.cdn, rate=a.rate * 1e6 if a.rate else None, latency=a.latency) as hub, tempfile.TemporaryDirectory() as tmp:
            hub.add_revision(repo, "step1000", checkpoint_files(tensors, layout))
            ours, whole = [], []
            for i in range(a.repeat):
                hub.reset()
                t0 = time.perf_counter()
                res = HubClient(endpoint=hub.url).fetch_tensor(repo, "step1000", "embed_in")
                ours.append((time.perf_counter() - t0, hub.bytes_sent))
                assert res.raw == tensors[EMBED_IN].data
                hub.reset()
                t0 = time.perf_counter()
                hf_hub_download(repo, res.file, revision="step1000", endpoint=hub.url, cache_dir=f"{tmp}/c{i}")
                whole.append((time.perf_counter() - t0, hub.bytes_sent))
            (s1, b1), (s2, b2) = (tuple(statistics.median(x) for x in zip(*runs)) for runs in (ours, whole))
            print(f"{layout}\t{len(hub.repos[repo]['step1000'].files[res.file].data)}\t{int(b1)}\t{s1:.3f}"
                  f"\t{int(b2)}\t{s2:.3f}\t{b1 / b2:.3f}\t{s1 / s2:.3f}")


if __name__ == "__main__":
    main()
