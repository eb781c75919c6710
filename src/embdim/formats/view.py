# SPDX-License-Identifier: MIT
"""The one bounds-checked view computation every format goes through, and the safe gather.

A tensor is a view of a storage: ``offset``, ``shape`` and ``stride`` in elements. Everything is a
Python int (no int64 wrap-around) and checked against the storage's element count BEFORE any byte is
read: no negative sizes, strides or offsets, no overlapping elements, nothing outside the storage.
The output is then built only from the bytes read for this view (:func:`gather`): index arithmetic
on a bounds-checked ``np.take``, never pointer arithmetic (``as_strided``) over a buffer.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import CheckpointError

# More dimensions than any weight has; also keeps per-call work on hostile tuples small.
MAX_NDIM = 32
# numpy's dimensions and element counts must fit a signed 64-bit int (npy_intp).
MAX_DIM = 2**63 - 1


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_shape(shape, what: str) -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints whose product fits numpy; else CheckpointError."""
    if not isinstance(shape, (list, tuple)) or len(shape) > MAX_NDIM or not all(map(_is_int, shape)):
        raise CheckpointError(f"{what}: shape must be a list of at most {MAX_NDIM} integers")
    if any(d < 0 or d > MAX_DIM for d in shape) or math.prod(shape) > MAX_DIM:
        raise CheckpointError(f"{what}: invalid shape {list(shape)} (negative or too large)")
    return tuple(shape)


def c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a C-contiguous array of ``shape``."""
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return tuple(reversed(out))


def view_extent(offset, shape, stride, storage_numel: int, what: str) -> tuple[int, int, bool]:
    """Check a strided view of a ``storage_numel``-element storage; return ``(first, end, contiguous)``.

    ``[first, end)`` is the element range the view touches (empty for an empty tensor), and
    ``contiguous`` says the view is that range in C order.

    Raises
    ------
    CheckpointError
        Non-integer fields, negative offset/size/stride, overlapping elements (e.g. a stride of 0),
        or any element outside the storage.
    """
    shape = check_shape(shape, what)
    if not isinstance(stride, (list, tuple)) or len(stride) != len(shape) or not all(map(_is_int, stride)):
        raise CheckpointError(f"{what}: stride must be {len(shape)} integers")
    if not _is_int(offset) or offset < 0 or any(s < 0 for s in stride):
        raise CheckpointError(f"{what}: negative storage offset or stride (offset {offset}, stride {list(stride)})")
    numel = math.prod(shape)
    if numel == 0:
        if offset > storage_numel:
            raise CheckpointError(f"{what}: storage offset {offset} lies outside its storage ({storage_numel})")
        return offset, offset, True
    # No overlap: with dims of size > 1 sorted by stride, each stride must step over everything the
    # smaller ones span (sufficient, and exactly what dense or sliced/transposed views satisfy).
    span = 0
    for d, s in sorted(((d, s) for d, s in zip(shape, stride) if d > 1), key=lambda ds: ds[1]):
        if s <= span:
            raise CheckpointError(f"{what}: overlapping view (shape {list(shape)}, stride {list(stride)})")
        span += (d - 1) * s
    end = offset + span + 1
    if end > storage_numel:
        raise CheckpointError(f"{what}: view (offset {offset}, shape {list(shape)}, stride {list(stride)}) "
                              f"lies outside its {storage_numel}-element storage")
    contiguous = all(s == c for d, s, c in zip(shape, stride, c_strides(shape)) if d > 1)
    return offset, end, contiguous


# Gather at most this many elements per index array (8 B each: 128 MiB of indices at most).
_GATHER_CHUNK = 1 << 24


def gather(buf: bytes, itemsize: int, shape: tuple[int, ...], stride: tuple[int, ...]) -> bytes:
    """C-order bytes of the view (element ``i`` at ``sum(i_k * stride_k)``) of ``buf``, which holds
    exactly the elements :func:`view_extent` said it touches (offset already applied)."""
    flat = np.frombuffer(buf, dtype=np.dtype((np.void, itemsize)))
    if not shape:
        return flat[:1].tobytes()
    inner = np.zeros(1, dtype=np.int64)
    for d, s in zip(reversed(shape[1:]), reversed(stride[1:])):  # offsets of one outermost row
        inner = (np.arange(d, dtype=np.int64)[:, None] * s + inner[None, :]).reshape(-1)
    rows = max(1, _GATHER_CHUNK // max(1, inner.size))
    parts = []
    for r0 in range(0, shape[0], rows):
        r = np.arange(r0, min(shape[0], r0 + rows), dtype=np.int64)[:, None] * stride[0]
        try:  # mode="raise": an index outside buf is an error, never a read past it
            parts.append(np.take(flat, (r + inner[None, :]).reshape(-1), mode="raise").tobytes())
        except IndexError as e:
            raise CheckpointError("strided view reaches outside the bytes read") from e
    return b"".join(parts)
