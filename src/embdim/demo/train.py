# SPDX-License-Identifier: MIT
"""Train the tiny GPT-NeoX demo model and write Pythia-like checkpoints of it.

Layout written under ``run_dir`` (the local layout ``embdim revisions``/``fetch`` read)::

    run_dir/step{N}/model.safetensors   every parameter under its HF name (fp16, as Pythia)
    run_dir/step{N}/config.json         HF GPTNeoXConfig keys
    run_dir/tokenizer.json              the locally trained BPE
    run_dir/train.json                  written last: marks the run complete; settings, losses, timings
"""
from __future__ import annotations

import json
import math
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..formats.safetensors import write_safetensors
from ..io import atomic_write
from ..errors import InputError
from .corpus import encode_corpus, stdlib_corpus, train_tokenizer
from .model import NeoXConfig

OPTIMIZERS = ("adam", "coupled_adam")
_STEP_DIR = re.compile(r"step\d+")
_OUR_FILES = {"model.safetensors", "config.json"}


@dataclass
class TrainSettings:
    """Everything that determines a run; recorded in ``train.json``."""

    optimizer: str = "adam"
    steps: int = 600
    seed: int = 0
    every: int = 100          # checkpoint interval after the log-spaced ones (Pythia: 1000)
    # 8 x 64 tokens a step: 307k tokens in 600 steps, about 70 CPU-seconds a run, so the
    # Quick start stays within 10 minutes on 2 cores; ID still falls 54 -> ~30 and Coupled
    # Adam's embed_out ends higher (16 x 128 took 4x the time for the same shapes of curve).
    batch_size: int = 8
    seq_len: int = 64
    lr: float = 2e-3
    warmup: int = 30          # linear warm-up steps, then cosine to 10% (Pythia's schedule)
    betas: tuple[float, float] = (0.9, 0.95)  # Pythia's Adam betas
    weight_decay: float = 0.01  # Pythia's; on non-embedding matrices only
    threads: int = 1  # the model is tiny: a second thread costs more than it gives
    corpus_bytes: int | None = None  # None: the whole corpus; tests use a prefix to stay fast
    model: NeoXConfig = field(default_factory=NeoXConfig)


def checkpoint_steps(total: int, every: int) -> list[int]:
    """Pythia-like schedule: 0, then 1, 2, 4, ... below ``every``, then every ``every`` steps, and ``total``.

    >>> checkpoint_steps(300, 100)
    [0, 1, 2, 4, 8, 16, 32, 64, 100, 200, 300]
    """
    if total < 0 or every < 1:
        raise InputError(f"need steps >= 0 and every >= 1 (got {total}, {every})")
    out = {0, total}
    p = 1
    while p < min(every, total + 1):
        out.add(p)
        p *= 2
    out.update(range(every, total + 1, every))
    return sorted(s for s in out if s <= total)


def default_every(steps: int) -> int:
    """A round checkpoint interval (1, 2 or 5 x 10^k) near ``steps / 6``: ~6 regular checkpoints.

    >>> default_every(600), default_every(2000), default_every(400)
    (100, 200, 50)
    """
    target = max(1.0, steps / 6)
    mag = 10 ** math.floor(math.log10(target))
    return int(max(m * mag for m in (1, 2, 5) if m * mag <= target))


def lr_at(step: int, s: TrainSettings) -> float:
    """Learning rate for optimizer step ``step`` (1-based)."""
    if step <= s.warmup:
        return s.lr * step / max(1, s.warmup)
    frac = (step - s.warmup) / max(1, s.steps - s.warmup)
    return s.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def _clear_old_checkpoints(run_dir: Path) -> None:
    """Remove our own ``step*/`` dirs and ``train.json`` from an earlier run, nothing else."""
    (run_dir / "train.json").unlink(missing_ok=True)
    for d in run_dir.iterdir():
        if d.is_dir() and _STEP_DIR.fullmatch(d.name) and {f.name for f in d.iterdir()} <= _OUR_FILES:
            shutil.rmtree(d)


def _save(model, cfg_json: dict, run_dir: Path, step: int) -> None:
    d = run_dir / f"step{step}"
    d.mkdir(parents=True, exist_ok=True)
    atomic_write(d / "config.json", [json.dumps(cfg_json, indent=2).encode() + b"\n"])
    write_safetensors(d / "model.safetensors", model.hf_state_dict(), metadata={"format": "pt"})


