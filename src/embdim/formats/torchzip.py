# SPDX-License-Identifier: MIT
"""Locate one tensor inside a torch-zip checkpoint (``pytorch_model.bin``) with a few range reads.

A torch-zip file is an uncompressed zip: ``<prefix>/data.pkl`` (the pickled state dict, whose tensors
point at storages by key) and ``<prefix>/data/<key>`` (each storage's raw little-endian bytes). We read
the end-of-central-directory (ZIP64 included), the central directory, ``data.pkl`` through the restricted
unpickler of :mod:`embdim.formats.unpickle` (tensor-storage references only; nothing is executed), then the
storage entry's LOCAL header (torch pads its extra field so data is 64-byte aligned; the central
directory's extra field differs). The view is checked by :func:`embdim.formats.view.view_extent` before any of
its bytes are read, giving the tensor's absolute byte range.

All reads go through ``read_range(start, end) -> bytes`` ([start, end)), wrapped by
:func:`embdim.formats.safe.checked_reader`, so local files and HTTP ranges share this code and no offset from
the file can ask for bytes outside it.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

from ..errors import CheckpointError
from .records import ITEMSIZE, ReadRange, TensorInfo
from .safe import checked_reader
from .unpickle import load_state_refs
from .view import view_extent

# First read at the end of the file: EOCD (22 B) + ZIP64 locator (20 B) + ZIP64 record (56 B) and, for
# small checkpoints, the whole central directory (~75-100 B per entry, so ~40 entries). Bigger
# directories cost one more exact read; this keeps speculative bytes under 4 KiB.
TAIL_BYTES = 4096
# Local header = 30 B + name + extra; torch's extra is <= 4 + 63 B of alignment padding plus a 20 B ZIP64
# block (PyTorch caffe2/serialize/inline_container.cc, kFieldAlignment = 64). Read this much past the name.
LOCAL_EXTRA_GUESS = 128
# Refuse absurd pickles before reading them (Pythia-12b's data.pkl is ~40 KB, a 1000-tensor state
# dict ~150 KB). The pure-Python restricted unpickler ran 16 MiB of 1-byte opcodes in 21 s on this
# 2-core machine, so 4 MiB also bounds its time to a few seconds.
MAX_PICKLE_BYTES = 4 * 2**20

_EOCD, _EOCD64, _LOC64, _CDH, _LFH = 0x06054B50, 0x06064B50, 0x07064B50, 0x02014B50, 0x04034B50


@dataclass(frozen=True)
class ZipEntry:
    name: str
    header_offset: int
    size: int
    method: int


# -- zip structure ---------------------------------------------------------------------------------
def _u(fmt: str, buf: bytes, off: int) -> tuple:
    try:
        return struct.unpack_from(fmt, buf, off)
    except struct.error as e:
        raise CheckpointError(f"zip structure truncated at offset {off}") from e


def read_central_directory(read_range: ReadRange, size: int) -> dict[str, ZipEntry]:
    """Find the (ZIP64) end-of-central-directory record and parse the central directory."""
    read_range = checked_reader(read_range, size, "zip archive")
    tail_start = max(0, size - TAIL_BYTES)
    tail = read_range(tail_start, size)
    pos = tail.rfind(struct.pack("<I", _EOCD))
    if pos < 0 or len(tail) - pos < 22:
        raise CheckpointError("not a zip archive (no end-of-central-directory record); legacy torch "
                              "checkpoints are not supported")
    _, _, _, n_disk, n_total, cd_size, cd_off, _ = _u("<IHHHHIIH", tail, pos)
    if 0xFFFFFFFF in (cd_size, cd_off) or 0xFFFF in (n_disk, n_total):
        loc = pos - 20
        if loc < 0 or _u("<I", tail, loc)[0] != _LOC64:
            raise CheckpointError("ZIP64 archive without a ZIP64 end-of-central-directory locator")
        rec_off = _u("<IIQI", tail, loc)[2]
        if rec_off + 56 > size:
            raise CheckpointError(f"ZIP64 end record at {rec_off} lies past the end of the file ({size} B)")
        rec = (tail[rec_off - tail_start:rec_off - tail_start + 56] if rec_off >= tail_start
               else read_range(rec_off, rec_off + 56))
        sig, _, _, _, _, _, _, n_total, cd_size, cd_off = _u("<IQHHIIQQQQ", rec, 0)
        if sig != _EOCD64:
            raise CheckpointError("bad ZIP64 end-of-central-directory record")
    if cd_off + cd_size > size or n_total * 46 > cd_size:  # an entry is at least 46 bytes
        raise CheckpointError(f"central directory ({n_total} entries, {cd_off}+{cd_size}) does not fit "
                              f"the file ({size} B)")
    if cd_off >= tail_start:
        cd = tail[cd_off - tail_start:cd_off - tail_start + cd_size]
    else:  # read only the part of the directory the tail read missed
        cd = read_range(cd_off, min(tail_start, cd_off + cd_size)) + tail[:max(0, cd_off + cd_size - tail_start)]
    entries: dict[str, ZipEntry] = {}
    p = 0
    for _ in range(n_total):
        (sig, _, _, _, method, _, _, _, csize, usize, nlen, elen, clen, _, _, _, lho) = _u(
            "<IHHHHHHIIIHHHHHII", cd, p)
        if sig != _CDH or p + 46 + nlen + elen + clen > len(cd):
            raise CheckpointError(f"bad central directory entry at offset {cd_off + p}")
        name = cd[p + 46:p + 46 + nlen].decode("utf-8", "replace")
        extra = cd[p + 46 + nlen:p + 46 + nlen + elen]
        if 0xFFFFFFFF in (usize, csize, lho):
            usize, csize, lho = _zip64_extra(extra, usize, csize, lho)
        if lho + 30 > size or csize > size:
            raise CheckpointError(f"zip entry {name!r}: local header at {lho} or size {csize} lies past the "
                                  f"end of the file ({size} B)")
        entries[name] = ZipEntry(name, lho, csize, method)
        p += 46 + nlen + elen + clen
    return entries


def _zip64_extra(extra: bytes, usize: int, csize: int, lho: int) -> tuple[int, int, int]:
    """Replace 0xFFFFFFFF fields by the ZIP64 extra block's values (present in this order, if maxed)."""
    q = 0
    while q + 4 <= len(extra):
        hid, hlen = struct.unpack_from("<HH", extra, q)
        if hid == 1:
            need = [usize, csize, lho].count(0xFFFFFFFF)
            if hlen < 8 * need or q + 4 + hlen > len(extra):
                raise CheckpointError(f"ZIP64 extra field of {hlen} bytes is too short or truncated "
                                      f"({need} sizes announced)")
            vals = list(struct.unpack_from(f"<{need}Q", extra, q + 4))
            if usize == 0xFFFFFFFF:
                usize = vals.pop(0)
            if csize == 0xFFFFFFFF:
                csize = vals.pop(0)
            if lho == 0xFFFFFFFF:
                lho = vals.pop(0)
            return usize, csize, lho
        q += 4 + hlen
    raise CheckpointError("ZIP64 sizes announced but no ZIP64 extra field found")


