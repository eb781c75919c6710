# SPDX-License-Identifier: MIT
"""One entry point for every input of ``estimate``/``measure``/``geometry``: a matrix file
(``.npy``, ``.safetensors``, torch-zip ``.bin``) or a word-vector file, by ``--format``.

``auto`` keeps the extension rule for ``.npy``/``.safetensors`` (their own errors, as before) and
otherwise looks at the content (:func:`embdim.formats.wordvec.sniff`): a torch ``.bin`` is a zip
archive and is read by the allow-list unpickler, never taken for word2vec binary.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, InputError, TensorNotFoundError
from .wordvec import FORMATS, load_word_vectors, sniff


@dataclass
class Loaded:
    """A loaded input: the matrix, its provenance and, for word vectors, the word of each row."""

    X: np.ndarray
    meta: dict
    words: list[str] | None = None


def load_input(path: str | os.PathLike, fmt: str = "auto", tensor: str | None = None) -> Loaded:
    """Read ``path`` as ``fmt`` (one of :data:`~embdim.formats.wordvec.FORMATS`).

    Raises
    ------
    InputError
        Missing or unreadable file, unknown format, a word-vector file gensim cannot read,
        ``--tensor`` given for a word-vector file.
    CheckpointError
        A corrupt or unsafe matrix file.
    """
    from .layout import load_matrix

    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    if fmt == "auto" and Path(path).suffix in (".npy", ".safetensors"):
        return Loaded(*load_matrix(path, tensor))
    kind = sniff(path) if fmt == "auto" else fmt
    if kind in ("npy", "safetensors"):
        return Loaded(*_load_by_kind(path, kind, tensor))
    if kind == "torch-zip":
        return Loaded(*load_torch_bin(path, tensor))
    if tensor is not None:
        raise InputError(f"{path}: --tensor applies to checkpoints, not to a {kind} word-vector file")
    X, words, meta = load_word_vectors(path, kind)
    return Loaded(X, meta, words)


def _load_by_kind(path, kind: str, tensor):
    from .layout import load_safetensors_tensor
    from .npy import load_npy

    try:
        if kind == "npy":
            X = load_npy(path)
            meta = {"tensor": None, "dtype": str(X.dtype)}
        else:
            X, info = load_safetensors_tensor(path, tensor)
            meta = {"tensor": info.name, "dtype": info.dtype}
    except TensorNotFoundError as e:
        raise InputError(f"{path}: {e}") from e
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e
    return _two_d(path, X, meta)


def load_torch_bin(path: str | os.PathLike, tensor: str | None = None) -> tuple[np.ndarray, dict]:
    """One tensor of a torch-zip checkpoint (``torch.save`` of a state dict): the only 2-D
    tensor, or ``tensor`` (name or alias). Read by the allow-list unpickler; nothing is executed.

    Raises
    ------
    InputError
        No such tensor, not 2-D.
    CheckpointError, UnsafeCheckpointError
        Malformed archive or a pickle global outside the allow-list.
    """
    from .layout import read_tensor_bytes, resolve_tensor_name
    from .records import SAFETENSORS_DTYPES
    from .safe import LocalFile
    from .safetensors import decode
    from .torchzip import locate_bin_tensor

    def pick(names: list[str]) -> str:  # a lone tensor needs no name (an nn.Embedding's state dict)
        return names[0] if tensor is None and len(names) == 1 else resolve_tensor_name(names, tensor)

    try:
        with LocalFile(path) as f:
            info = locate_bin_tensor(f.read_range, f.size, pick)
            if info.dtype not in SAFETENSORS_DTYPES:
                raise CheckpointError(f"tensor {info.name!r} has unsupported dtype {info.dtype}")
            raw = read_tensor_bytes(f.read_range, info)
    except TensorNotFoundError as e:
        raise InputError(f"{path}: {e}") from e
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e
    X = decode(raw, info.dtype, tuple(info.shape))
    return _two_d(path, X, {"tensor": info.name, "dtype": info.dtype})


def _two_d(path, X: np.ndarray, meta: dict):
    if X.ndim != 2:
        raise InputError(f"{path}: expected a 2-D matrix, got shape {tuple(X.shape)}")
    meta["shape"] = list(X.shape)
    return X, meta