def train_demo(run_dir: str | Path, settings: TrainSettings, log=sys.stderr) -> dict:
    """Train one run and write its checkpoints; returns the ``train.json`` content.

    Progress lines go to the text stream ``log`` (``None``: silent).

    Both optimizers see the same initial weights and the same batches for the same seed, so
    ``step0`` is identical across runs and every difference later comes from the optimizer.
    """
    import torch

    from .coupled_adam import build_optimizer
    from .model import GPTNeoX, embedding_parameter_names, hf_config, n_params

    s = settings
    if s.optimizer not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {s.optimizer!r} (expected one of {', '.join(OPTIMIZERS)})")
    if s.steps < 1 or s.batch_size < 1 or s.seq_len < 2 or s.threads < 1:
        raise InputError("steps, batch size and threads must be >= 1 and seq_len >= 2")
    if s.seq_len > s.model.max_position_embeddings:
        raise InputError(f"seq_len {s.seq_len} exceeds max_position_embeddings {s.model.max_position_embeddings}")
    t_start = time.perf_counter()
    torch.set_num_threads(s.threads)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _clear_old_checkpoints(run_dir)

    corpus = stdlib_corpus(max_bytes=s.corpus_bytes)
    tok = train_tokenizer(corpus.texts, s.model.vocab_size)
    tok_json = tok.to_str()
    atomic_write(run_dir / "tokenizer.json", [tok_json.encode()])
    data = torch.from_numpy(encode_corpus(tok, corpus.texts))
    if len(data) <= s.seq_len + 1:
        raise InputError(f"corpus too small ({len(data)} tokens) for seq_len {s.seq_len}")
    say = (lambda msg: print(msg, file=log, flush=True)) if log is not None else (lambda msg: None)
    say(f"corpus: {len(corpus.files)} files, {corpus.n_bytes} bytes, {len(data)} tokens")

    torch.manual_seed(s.seed)
    model = GPTNeoX(s.model)
    opt = build_optimizer(model, s.optimizer, lr=s.lr, betas=s.betas, weight_decay=s.weight_decay,
                          embedding_names=embedding_parameter_names())
    gen = torch.Generator().manual_seed(s.seed)  # batch order: same for both optimizers
    offsets = torch.arange(s.seq_len + 1)
    cfg_json = hf_config(s.model, bos_token_id=0, eos_token_id=0)
    schedule = checkpoint_steps(s.steps, s.every)
    losses: list[float] = []
    t_train = time.perf_counter()
    _save(model, cfg_json, run_dir, 0)
    for step in range(1, s.steps + 1):
        starts = torch.randint(0, len(data) - s.seq_len - 1, (s.batch_size,), generator=gen)
        batch = data[starts[:, None] + offsets]
        for g in opt.param_groups:
            g["lr"] = lr_at(step, s)
        loss = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step in schedule:
            _save(model, cfg_json, run_dir, step)
        if step % 50 == 0 or step == s.steps:
            say(f"[{s.optimizer}] step {step}/{s.steps} loss {np.mean(losses[-50:]):.4f} "
                f"({time.perf_counter() - t_train:.0f}s)")
    t_end = time.perf_counter()

    result = {
        "run_dir": str(run_dir), "optimizer": s.optimizer, "seed": s.seed, "steps": s.steps,
        "checkpoint_steps": schedule, "revisions": [f"step{n}" for n in schedule],
        "final_loss": float(np.mean(losses[-20:])),
        "losses": [{"step": i + 1, "loss": round(v, 5)} for i, v in enumerate(losses)],
        "train_seconds": round(t_end - t_train, 2), "total_seconds": round(t_end - t_start, 2),
        "tokens_seen": s.steps * s.batch_size * s.seq_len,
        "settings": {k: v for k, v in asdict(s).items() if k != "model"},
        "coupled_tensors": list(embedding_parameter_names()) if s.optimizer == "coupled_adam" else [],
        "model": {"config": cfg_json, "n_params": n_params(model)},
        "corpus": {"source": "python-stdlib-top-level-py", "root": corpus.root,
                   "python": sys.version.split()[0], "files": len(corpus.files),
                   "bytes": corpus.n_bytes, "tokens": int(len(data)), "sha256": corpus.sha256},
        "tokenizer": {"type": "byte-level BPE (tokenizers)", "vocab_size": tok.get_vocab_size(),
                      "sha256": _sha256(tok_json)},
        "versions": {"embdim": __version__, "torch": torch.__version__},
    }
    atomic_write(run_dir / "train.json", [json.dumps(result, indent=1).encode() + b"\n"])
    return result


def _sha256(text: str) -> str:
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()