def data_offset(read_range: ReadRange, entry: ZipEntry, size: int, want: int = 0) -> tuple[int, bytes]:
    """Absolute offset of an entry's data, from its LOCAL header; also returns the bytes read past it
    (up to ``want`` data bytes are fetched in the same request)."""
    if entry.method != 0:
        raise CheckpointError(f"zip entry {entry.name!r} is compressed (method {entry.method}); "
                              "torch checkpoints store entries uncompressed")
    read_range = checked_reader(read_range, size, "zip archive")
    if entry.header_offset + 30 > size:
        raise CheckpointError(f"zip entry {entry.name!r}: local header at {entry.header_offset} lies past "
                              f"the end of the file ({size} B)")
    nlen = len(entry.name.encode())
    end = min(size, entry.header_offset + 30 + nlen + LOCAL_EXTRA_GUESS + want)
    head = read_range(entry.header_offset, end)
    sig, _, _, _, _, _, _, _, _, lnlen, lelen = _u("<IHHHHHIIIHH", head, 0)
    if sig != _LFH:
        raise CheckpointError(f"bad local header for zip entry {entry.name!r}")
    start = entry.header_offset + 30 + lnlen + lelen
    if start + entry.size > size:
        raise CheckpointError(f"zip entry {entry.name!r} extends past end of file (truncated?)")
    return start, head[30 + lnlen + lelen:]


# -- one tensor ------------------------------------------------------------------------------------
def read_pickle(read_range: ReadRange, entries: dict[str, ZipEntry], size: int) -> tuple[str, bytes]:
    """Return (archive prefix incl. '/', data.pkl bytes)."""
    pkl = [e for e in entries.values() if e.name.endswith("data.pkl") and e.name.count("/") == 1]
    if len(pkl) != 1:
        raise CheckpointError("zip archive has no single <prefix>/data.pkl: not a torch checkpoint")
    e = pkl[0]
    if e.size > MAX_PICKLE_BYTES:
        raise CheckpointError(f"data.pkl is {e.size} bytes; refusing (> {MAX_PICKLE_BYTES})")
    read_range = checked_reader(read_range, size, "zip archive")
    start, got = data_offset(read_range, e, size, want=e.size)
    data = got[:e.size]
    if len(data) < e.size:
        data += read_range(start + len(data), start + e.size)
    return e.name[: -len("data.pkl")], data


def locate_bin_tensor(read_range: ReadRange, size: int, names_to_name: Callable[[list[str]], str],
                      tied_with: tuple[str, ...] = ()) -> TensorInfo:
    """Locate one tensor; ``names_to_name`` maps the available names to the wanted one (or raises).

    The result's ``stride`` is set only for a non-contiguous view; ``tied`` when another tensor
    named in ``tied_with`` is the very same view of the same storage (tied weights saved twice)."""
    read_range = checked_reader(read_range, size, "zip archive")
    entries = read_central_directory(read_range, size)
    prefix, pkl = read_pickle(read_range, entries, size)
    refs = load_state_refs(pkl)
    name = names_to_name(list(refs))
    ref = refs[name]
    item = ITEMSIZE[ref.storage.dtype]
    entry = entries.get(f"{prefix}data/{ref.storage.key}")
    if entry is None:
        raise CheckpointError(f"storage {ref.storage.key!r} of {name!r} is missing from the archive")
    if entry.size != ref.storage.numel * item:
        raise CheckpointError(f"storage {ref.storage.key!r}: {entry.size} bytes, expected "
                              f"{ref.storage.numel} x {item}")
    first, end, contiguous = view_extent(ref.offset, ref.shape, ref.stride, ref.storage.numel, f"tensor {name!r}")
    base, _ = data_offset(read_range, entry, size)
    view = (ref.storage.key, ref.offset, tuple(ref.shape), tuple(ref.stride))
    tied = any(o != name and o in refs and (refs[o].storage.key, refs[o].offset, tuple(refs[o].shape),
                                             tuple(refs[o].stride)) == view for o in tied_with)
    return TensorInfo(name, ref.storage.dtype, tuple(ref.shape), base + first * item, base + end * item,
                     None if contiguous else ref.stride, tied)
