# SPDX-License-Identifier: MIT
"""Restricted unpickling of a torch checkpoint's ``data.pkl``: tensor-storage references, nothing else.

Every global goes through an allow-list of inert stand-ins (a deny-list would miss ``builtins.eval``,
``os.system`` and friends), so no torch code, or any other, runs. The pure-Python unpickler is used
because its opcode table can be narrowed: ``BUILD``, ``SETITEM(S)`` and ``APPEND(S)`` act only on
plain containers, so a pickle can never mutate an allow-listed object (issue 10, item 5), and the
opcodes that instantiate classes without ``REDUCE`` are refused. The state-dict walk visits each
object once and caps nodes and depth (a memoised "reference bomb" has 10**12 paths; item 2).
"""
from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import CheckpointError, UnsafeCheckpointError
from .view import MAX_NDIM

# torch storage class name -> safetensors dtype tag
STORAGE_DTYPES = MappingProxyType({
    "HalfStorage": "F16", "BFloat16Storage": "BF16", "FloatStorage": "F32", "DoubleStorage": "F64",
    "LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
    "ByteStorage": "U8", "BoolStorage": "BOOL",
})
TORCH_DTYPES = MappingProxyType({
    "float16": "F16", "half": "F16", "bfloat16": "BF16", "float32": "F32", "float": "F32",
    "float64": "F64", "double": "F64", "int64": "I64", "long": "I64", "int32": "I32", "int": "I32",
    "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"})
# A state dict is a flat mapping (nested module dicts at most a few levels deep); real ones have
# hundreds of entries (Pythia-12b: ~580). These caps are far above that and bound a hostile walk.
MAX_DEPTH = 32
MAX_NODES = 1_000_000


@dataclass(frozen=True, slots=True)
class StorageRef:
    key: str
    dtype: str
    numel: int


@dataclass(frozen=True, slots=True)
class TensorRef:
    """A tensor as the pickle describes it: a view (offset, shape, stride in elements) of a storage."""

    storage: StorageRef
    offset: int
    shape: tuple
    stride: tuple


@dataclass(frozen=True, slots=True)
class _StorageType:
    """Stand-in for ``torch.<X>Storage``; frozen with slots, so even a BUILD could not rewrite it."""

    dtype: str


def _small_int_tuple(v, what: str) -> tuple:
    # Checked before iterating: a hostile pickle can hand the same huge tuple to many calls.
    if not isinstance(v, tuple) or len(v) > MAX_NDIM:
        raise CheckpointError(f"tensor {what} is not a tuple of at most {MAX_NDIM} integers")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise CheckpointError(f"tensor {what} holds a non-integer")
    return v


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, StorageRef):
        raise CheckpointError("tensor rebuild without a storage reference")
    if not isinstance(storage_offset, int) or isinstance(storage_offset, bool):
        raise CheckpointError("tensor storage offset is not an integer")
    return TensorRef(storage, storage_offset, _small_int_tuple(size, "size"), _small_int_tuple(stride, "stride"))


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


def _ordered_dict(*args):
    # torch (via OrderedDict.__reduce__) always pickles OrderedDict() with no arguments and fills it by
    # SETITEMS; refusing arguments keeps one REDUCE from copying an arbitrarily large list.
    if args:
        raise CheckpointError("OrderedDict rebuilt with arguments")
    return collections.OrderedDict()


def _size(v=()):
    return _small_int_tuple(tuple(v) if isinstance(v, (tuple, list)) and len(v) <= MAX_NDIM else v, "size")


# The whole allow-list, read-only: what a tensor state dict needs, each an inert stand-in.
SAFE_GLOBALS = MappingProxyType({
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch", "Size"): _size,
    **{("torch", cls): _StorageType(tag) for cls, tag in STORAGE_DTYPES.items()},
    **{("torch", name): tag for name, tag in TORCH_DTYPES.items()},
})


def _refuse(op: str):
    def load(self):
        raise CheckpointError(f"data.pkl uses pickle opcode {op}, which a tensor state dict never needs")
    return load


def _load_build(self):
    # torch pickles a state dict's ``_metadata`` attribute with BUILD on the dict; nothing else gets one.
    state = self.stack.pop()
    if type(self.stack[-1]) not in (dict, collections.OrderedDict):
        raise CheckpointError(f"data.pkl: BUILD on a {type(self.stack[-1]).__name__} refused "
                              "(only plain containers take state)")
    del state  # the attributes (``_metadata``) are not needed to locate a tensor


