# SPDX-License-Identifier: MIT
"""Locate and read tensors inside checkpoint files, with no network access.

Every reader takes ``read_range(start, end) -> bytes`` (half-open), so the same code serves local files
(:class:`LocalFile`) and HTTP range requests (``embdim.hub``). Layouts: ``model.safetensors``, sharded
safetensors + ``model.safetensors.index.json``, torch-zip ``pytorch_model.bin`` (see
:mod:`embdim.torchzip`), sharded ``.bin`` + ``pytorch_model.bin.index.json``. Also: dtype mapping, writing
a one-tensor output, and resolving short tensor names (``embed_in``, ``embed_out``).
"""
from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ._safe import _is_int, checked_reader, load_json
from ._view import check_shape, gather
from .errors import CheckpointError, InputError, TensorNotFoundError

ReadRange = Callable[[int, int], bytes]

# First speculative read of a remote safetensors file: 8-byte length + header. 4 KiB holds the header of a
# one- or two-layer checkpoint; bigger headers (Pythia-14m's is ~10 KB) cost one more exact read, so at most
# 4 KiB of tensor data is fetched in vain (the byte budget is tensor x 1.02 + 64 KiB for the whole fetch).
SAFETENSORS_PREFETCH = 4096

# Weight files in order of preference: safetensors first (no pickle involved), single file before index.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")

# Guard against a corrupt/hostile length field: real LLM headers are < 1 MiB; 100 MB is the
# limit the safetensors reference implementation enforces (safetensors/src/tensor.rs MAX_HEADER_SIZE).
MAX_HEADER_BYTES = 100_000_000

# safetensors dtype tag -> (numpy dtype or None for bf16, itemsize)
SAFETENSORS_DTYPES: dict[str, tuple[str | None, int]] = {
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": (None, 2),
    "I64": ("<i8", 8), "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1),
    "U8": ("u1", 1), "BOOL": ("?", 1),
}
NUMPY_TO_SAFETENSORS = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
                        "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}

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


@dataclass(frozen=True)
class TensorInfo:
    """Where a tensor lives inside one file: absolute byte offsets [start, end)."""

    name: str
    dtype: str  # safetensors tag, e.g. "F16", "BF16"
    shape: tuple[int, ...]
    start: int
    end: int
    stride: tuple[int, ...] | None = None  # element strides, only for a non-contiguous view (torch .bin)

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor itself (C order)."""
        return math.prod(self.shape) * SAFETENSORS_DTYPES[self.dtype][1]

    @property
    def span(self) -> int:
        """Bytes to read from the file: ``end - start`` (equals ``nbytes`` unless strided)."""
        return self.end - self.start


def resolve_tensor_name(available: list[str] | set[str] | dict, requested: str | None) -> str:
    """Map ``requested`` (``None``, ``embed_in``, ``embed_out`` or a full name) to a name in ``available``.

    Raises
    ------
    TensorNotFoundError
        If no candidate is present; the message lists a few available names.
    """
    names = set(available)
    requested = requested or "embed_in"
    candidates = TENSOR_ALIASES.get(requested, (requested,))
    for cand in candidates:
        if cand in names:
            return cand
    shown = ", ".join(sorted(names)[:8]) + (" …" if len(names) > 8 else "")
    raise TensorNotFoundError(f"tensor {requested!r} not found (available: {shown or 'none'})",
                              tensor=requested)


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


class LocalFile:
    """A local file exposing ``read_range`` and ``size``; counts bytes read."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self._f = open(self.path, "rb")
        except OSError as e:
            raise InputError(f"{path}: cannot open: {e.strerror}") from e
        self.size = os.fstat(self._f.fileno()).st_size
        self.bytes_read = 0

    def read_range(self, start: int, end: int) -> bytes:
        if not 0 <= start <= end <= self.size:
            raise CheckpointError(f"{self.path.name}: read {start}..{end} outside the file ({self.size} B)")
        self._f.seek(start)
        buf = self._f.read(end - start)
        self.bytes_read += len(buf)
        if len(buf) != end - start:
            raise CheckpointError(f"{self.path.name}: short read at {start}..{end} (truncated file?)")
        return buf

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "LocalFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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


def load_safetensors_tensor(path: str | os.PathLike, name: str | None = None) -> tuple[np.ndarray, TensorInfo]:
    """Load one tensor from a local safetensors file (bf16 widened to float32).

    ``name`` may be a full name or an alias; ``None`` picks the only 2-D tensor, else the input embedding.
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
            from ._npy import load_npy
            arr = load_npy(p)
            meta = {"tensor": None, "dtype": str(arr.dtype)}
        elif p.suffix == ".safetensors":
            arr, info = load_safetensors_tensor(p, tensor)
            meta = {"tensor": info.name, "dtype": info.dtype}
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


def atomic_write(path: str | os.PathLike, chunks) -> None:
    """Write byte chunks to ``path`` through a fresh temporary sibling, fsync, then rename.

    The temporary file comes from ``tempfile.mkstemp`` in the target directory (O_EXCL, an
    unpredictable name, no symlink followed), gets the permissions a plain ``open`` would give, and is
    removed on any failure.
    """
    import tempfile
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would make results unreadable to the group
        with os.fdopen(fd, "wb") as f:
            fd = -1
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        os.unlink(tmp)
        raise


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
        from .torchzip import locate_bin_tensor
        bt = locate_bin_tensor(read_range, size, lambda names: resolve_tensor_name(names, tensor))
        if bt.dtype not in SAFETENSORS_DTYPES:
            raise CheckpointError(f"{filename}: tensor {bt.name!r} has unsupported dtype {bt.dtype}")
        return TensorInfo(bt.name, bt.dtype, tuple(bt.shape), bt.start, bt.end, bt.stride)
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
    # built only from these bytes (the view was bounds-checked by embdim._view.view_extent)
    return gather(buf, SAFETENSORS_DTYPES[info.dtype][1], info.shape, info.stride)


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
        import io
        arr = decode(raw, dtype, tuple(shape)).astype(np.float32)
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        atomic_write(path, [buf.getvalue()])
    else:
        raise InputError(f"{path}: --out must end in .safetensors or .npy")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a local file, read in 1 MiB chunks."""
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
