# SPDX-License-Identifier: MIT
"""safetensors: the header parser (one speculative read, bounds-checked), the decoder, and the writer.

Reads go through ``read_range(start, end) -> bytes`` (half-open), so local files
(:class:`embdim.formats.safe.LocalFile`) and HTTP range requests share this code.
"""
from __future__ import annotations

import json
import math
import os
import struct

import numpy as np

from ..errors import CheckpointError, InputError
from ..io import atomic_write
from .records import NUMPY_TO_SAFETENSORS, SAFETENSORS_DTYPES, ReadRange, TensorInfo
from .safe import LocalFile, _is_int, checked_reader, load_json
from .view import check_shape

# First speculative read of a remote safetensors file: 8-byte length + header. 4 KiB holds the header of a
# one- or two-layer checkpoint; bigger headers (Pythia-14m's is ~10 KB) cost one more exact read, so at most
# 4 KiB of tensor data is fetched in vain (the byte budget is tensor x 1.02 + 64 KiB for the whole fetch).
SAFETENSORS_PREFETCH = 4096

# Guard against a corrupt/hostile length field: real LLM headers are < 1 MiB; 100 MB is the
# limit the safetensors reference implementation enforces (safetensors/src/tensor.rs MAX_HEADER_SIZE).
MAX_HEADER_BYTES = 100_000_000


def parse_safetensors_header(raw: bytes, data_start: int) -> dict[str, TensorInfo]:
    """Parse a safetensors JSON header; offsets are made absolute using ``data_start`` (8 + header length).

    Every field is type-checked: ``dtype`` a known tag, ``shape`` non-negative ints, ``data_offsets``
    two ints with 0 <= begin <= end and end - begin == prod(shape) x itemsize (Python ints: no wrap).
    """
    header = load_json(raw, "safetensors header")
    if not isinstance(header, dict):
        raise CheckpointError("safetensors header is not a JSON object")
    out: dict[str, TensorInfo] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        what = f"tensor {name[:200]!r}"
        if not isinstance(meta, dict) or not {"dtype", "shape", "data_offsets"} <= set(meta):
            raise CheckpointError(f"safetensors entry {name[:200]!r} is malformed (dtype, shape, data_offsets)")
        dtype, offsets = meta["dtype"], meta["data_offsets"]
        if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
            raise CheckpointError(f"{what} has unsupported dtype {str(dtype)[:40]!r}")
        shape = check_shape(meta["shape"], what)
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))
                and 0 <= offsets[0] <= offsets[1]):
            raise CheckpointError(f"{what}: data_offsets must be two integers 0 <= begin <= end")
        begin, end = offsets
        if end - begin != math.prod(shape) * SAFETENSORS_DTYPES[dtype][1]:
            raise CheckpointError(f"{what}: data_offsets {begin}..{end} do not match shape {list(shape)} {dtype}")
        out[name] = TensorInfo(name, dtype, shape, data_start + begin, data_start + end)
    return out



def header_length(first8: bytes) -> int:
    """Decode and bound-check the little-endian u64 header length at the start of a safetensors file."""
    if len(first8) < 8:
        raise CheckpointError("file too short to be safetensors")
    (n,) = struct.unpack("<Q", first8[:8])
    if n < 2 or n > MAX_HEADER_BYTES:
        raise CheckpointError(f"safetensors header length {n} is out of range (2..{MAX_HEADER_BYTES})")
    return n



def read_safetensors_table(read_range: ReadRange, size: int, name: str = "safetensors file",
                           prefetch: int = SAFETENSORS_PREFETCH) -> dict[str, TensorInfo]:
    """Tensor table of a safetensors file: one speculative read, a second one only if the header is longer."""
    read_range = checked_reader(read_range, size, name)
    first = read_range(0, min(size, max(8, prefetch)))
    n = header_length(first)
    if 8 + n > size:
        raise CheckpointError(f"{name}: header length {n} exceeds file size {size}")
    raw = first[8:8 + n]
    if len(raw) < n:
        raw += read_range(8 + len(raw), 8 + n)
    table = parse_safetensors_header(raw, 8 + n)
    for info in table.values():
        if info.end > size:
            raise CheckpointError(f"{name}: tensor {info.name!r} extends past end of file (truncated?)")
    return table



def read_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` string map of a local safetensors file (``{}`` if absent or not str -> str)."""
    with LocalFile(path) as f:
        n = header_length(f.read_range(0, min(f.size, 8)))
        if 8 + n > f.size:
            raise CheckpointError(f"{f.path.name}: header length {n} exceeds file size {f.size}")
        header = load_json(f.read_range(8, 8 + n), "safetensors header")
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict):
        return {}
    return {k: v for k, v in meta.items() if isinstance(k, str) and isinstance(v, str)}


def read_safetensors_index(path: str | os.PathLike) -> dict[str, TensorInfo]:
    """Read the tensor table of a local safetensors file."""
    with LocalFile(path) as f:
        return read_safetensors_table(f.read_range, f.size, f.path.name, prefetch=8)



def decode(buf: bytes | memoryview | np.ndarray, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Turn raw little-endian bytes into an array; bf16 is widened to float32 exactly."""
    np_dtype, item = SAFETENSORS_DTYPES[dtype]
    if memoryview(buf).nbytes != math.prod(shape) * item:
        raise CheckpointError(f"{len(buf)} bytes do not hold a {dtype} tensor of shape {list(shape)}")
    if np_dtype is None:  # bf16: the top 16 bits of a float32
        u16 = np.frombuffer(buf, dtype="<u2")
        return (u16.astype(np.uint32) << 16).view(np.float32).reshape(shape)
    return np.frombuffer(buf, dtype=np_dtype).reshape(shape)



def safetensors_bytes_header(tensors: dict[str, tuple[str, tuple[int, ...], int]],
                             metadata: dict[str, str] | None = None) -> bytes:
    """Build the 8-byte length + JSON header for tensors given as name -> (dtype tag, shape, nbytes)."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, (dtype, shape, nbytes) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8-byte alignment
    return struct.pack("<Q", len(raw)) + raw



def write_safetensors(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                      metadata: dict[str, str] | None = None) -> None:
    """Write numpy arrays to a safetensors file atomically (temporary name, then rename)."""
    spec = {}
    for name, arr in tensors.items():
        tag = NUMPY_TO_SAFETENSORS.get(arr.dtype.name)
        if tag is None:
            raise InputError(f"cannot store dtype {arr.dtype} in safetensors")
        spec[name] = (tag, arr.shape, arr.nbytes)
    atomic_write(path, [safetensors_bytes_header(spec, metadata)]
                 + [np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes() for a in tensors.values()])
