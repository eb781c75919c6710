# SPDX-License-Identifier: MIT
"""Load a ``.npy`` matrix whose header is checked against the file before anything is allocated.

``np.load`` trusts the header: a 100-byte file claiming 10**15 elements makes it try to allocate
petabytes (MemoryError). Here the claimed byte count must equal what the file holds.
"""
from __future__ import annotations

import math
import os

import numpy as np

from ..errors import CheckpointError, InputError
from .view import check_shape


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """The array in ``path``; no pickles (object arrays are refused).

    Raises
    ------
    InputError
        The file is not a .npy file (no NumPy magic).
    CheckpointError
        A malformed header, or one whose shape and dtype do not match the file's size.
    """
    fmt = np.lib.format
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":  # else numpy blames "pickled data" for any junk
            raise InputError(f"{path}: not a .npy file (no NumPy magic)")
        f.seek(0)
        try:
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = read(f)
        except (ValueError, SyntaxError, TypeError, OverflowError) as e:
            raise CheckpointError(f"malformed .npy header: {str(e)[:200]}") from e
        if dtype.hasobject:
            raise CheckpointError(f".npy holds Python objects (pickled data); refused")
        shape = check_shape(shape, ".npy header")
        claimed = math.prod(shape) * dtype.itemsize
        held = os.fstat(f.fileno()).st_size - f.tell()
        if claimed != held:
            raise CheckpointError(f".npy header claims shape {list(shape)} {dtype} ({claimed} bytes) "
                                  f"but the file holds {held} bytes")
        arr = np.frombuffer(f.read(held), dtype=dtype)
    return arr.reshape(shape, order="F" if fortran else "C")