def _load_setitems(self, items):
    target = self.stack[-1]
    if type(target) not in (dict, collections.OrderedDict):
        raise CheckpointError(f"data.pkl: SETITEM on a {type(target).__name__} refused")
    if len(items) % 2:
        raise CheckpointError("data.pkl: SETITEMS with an odd number of items")
    for i in range(0, len(items), 2):
        # str keys only (ints for torch's own bookkeeping): hashing a deeply nested tuple recurses in C
        if type(items[i]) not in (str, int):
            raise CheckpointError(f"data.pkl: dict key of type {type(items[i]).__name__} refused")
        target[items[i]] = items[i + 1]


def _load_appends(self, items):
    target = self.stack[-1]
    if type(target) is not list:
        raise CheckpointError(f"data.pkl: APPEND on a {type(target).__name__} refused")
    target.extend(items)


_DISPATCH = dict(pickle._Unpickler.dispatch)
_DISPATCH[pickle.BUILD[0]] = _load_build
_DISPATCH[pickle.SETITEM[0]] = lambda self: _load_setitems(self, [*reversed([self.stack.pop(), self.stack.pop()])])
_DISPATCH[pickle.SETITEMS[0]] = lambda self: _load_setitems(self, self.pop_mark())
_DISPATCH[pickle.APPEND[0]] = lambda self: _load_appends(self, [self.stack.pop()])
_DISPATCH[pickle.APPENDS[0]] = lambda self: _load_appends(self, self.pop_mark())
for _op in ("INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4"):
    _DISPATCH[getattr(pickle, _op)[0]] = _refuse(_op)


class _RestrictedUnpickler(pickle._Unpickler):
    dispatch = _DISPATCH

    def find_class(self, module: str, name: str):
        try:
            return SAFE_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise UnsafeCheckpointError(
                f"refusing to load pickle global {module}.{name}: only tensor-storage rebuilds are allowed "
                "(nothing was executed)") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent id in data.pkl: {type(pid).__name__}")
        _, stype, key, _location, numel = pid
        if not isinstance(key, str) or len(key) > 256:  # torch names storages "0", "1", ...
            raise CheckpointError("data.pkl: storage key is not a short string")
        dtype = stype.dtype if isinstance(stype, _StorageType) else stype
        if not isinstance(dtype, str) or dtype not in STORAGE_DTYPES.values():
            raise CheckpointError(f"storage {key!r} has an unsupported type")
        if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
            raise CheckpointError(f"storage {key!r} has an invalid element count")
        return StorageRef(key, dtype, numel)


def load_state_refs(pickle_bytes: bytes) -> dict[str, TensorRef]:
    """Unpickle ``data.pkl`` with the allow-list; returns tensor name -> reference (nested dicts dotted).

    Raises
    ------
    UnsafeCheckpointError
        A global outside the allow-list (nothing was executed).
    CheckpointError
        A malformed pickle, a refused opcode, or a state dict nested or sized past the caps.
    """
    try:
        obj = _RestrictedUnpickler(io.BytesIO(pickle_bytes)).load()
    except CheckpointError:
        raise
    except Exception as e:  # malformed pickle: any unpickling failure means an unreadable file
        raise CheckpointError(f"cannot parse data.pkl: {type(e).__name__}: {str(e)[:200]}") from e
    if not isinstance(obj, dict):
        raise CheckpointError(f"data.pkl holds a {type(obj).__name__}, not a state dict")
    return _walk(obj)


def _walk(root: dict) -> dict[str, TensorRef]:
    """Iterative walk: each dict is visited once (by id), depth and node count are capped."""
    out: dict[str, TensorRef] = {}
    seen, nodes = {id(root)}, 0
    todo = [(root, "", 0)]
    while todo:
        d, prefix, depth = todo.pop()
        for k, v in d.items():
            nodes += 1
            if not isinstance(k, str):
                continue  # not a parameter name
            if nodes > MAX_NODES:
                raise CheckpointError(f"data.pkl: state dict has more than {MAX_NODES} entries")
            if isinstance(v, TensorRef):
                out.setdefault(prefix + str(k), v)
            elif isinstance(v, dict) and id(v) not in seen:
                if depth + 1 >= MAX_DEPTH:
                    raise CheckpointError(f"data.pkl: state dict nested deeper than {MAX_DEPTH} levels")
                seen.add(id(v))
                todo.append((v, prefix + str(k) + ".", depth + 1))
    return out
