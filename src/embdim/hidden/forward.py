# SPDX-License-Identifier: MIT
"""The forward pass: every layer's residual stream and the final LayerNorm's output.

The model is ``transformers.AutoModelForCausalLM`` loaded from a local directory holding
``config.json`` + ``model.safetensors``, strictly offline (``HF_HUB_OFFLINE=1``,
``local_files_only=True``), with ``trust_remote_code=False`` and ``use_safetensors=True`` (no
pickle is ever read). Not TransformerLens: its default weight processing (folded LayerNorm,
centred writing weights) changes the residual stream.

Capture is by forward hooks on the decoder blocks, because transformers' ``hidden_states[-1]``
is taken *after* the final LayerNorm: ``layer.0`` is the input of block 0 (the embedding output),
``layer.i`` the output of block i (the raw residual stream), ``final_ln`` the output of the
final LayerNorm. Only the backbone runs (``model.base_model``): the logits are never needed, and
on a 50k vocabulary they would cost more memory than all layers together.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, InputError

DTYPES = ("float32", "bfloat16", "float16")
# Sequences per forward batch: 16 x 128 tokens keep a 1.4b model's activations near 1 GB.
DEFAULT_BATCH = 16
# Backbone attribute names of the decoder blocks and of the final norm, GPT-NeoX first.
_BLOCKS = ("layers", "h", "blocks")
_FINAL_NORM = ("final_layer_norm", "norm", "ln_f", "final_layernorm")


def check_model_dir(model_dir: str | os.PathLike) -> dict:
    """The directory's parsed ``config.json``, after checking that ``model.safetensors`` is there.

    Raises
    ------
    InputError
        Either file is missing, or the config is not a JSON object.
    CheckpointError
        The config asks for remote code (``auto_map``), which is never run.
    """
    d = Path(model_dir)
    for name in ("config.json", "model.safetensors"):
        if not (d / name).is_file():
            raise InputError(f"{model_dir}: no {name} (a model directory holds config.json and "
                             "model.safetensors)")
    try:
        cfg = json.loads((d / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{model_dir}/config.json: unreadable: {e}") from e
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model_type"), str):
        raise InputError(f"{model_dir}/config.json: not a transformers config (no model_type)")
    if "auto_map" in cfg:
        raise CheckpointError(f"{model_dir}/config.json: asks for remote code (auto_map); refused")
    return cfg


def load_model(model_dir: str | os.PathLike, dtype: str = "float32", device: str = "cpu"):
    """``AutoModelForCausalLM`` from ``model_dir``, offline, in ``dtype``, in eval mode.

    A checkpoint fetched without ``embed_out`` loads with a freshly initialised output matrix
    (transformers warns); the backbone, all that runs here, is the checkpoint's own.

    Raises
    ------
    InputError
        Missing files, a bad ``dtype``, transformers not installed (``embdim[layers]``).
    CheckpointError
        transformers cannot build or load the model.
    """
    check_model_dir(model_dir)
    if dtype not in DTYPES:
        raise InputError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    import torch
    try:
        import transformers
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        raise InputError("embdim hidden needs transformers: pip install 'embdim[layers]'") from e
    transformers.logging.set_verbosity_error()  # the missing embed_out warning is expected
    transformers.logging.disable_progress_bar()  # stderr stays the one-line error channel
    try:
        with _offline():
            model = AutoModelForCausalLM.from_pretrained(
                str(model_dir), dtype=getattr(torch, dtype), local_files_only=True,
                trust_remote_code=False, use_safetensors=True)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        msg = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise CheckpointError(f"{model_dir}: transformers cannot load the model: {msg}") from e
    return model.to(device).eval()


@contextlib.contextmanager
def _offline():
    """HF_HUB_OFFLINE=1 and TRANSFORMERS_OFFLINE=1 while loading, the caller's values restored
    after (a library call must not switch a whole process, or its child processes, offline)."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict.fromkeys(keys, "1"))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _child(module, names: tuple[str, ...], what: str):
    for n in names:
        if hasattr(module, n):
            return getattr(module, n)
    raise CheckpointError(f"{type(module).__name__}: no {what} ({' / '.join(names)}) to hook")


