# SPDX-License-Identifier: MIT
"""Checkpoint layouts shared by local and remote reads, and one tensor located and read.

Layouts: ``model.safetensors``, sharded safetensors + ``model.safetensors.index.json``, torch-zip
``pytorch_model.bin`` (:mod:`embdim.formats.torchzip`), sharded ``.bin`` + ``pytorch_model.bin.index.json``.
Also: resolving short tensor names (``embed_in``, ``embed_out``), loading a local matrix, and writing
a one-tensor output.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import CheckpointError, InputError, TensorNotFoundError
from ..io import atomic_write
from .records import SAFETENSORS_DTYPES, ReadRange, TensorInfo
from .safe import LocalFile, checked_reader, load_json
from .npy import load_npy
from .safetensors import (decode, read_safetensors_index, read_safetensors_metadata, read_safetensors_table,
                          safetensors_bytes_header)
from .torchzip import locate_bin_tensor
from .view import gather

# Weight files in order of preference: safetensors first (no pickle involved), single file before index.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")

# Cap on an index json read whole. The largest on the Hub is a few MB (Pythia-12b's is ~30 kB);
# 16 MiB is far above all of them and still cheap to hold.
MAX_INDEX_BYTES = 16 << 20

# Short names -> candidates, in order: GPT-NeoX (Pythia) first, then the common HF families.
TENSOR_ALIASES: dict[str, tuple[str, ...]] = {
    "embed_in": (
        "gpt_neox.embed_in.weight", "model.embed_tokens.weight", "transformer.wte.weight",
        "model.decoder.embed_tokens.weight", "transformer.word_embeddings.weight",
        "transformer.embd.wte.weight", "embed_tokens.weight", "wte.weight",
        "model.embed_in.weight", "embeddings.word_embeddings.weight",
    ),
    "embed_out": ("embed_out.weight", "lm_head.weight", "model.lm_head.weight"),
}
DEFAULT_TENSOR = "gpt_neox.embed_in.weight"


def resolve_tensor_name(available: list[str] | set[str] | dict, requested: str | None) -> str:
    """Map ``requested`` (``None``, ``embed_in``, ``embed_out`` or a full name) to a name in ``available``.

    ``embed_out`` in a checkpoint without an output matrix (tied weights: GPT-2 stores only
    ``transformer.wte.weight``) resolves to the input embedding; :func:`is_tied` says so.

    Raises
    ------
    TensorNotFoundError
        If no candidate is present; the message lists a few available names.
    """
    names = set(available)
    requested = requested or "embed_in"
    candidates = TENSOR_ALIASES.get(requested, (requested,))
    if requested == "embed_out":
        candidates = candidates + TENSOR_ALIASES["embed_in"]
    for cand in candidates:
        if cand in names:
            return cand
    shown = ", ".join(sorted(names)[:8]) + (" …" if len(names) > 8 else "")
    raise TensorNotFoundError(f"tensor {requested!r} not found (available: {shown or 'none'})",
                              tensor=requested)


def is_tied(requested: str | None, info: TensorInfo) -> bool:
    """Whether ``embed_out`` was served by the input embedding: no output matrix in the checkpoint,
    or (torch .bin) an output matrix that is a view of the input embedding's storage."""
    return requested == "embed_out" and (info.name in TENSOR_ALIASES["embed_in"] or info.tied)


# -- layouts shared by local and remote reads --------------------------------------------------------
def is_weight_file(name: str) -> bool:
    """True for files that hold (or index) weights: ``*.safetensors``, ``*.bin``, their index json."""
    base = name.rsplit("/", 1)[-1]
    return (base.endswith((".safetensors", ".safetensors.index.json", ".bin.index.json"))
            or (base.endswith(".bin") and ("model" in base or "pytorch" in base)))



def pick_weight_file(names: Iterable[str]) -> str | None:
    """The entry point of a checkpoint among ``names``: a file in ``WEIGHT_FILES`` order, else a lone
    top-level ``*.safetensors`` / index json / ``*.bin``; ``None`` if there is no weight file."""
    names = set(names)
    for cand in WEIGHT_FILES:
        if cand in names:
            return cand
    top = sorted(n for n in names if "/" not in n and is_weight_file(n))
    for suffix in (".safetensors.index.json", ".safetensors", ".bin.index.json", ".bin"):
        hits = [n for n in top if n.endswith(suffix)]
        if suffix.endswith(".json") and hits:
            return hits[0]
        if len(hits) == 1:
            return hits[0]
    return None



def parse_weight_index(raw: bytes, name: str = "index json") -> dict[str, str]:
    """``weight_map`` (tensor name -> shard file) of a sharded checkpoint's index json."""
    doc = load_json(raw, name)
    wm = doc.get("weight_map") if isinstance(doc, dict) else None
    if wm is None:
        raise CheckpointError(f"{name}: not a valid index (no weight_map)")
    if not isinstance(wm, dict) or not all(isinstance(v, str) for v in wm.values()):
        raise CheckpointError(f"{name}: weight_map is not a name -> file mapping")
    for shard in set(wm.values()):
        if shard.startswith("/") or ".." in shard.split("/"):
            raise CheckpointError(f"{name}: shard path {shard!r} leaves the checkpoint directory")
    return wm



