# SPDX-License-Identifier: MIT
"""Time one hidden-state job (`embdim hidden --measure-out`: forward pass + every layer's ID,
geometry and norm-variance split) on random Pythia-shaped checkpoints, on CPU and on CUDA.

    python bench/hidden.py --sizes 14m,70m,160m --devices cpu,cuda --n-seq 256 --seq-len 128

The weights are random (transformers' GPT-NeoX init, fp16 on disk as Pythia): the cost of a job
depends on the shapes, not on the values. Prints one JSON line per size x device and a table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# d_model, layers, heads, d_ff of EleutherAI/pythia-* (their config.json)
SIZES = {"14m": (128, 6, 4, 512), "70m": (512, 6, 8, 2048), "160m": (768, 12, 12, 3072),
         "410m": (1024, 24, 16, 4096), "1b": (2048, 16, 8, 8192), "1.4b": (2048, 24, 16, 8192)}
VOCAB = 50304


def make_run(root: Path, size: str) -> Path:
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    d, layers, heads, ff = SIZES[size]
    cfg = GPTNeoXConfig(vocab_size=VOCAB, hidden_size=d, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=ff, rotary_pct=0.25,
                        max_position_embeddings=2048, use_parallel_residual=True,
                        tie_word_embeddings=False)
    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(cfg).to(torch.float16)
    run = root / f"pythia-{size}"
    model.save_pretrained(run / "step0", safe_serialization=True)
    return run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="14m,70m,160m")
    p.add_argument("--devices", default="cpu,cuda")
    p.add_argument("--n-seq", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--n-points", type=int, default=4096)
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads of the job")
    args = p.parse_args()
    import numpy as np

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ids = np.random.default_rng(0).integers(0, 50277, (args.n_seq, args.seq_len))
        np.save(tmp / "ids.npy", ids.astype(np.int64))
        for size in args.sizes.split(","):
            run = make_run(tmp, size)
            weights = (run / "step0" / "model.safetensors").stat().st_size
            for dev in args.devices.split(","):
                out = tmp / f"{size}-{dev}.json"
                cmd = [sys.executable, "-c", "import sys; from embdim.cli import main; sys.exit(main())",
                       "hidden", str(run), "--revision", "step0", "--tokens", str(tmp / "ids.npy"),
                       "--device", dev, "--n-points", str(args.n_points), "--bootstrap",
                       str(args.bootstrap), "--measure-out", str(out), "--json"]
                if args.threads:
                    cmd += ["--threads", str(args.threads)]
                t = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
                wall = time.perf_counter() - t
                row = {"size": size, "device": dev, "tokens": args.n_seq * args.seq_len,
                       "weights_bytes": weights, "wall_s": round(wall, 2), "rc": proc.returncode}
                if proc.returncode:
                    row["error"] = (proc.stderr or proc.stdout)[-400:]
                else:
                    res = json.loads(proc.stdout)
                    row["seconds"] = res.get("seconds")
                print(json.dumps(row), flush=True)
                rows.append(row)
    print("\n| size | device | weights (MB) | tokens | wall (s) |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['size']} | {r['device']} | {r['weights_bytes'] / 1e6:.0f} | {r['tokens']} | "
              f"{r['wall_s'] if not r['rc'] else 'failed'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