def backbone_parts(model):
    """(backbone, its decoder blocks, its final norm) of a causal LM."""
    base = model.base_model
    return base, _child(base, _BLOCKS, "decoder blocks"), _child(base, _FINAL_NORM, "final norm")


def layer_names(n_layers: int) -> list[str]:
    """``layer.0`` ... ``layer.L`` then ``final_ln``: the tensors of a hidden-state file."""
    return [f"layer.{i}" for i in range(n_layers + 1)] + ["final_ln"]


def _first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def hidden_states(model, tokens: np.ndarray, batch_size: int = DEFAULT_BATCH,
                  device: str = "cpu") -> dict[str, np.ndarray]:
    """Every layer's states for ``tokens`` (n_seq x seq_len ids), sequence-major, as float32.

    Returns
    -------
    dict
        :func:`layer_names` -> array (n_seq * seq_len, d); row s * seq_len + t is token t of
        sequence s.

    Raises
    ------
    InputError
        A token id outside the vocabulary, or longer sequences than the model's positions.
    """
    import torch

    base, blocks, final_norm = backbone_parts(model)
    cfg = model.config
    vocab = int(getattr(cfg, "vocab_size", 0) or 0)
    if vocab and int(tokens.max()) >= vocab:
        raise InputError(f"token id {int(tokens.max())} is outside the model's vocabulary ({vocab})")
    max_pos = getattr(cfg, "max_position_embeddings", None)
    if max_pos and tokens.shape[1] > max_pos:
        raise InputError(f"sequences of {tokens.shape[1]} tokens are longer than the model's "
                         f"{max_pos} positions")
    names = layer_names(len(blocks))
    captured: dict[str, list] = {n: [] for n in names}

    def keep(name):
        def hook(module, args, kwargs, out=None):
            x = out if out is not None else (args[0] if args else kwargs["hidden_states"])
            captured[name].append(_first(x).detach().to(torch.float32).cpu().numpy())
        return hook

    handles = [blocks[0].register_forward_pre_hook(keep("layer.0"), with_kwargs=True)]
    handles += [block.register_forward_hook(keep(f"layer.{i + 1}"), with_kwargs=True)
                for i, block in enumerate(blocks)]
    handles.append(final_norm.register_forward_hook(keep("final_ln"), with_kwargs=True))
    try:
        with torch.inference_mode():
            for s in range(0, len(tokens), batch_size):
                ids = torch.as_tensor(tokens[s:s + batch_size], dtype=torch.long, device=device)
                base(input_ids=ids, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    d = int(captured["layer.0"][0].shape[-1])
    return {n: np.concatenate(v).reshape(-1, d) for n, v in captured.items()}


def position_rows(n_seq: int, seq_len: int, positions: str) -> np.ndarray | None:
    """Row indices kept by ``positions`` (``all``: None = every row; ``skip0``: all but position 0
    of each sequence), in sequence-major order.

    Raises
    ------
    InputError
        Unknown value, or ``skip0`` on one-token sequences.
    """
    if positions == "all":
        return None
    if positions != "skip0":
        raise InputError(f"--positions must be all or skip0, got {positions!r}")
    if seq_len < 2:
        raise InputError("--positions skip0 needs sequences of at least 2 tokens")
    return (np.arange(n_seq)[:, None] * seq_len + np.arange(1, seq_len)[None, :]).reshape(-1)


def shuffle_within(tokens: np.ndarray, seed: int) -> np.ndarray:
    """The same tokens, each sequence permuted on its own (``default_rng(seed)``): the baseline
    that keeps token frequencies and removes word order."""
    rng = np.random.default_rng(seed)
    return np.stack([row[rng.permutation(len(row))] for row in tokens])
