# SPDX-License-Identifier: MIT
"""``embdim hidden``: every layer's hidden states of a checkpoint on a fixed token sample, and
(``--measure-out``) their ID, geometry and norm-variance split layer by layer."""
from __future__ import annotations

import argparse
import time

from .options import command

EPILOG = """examples:
  embdim hidden results/demo/adam --revision step600 --tokens sample.npz --out hidden.safetensors
  embdim hidden EleutherAI/pythia-14m --revision step1000 --tokens sample.npz --positions skip0 \\
      --out hidden.safetensors --json
  embdim hidden results/demo/adam --revision step0 --tokens sample.npz --n-points 2048 \\
      --measure-out layers.json

MODEL: a directory with config.json + model.safetensors; a run directory with --revision
step{N} (its subdirectory); or a Hub repo id with --revision (every tensor but embed_out is
fetched with range requests into a temporary directory, as rule fetch_checkpoint does). The
forward pass is transformers' AutoModelForCausalLM (embdim[layers]) loaded offline
(HF_HUB_OFFLINE=1, local_files_only, no remote code, safetensors only), float32 by default.
--out HIDDEN.safetensors holds float32 tensors layer.0 ... layer.L and final_ln, each
(n_seq*seq_len) x d in sequence-major order (row s*seq_len+t), captured by forward hooks:
layer.0 = the embedding output (input of block 0), layer.i = the residual stream after block i,
final_ln = the final LayerNorm's output (= transformers' hidden_states[-1]). --positions skip0
drops position 0 of every sequence (n_seq*(seq_len-1) rows). --measure-out LAYERS.json: for
every tensor and every --measure-positions set, the estimators of `embdim measure` (with their
bootstrap CIs) on --n-points rows drawn with --seed (as `embdim measure --sample N --seed S`),
the geometry of all rows (mean_cosine, top_pc_share, isotropy, pca_dim_90/95/99,
effective_rank) and m, v, q, v_within, v_between over the token types seen 10..1e5 times.
--shuffle permutes the tokens within each sequence first (the word-order baseline, seeded by
--seed); --also-shuffled measures both in one process (each entry's tokens: sample|shuffled).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..estimators import DEFAULT_SPECS
    from ..hidden.layers import DEFAULT_N_POINTS

    p = command(
        subparsers, "hidden", help="hidden states layer by layer (+ their ID and geometry)",
        description="Run a checkpoint on a token sample and capture every layer's states.",
        epilog=EPILOG)
    p.add_argument("model", metavar="MODEL", help="model directory, run directory or Hub repo id")
    p.add_argument("--revision", default=None, help="step{N} subdirectory or Hub revision")
    p.add_argument("--tokens", required=True, metavar="SAMPLE",
                   help="sample .npz (embdim sample-text) or .npy of token ids (n_seq x seq_len)")
    p.add_argument("--out", default=None, metavar="HIDDEN.safetensors",
                   help="write the hidden states here")
    p.add_argument("--positions", choices=("all", "skip0"), default="all",
                   help="rows written to --out: every position (default) or all but position 0")
    p.add_argument("--measure-out", default=None, metavar="LAYERS.json",
                   help="measure every layer and write the result here")
    p.add_argument("--measure-positions", default="all,skip0", metavar="SETS",
                   help="position sets measured, comma-separated (default all,skip0)")
    p.add_argument("--n-points", type=int, default=DEFAULT_N_POINTS, metavar="N",
                   help=f"rows per layer for the kNN estimators, drawn with --seed (default "
                        f"{DEFAULT_N_POINTS}; 0 = all)")
    p.add_argument("--estimator", action="append", default=None, metavar="NAME[:K]",
                   help=f"as embdim measure (repeatable; default {' '.join(DEFAULT_SPECS)})")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap replicates of each estimate's 95%% interval (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of --n-points, the bootstrap and "
                   "--shuffle (default 0)")
    p.add_argument("--shuffle", action="store_true",
                   help="shuffle the tokens within each sequence first (baseline)")
    p.add_argument("--also-shuffled", action="store_true",
                   help="with --measure-out: measure the sample and, in the same process, the "
                        "same tokens shuffled within each sequence (entries' tokens key)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                   help="compute dtype of the forward pass (default float32)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="forward and kNN device (default auto: cuda when available)")
    p.add_argument("--batch-size", type=int, default=16, help="sequences per forward batch")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run, human=format_human)
    return p


def run(args: argparse.Namespace) -> dict:
    from . import check_out_path
    from .. import __version__
    from ..errors import InputError
    from ..estimators import DEFAULT_SPECS, parse_spec
    from ..hidden.checkpoint import model_dir_for
    from ..hidden.forward import hidden_states, load_model, position_rows, shuffle_within
    from ..textsample import read_tokens

    if not args.out and not args.measure_out:
        raise InputError("give --out and/or --measure-out")
    if args.out and not str(args.out).endswith(".safetensors"):
        raise InputError(f"--out {args.out}: expected a .safetensors path")
    if args.measure_out:
        if not str(args.measure_out).endswith(".json"):
            raise InputError(f"--measure-out {args.measure_out}: expected a .json path")
        check_out_path(args.measure_out, "--measure-out")
    sets = [s for s in args.measure_positions.split(",") if s]
    if not sets or any(s not in ("all", "skip0") for s in sets):
        raise InputError(f"--measure-positions: a comma-separated list of all, skip0; got "
                         f"{args.measure_positions!r}")
    for flag, v, low in (("--n-points", args.n_points, 0), ("--bootstrap", args.bootstrap, 0),
                         ("--seed", args.seed, 0), ("--batch-size", args.batch_size, 1)):
        if v < low:
            raise InputError(f"{flag} must be >= {low} (got {v})")
    if args.n_points == 1:
        raise InputError("--n-points must be 0 (all) or >= 2")
    specs = [parse_spec(s) for s in (args.estimator or DEFAULT_SPECS)]
    # SIGTERM raises SystemExit (embdim.cli.main), so a temporary directory is removed on the way out
    device = _device(args.device)
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be >= 1 (got {args.threads})")
        import torch
        torch.set_num_threads(args.threads)
    tokens, tmeta = read_tokens(args.tokens)
    if args.out:
        position_rows(*tokens.shape, args.positions)  # fails early on one-token sequences
    if args.shuffle and args.also_shuffled:
        raise InputError("--shuffle and --also-shuffled exclude each other")
    if args.also_shuffled and not args.measure_out:
        raise InputError("--also-shuffled needs --measure-out")
    if args.shuffle:
        tokens = shuffle_within(tokens, args.seed)
    t0 = time.perf_counter()
    with model_dir_for(args.model, args.revision) as src:
        model = load_model(src.path, args.dtype, device)
        t_load = time.perf_counter()
        states = hidden_states(model, tokens, args.batch_size, device)
        shuffled = None
        if args.also_shuffled:
            shuffled_tokens = shuffle_within(tokens, args.seed)
            shuffled = hidden_states(model, shuffled_tokens, args.batch_size, device)
    t_fwd = time.perf_counter()
    names = list(states)
    n_seq, seq_len = tokens.shape
    d = int(states["layer.0"].shape[1])
    info = {"model": args.model, "revision": args.revision, "commit": src.commit,
            "bytes_downloaded": src.bytes_downloaded, "n_seq": int(n_seq),
            "seq_len": int(seq_len), "n_layers": len(names) - 2, "d": d,
            "tokens": "shuffled" if args.shuffle else "sample",
            "sample_sha256": tmeta.get("sample_sha256"),
            "corpus_sha256": tmeta.get("corpus_sha256"), "dtype": args.dtype, "device": device}
    result = {**info, "tensors": names, "version": __version__}
    if args.out:
        _write_states(args.out, states, position_rows(n_seq, seq_len, args.positions),
                      {**info, "positions": args.positions})
        result.update(out=str(args.out), positions=args.positions,
                      rows=int(n_seq * (seq_len - (args.positions == "skip0"))))
    t_write = time.perf_counter()
    if args.measure_out:
        from ..hidden.layers import measure_layers
        from ..io import write_json
        kw = dict(specs=specs, n_points=args.n_points or None, seed=args.seed,
                  bootstrap=args.bootstrap, positions=sets, device=device)
        layers = [{**e, "tokens": info["tokens"]} for e in measure_layers(states, tokens, **kw)]
        if shuffled is not None:
            del states  # the sample's states are measured: free them before the baseline's
            layers += [{**e, "tokens": "shuffled"}
                       for e in measure_layers(shuffled, shuffled_tokens, **kw)]
        t_meas = time.perf_counter()
        doc = {**info, "n_points": args.n_points, "seed": args.seed,
               "bootstrap": args.bootstrap, "estimators": [s.full for s in specs],
               "positions": sets, "layers": layers,
               "seconds": {"load": t_load - t0, "forward": t_fwd - t_load,
                           "measure": t_meas - t_write},
               "provenance": {"command": "embdim hidden", "version": __version__,
                              "tokens_file": str(args.tokens)}}
        write_json(args.measure_out, doc)
        result["measure_out"] = str(args.measure_out)
    result["seconds"] = {"load": t_load - t0, "forward": t_fwd - t_load,
                         "total": time.perf_counter() - t0}
    return result


def _device(choice: str) -> str:
    import torch

    from ..errors import InputError
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device available")
    return choice


def _write_states(path, states: dict, rows, info: dict) -> None:
    from pathlib import Path

    from ..formats.safetensors import write_safetensors

    meta = {k: "" if v is None else str(v) for k, v in info.items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(path, {n: (a if rows is None else a[rows]).astype("<f4", copy=False)
                             for n, a in states.items()}, meta)


def format_human(r: dict) -> str:
    lines = [f"{r['model']}@{r['revision'] or '-'} ({(r['commit'] or '')[:12]}): {r['n_layers']} "
             f"layers, d {r['d']}, {r['n_seq']} x {r['seq_len']} {r['tokens']} tokens, "
             f"forward {r['seconds']['forward']:.1f}s"]
    if r.get("out"):
        lines.append(f"-> {r['out']} ({len(r['tensors'])} tensors of {r['rows']} rows, "
                     f"positions {r['positions']})")
    if r.get("measure_out"):
        lines.append(f"-> {r['measure_out']}")
    return "\n".join(lines)
