# SPDX-License-Identifier: MIT
"""``embdim train-demo``: train the offline demo model and write Pythia-like checkpoints."""
from __future__ import annotations

import argparse

from .options import command

EPILOG = """examples:
  embdim train-demo --out-dir results/demo/adam --optimizer adam --steps 600 --seed 0
  embdim train-demo --out-dir results/demo/coupled_adam --optimizer coupled_adam --steps 600 --json
  embdim revisions results/demo/adam --json      # then sweep it like a Hub repo

Trains a tiny GPT-NeoX (HF GPTNeoXForCausalLM tensor names; d_model 128, 4 layers, vocab 4096,
context 128) on the top-level .py modules of this Python's standard library, with a byte-level
BPE trained locally. Writes RUN_DIR/step{N}/model.safetensors (fp16) + config.json at steps
0, 1, 2, 4, ... below --every, then every --every steps and the last step, then RUN_DIR/train.json
(settings, per-step losses, timings) last. coupled_adam = Coupled Adam (Stollenwerk &
Stollenwerk 2025) on embed_in and embed_out, AdamW elsewhere; adam = torch AdamW everywhere.
Same --seed gives the same data, batches and initial weights for both optimizers.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = command(
        subparsers, "train-demo", help="train the tiny offline demo model, writing checkpoints",
        description="Train a tiny GPT-NeoX-shaped causal LM offline with Adam or Coupled Adam and "
                    "save checkpoints on a Pythia-like schedule.",
        epilog=EPILOG)
    # --out-dir as every command that writes a directory; --out is the older spelling
    p.add_argument("--out-dir", "--out", dest="out_dir", required=True, metavar="RUN_DIR",
                   help="run directory to write")
    p.add_argument("--optimizer", required=True, choices=["adam", "coupled_adam"])
    p.add_argument("--steps", type=int, default=600, help="training steps (default 600)")
    p.add_argument("--seed", type=int, default=0, help="seed of init and batches (default 0)")
    p.add_argument("--every", type=int, default=None,
                   help="checkpoint interval after the log-spaced ones (default: a round number "
                        "near steps/6, e.g. 100 for 600 steps)")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per step (default 8)")
    p.add_argument("--seq-len", type=int, default=64,
                   help="tokens per sequence (default 64; the model's context is 128)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: the model is too small to gain from a second "
                        "one; the workflow runs the demo's trainings side by side instead)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run, human=format_human)
    return p


def run(args: argparse.Namespace) -> dict:
    import sys

    from ..demo.train import TrainSettings, default_every, train_demo
    from ..errors import InputError

    if args.steps < 1:
        raise InputError(f"--steps must be >= 1 (got {args.steps})")
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0 (got {args.seed})")
    every = args.every if args.every is not None else default_every(args.steps)
    if every < 1:
        raise InputError(f"--every must be >= 1 (got {every})")
    threads = args.threads
    if threads < 1:
        raise InputError(f"--threads must be >= 1 (got {threads})")
    if args.batch_size < 1 or args.seq_len < 2:
        raise InputError(f"--batch-size must be >= 1 and --seq-len >= 2 "
                         f"(got {args.batch_size}, {args.seq_len})")
    settings = TrainSettings(optimizer=args.optimizer, steps=args.steps, seed=args.seed,
                             every=every, threads=threads, batch_size=args.batch_size,
                             seq_len=args.seq_len)
    result = train_demo(args.out_dir, settings, log=None if args.quiet else sys.stderr)
    # stdout stays short: the per-step losses are in train.json
    return {k: v for k, v in result.items() if k != "losses"}


def format_human(r: dict) -> str:
    return "\n".join([
        f"{r['run_dir']}: {r['optimizer']}, {r['steps']} steps, seed {r['seed']}, "
        f"final loss {r['final_loss']:.4f}",
        f"checkpoints: {' '.join(r['revisions'])}",
        f"training {r['train_seconds']:.1f}s (total {r['total_seconds']:.1f}s), "
        f"{r['model']['n_params']} parameters, corpus {r['corpus']['files']} files "
        f"/ {r['corpus']['tokens']} tokens",
    ])
