# SPDX-License-Identifier: MIT
"""The records every format shares: the range-reader type, the dtype table and ``TensorInfo``.

Kept apart from the parsers so that safetensors and torch-zip both import it, and neither the other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

# ``read_range(start, end) -> bytes`` over [start, end): a local file or HTTP range requests.
ReadRange = Callable[[int, int], bytes]

# safetensors dtype tag -> (numpy dtype or None for bf16, itemsize); torch-zip storages map onto the
# same tags (embdim.formats.unpickle.STORAGE_DTYPES), so this is the one table for both formats.
SAFETENSORS_DTYPES: dict[str, tuple[str | None, int]] = {
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": (None, 2),
    "I64": ("<i8", 8), "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1),
    "U8": ("u1", 1), "BOOL": ("?", 1),
}
NUMPY_TO_SAFETENSORS = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
                        "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}
ITEMSIZE = {tag: size for tag, (_, size) in SAFETENSORS_DTYPES.items()}


@dataclass(frozen=True)
class TensorInfo:
    """Where a tensor lives inside one file: absolute byte offsets [start, end)."""

    name: str
    dtype: str  # safetensors tag, e.g. "F16", "BF16"
    shape: tuple[int, ...]
    start: int
    end: int
    stride: tuple[int, ...] | None = None  # element strides, only for a non-contiguous view (torch .bin)
    tied: bool = False  # the same bytes as a ``tied_with`` tensor of the file (torch .bin shared storage)

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor itself (C order)."""
        return math.prod(self.shape) * SAFETENSORS_DTYPES[self.dtype][1]

    @property
    def span(self) -> int:
        """Bytes to read from the file: ``end - start`` (equals ``nbytes`` unless strided)."""
        return self.end - self.start