def locate_tensor(read_range: ReadRange, size: int, filename: str, tensor: str | None) -> TensorInfo:
    """Find ``tensor`` (alias or full name) in one weight file and return its absolute byte range.

    Raises
    ------
    TensorNotFoundError
        The file holds no tensor of that name.
    CheckpointError, UnsafeCheckpointError
        Malformed file, or a pickle that asks for a global outside the allow-list.
    """
    read_range = checked_reader(read_range, size, filename)
    if filename.endswith(".safetensors"):
        table = read_safetensors_table(read_range, size, filename)
        return table[resolve_tensor_name(table, tensor)]
    if filename.endswith((".bin", ".pt", ".pth")):
        info = locate_bin_tensor(read_range, size, lambda names: resolve_tensor_name(names, tensor),
                                 tied_with=TENSOR_ALIASES["embed_in"])
        if info.dtype not in SAFETENSORS_DTYPES:
            raise CheckpointError(f"{filename}: tensor {info.name!r} has unsupported dtype {info.dtype}")
        return info
    raise CheckpointError(f"{filename}: unsupported weight file type")



def read_tensor_bytes(read_range: ReadRange, info: TensorInfo) -> bytes:
    """The tensor's raw little-endian bytes in C order (a strided .bin view is gathered)."""
    if not 0 <= info.start <= info.end:
        raise CheckpointError(f"tensor {info.name!r}: invalid byte range {info.start}..{info.end}")
    buf = read_range(info.start, info.end)
    if len(buf) != info.span:
        raise CheckpointError(f"tensor {info.name!r}: read {len(buf)} bytes, expected {info.span}")
    if info.stride is None:
        if info.span != info.nbytes:
            raise CheckpointError(f"tensor {info.name!r}: {info.span} bytes for {info.nbytes} bytes of data")
        return buf
    # built only from these bytes (the view was bounds-checked by embdim.formats.view.view_extent)
    return gather(buf, SAFETENSORS_DTYPES[info.dtype][1], info.shape, info.stride)



# What `embdim fetch` records in an output's metadata about where the tensor came from
# (measure/estimate pass it on as provenance.source; the summary's integrity columns use it).
SOURCE_KEYS = ("repo", "revision", "commit", "file", "blob_sha256", "tensor_sha256", "tied")


def load_safetensors_tensor(path: str | os.PathLike, name: str | None = None,
                            digest: dict | None = None) -> tuple[np.ndarray, TensorInfo]:
    """Load one tensor from a local safetensors file (bf16 widened to float32).

    ``name`` may be a full name or an alias; ``None`` picks the only 2-D tensor, else the input embedding.
    ``digest``, if given, receives ``tensor_sha256``: the sha256 of the tensor's bytes as stored.
    """
    table = read_safetensors_index(path)
    if name is None:
        two_d = [t for t in table.values() if len(t.shape) == 2]
        name = two_d[0].name if len(two_d) == 1 else resolve_tensor_name(table, DEFAULT_TENSOR)
    else:
        name = resolve_tensor_name(table, name)
    info = table[name]
    with LocalFile(path) as f:
        buf = f.read_range(info.start, info.end)
    if digest is not None:
        import hashlib
        digest["tensor_sha256"] = hashlib.sha256(buf).hexdigest()
    return decode(buf, info.dtype, info.shape), info



def load_matrix(path: str | os.PathLike, tensor: str | None = None) -> tuple[np.ndarray, dict]:
    """Load a 2-D matrix from ``.npy`` or ``.safetensors``; returns (array, provenance dict).

    Raises
    ------
    InputError
        Missing/unreadable file, not a .npy, unknown extension or tensor, not 2-D.
    CheckpointError
        Corrupt file content (malformed header, sizes that do not match the file).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such file")
    try:  # a corrupt or unsafe file is a CheckpointError (exit 5), as from fetch; bad arguments exit 2
        if p.suffix == ".npy":
            arr = load_npy(p)
            meta = {"tensor": None, "dtype": str(arr.dtype)}
        elif p.suffix == ".safetensors":
            digest: dict = {}
            arr, info = load_safetensors_tensor(p, tensor, digest)
            meta = {"tensor": info.name, "dtype": info.dtype, **digest}
            source = {k: v for k, v in read_safetensors_metadata(p).items() if k in SOURCE_KEYS}
            if source:
                meta["source"] = source
        else:
            raise InputError(f"{path}: expected a .npy or .safetensors file")
    except TensorNotFoundError as e:
        raise InputError(f"{path}: {e}") from e
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from e
    if arr.ndim != 2:
        raise InputError(f"{path}: expected a 2-D matrix, got shape {tuple(arr.shape)}")
    meta["shape"] = list(arr.shape)
    return arr, meta



def write_tensor(path: str | os.PathLike, name: str, dtype: str, shape: tuple[int, ...], raw: bytes,
                 metadata: dict[str, str] | None = None) -> None:
    """Write one tensor atomically: ``.safetensors`` keeps ``dtype`` (bf16 included), ``.npy`` is float32.

    Raises
    ------
    InputError
        ``path`` has another extension.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        header = safetensors_bytes_header({name: (dtype, tuple(shape), len(raw))}, metadata)
        atomic_write(path, [header, raw])
    elif path.suffix == ".npy":
        arr = decode(raw, dtype, tuple(shape)).astype(np.float32)
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        atomic_write(path, [buf.getvalue()])
    else:
        raise InputError(f"{path}: --out must end in .safetensors or .npy")
