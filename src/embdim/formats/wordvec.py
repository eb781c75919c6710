# SPDX-License-Identifier: MIT
"""Static word-vector files (word2vec text/binary, GloVe text, fastText ``.bin``) read through
gensim's ``KeyedVectors``, and the content sniffing behind ``--format auto``.

No parser of our own: gensim reads the vectors. Before it does, the header's sizes are checked
against the file's size, so a hostile header cannot make gensim allocate more than the file
could hold; whatever gensim raises on a malformed file becomes one :class:`InputError` line.
Nothing here executes code from the file (gensim's ``load_word2vec_format`` and
``load_facebook_vectors`` read numbers and strings, never a pickle).
"""
from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import numpy as np

from ..errors import InputError

FORMATS = ("auto", "word2vec", "word2vec-bin", "glove", "fasttext")
# What --format auto can also find: the matrix files the other loaders read.
MATRIX_KINDS = ("npy", "safetensors", "torch-zip")
# fastText's .bin magic number (fastText src/fasttext.h: FASTTEXT_FILEFORMAT_MAGIC_INT32).
FASTTEXT_MAGIC = 793712314
# Bytes sniffed to tell the formats apart: a header line and one whole vector line (a 300-d
# text vector is ~3 kB; 1 MiB covers any sane line and bounds the read of a junk file).
SNIFF_BYTES = 1 << 20
# A vector wider than this is not a word-vector file (the widest common ones are 300-1024).
MAX_DIM = 1 << 16
_HEADER = re.compile(rb"^\s*([0-9]+)\s+([0-9]+)\s*$")


def sniff(path: str | os.PathLike) -> str:
    """The format of ``path`` from its content: one of :data:`FORMATS` (not ``auto``) or
    :data:`MATRIX_KINDS`.

    Raises
    ------
    InputError
        Missing or unreadable file, or content that is none of these.
    """
    head = _head(path)
    if head.startswith(b"\x1f\x8b"):  # gensim-data ships its files gzipped
        raise InputError(f"{path}: gzip-compressed; decompress it first (gunzip -k {path})")
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04"):  # torch.save zip archive (pytorch_model.bin)
        return "torch-zip"
    if len(head) >= 4 and struct.unpack("<i", head[:4])[0] == FASTTEXT_MAGIC:
        return "fasttext"
    if len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < len(head) + (1 << 27):
        return "safetensors"
    first, _, rest = head.partition(b"\n")
    if _HEADER.match(first):
        second = rest.split(b"\n", 1)[0]
        return "word2vec" if _is_vector_line(second, expect_word=True) else "word2vec-bin"
    if _is_vector_line(first, expect_word=True):
        return "glove"
    raise InputError(f"{path}: not a word-vector file (word2vec text/binary, GloVe, fastText .bin) "
                     "nor a .npy/.safetensors/torch .bin matrix; give --format")


def _head(path) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with open(p, "rb") as f:
            return f.read(SNIFF_BYTES)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from e


def _is_vector_line(line: bytes, expect_word: bool) -> bool:
    """``word f1 f2 ...`` with at least one number after the word, all of them floats."""
    try:
        parts = line.decode("utf-8").rstrip("\r").split(" ")
    except UnicodeDecodeError:
        return False
    parts = [p for p in parts if p]
    nums = parts[1:] if expect_word else parts
    if len(nums) < 1:
        return False
    try:
        [float(x) for x in nums]
    except ValueError:
        return False
    return True


def load_word_vectors(path: str | os.PathLike, fmt: str = "auto") -> tuple[np.ndarray, list[str], dict]:
    """Read a word-vector file: ``(vectors float32 (n, d), words in file order, meta)``.

    Parameters
    ----------
    fmt : str
        ``word2vec`` (text, header ``N D``), ``word2vec-bin`` (binary, header ``N D``), ``glove``
        (text, no header), ``fasttext`` (Facebook ``.bin``: the vocabulary words' vectors, n-grams
        included) or ``auto`` (by content, :func:`sniff`).

    Raises
    ------
    InputError
        Unknown format, a header that does not fit the file, or a file gensim cannot read.
    """
    if _head(path).startswith(b"\x1f\x8b"):  # the size checks need the real file size
        sniff(path)
    if fmt == "auto":
        fmt = sniff(path)
        if fmt in MATRIX_KINDS:
            raise InputError(f"{path}: a {fmt} matrix, not a word-vector file")
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    size = _check_sizes(path, fmt)
    kv = _read(path, fmt)
    X = np.ascontiguousarray(kv.vectors, dtype=np.float32)
    words = [str(w) for w in kv.index_to_key]
    if X.ndim != 2 or X.shape[0] != len(words) or X.shape[0] < 1:
        raise InputError(f"{path}: {fmt} file gave {X.shape} vectors for {len(words)} words")
    meta = {"tensor": None, "dtype": "float32", "shape": list(X.shape), "format": fmt,
            "file_bytes": size}
    return X, words, meta


def _check_sizes(path, fmt: str) -> int:
    """The file's size, after checking that its header's sizes fit in it.

    Raises
    ------
    InputError
    """
    size = os.path.getsize(path)
    head = _head(path)
    if fmt in ("word2vec", "word2vec-bin"):
        m = _HEADER.match(head.partition(b"\n")[0])
        if not m:
            raise InputError(f"{path}: no word2vec header line 'N D' (GloVe text has none: --format glove)")
        n, d = int(m.group(1)), int(m.group(2))
        # a text value takes >= 2 bytes ("0 "), a binary one 4 (float32)
        per_value = 4 if fmt == "word2vec-bin" else 2
        if not (1 <= n and 1 <= d <= MAX_DIM) or n * d * per_value > size:
            raise InputError(f"{path}: header says {n} vectors of {d} dimensions, which a "
                             f"{size}-byte file cannot hold")
        if fmt == "word2vec":
            _check_lines(path, d, skip=1)
    elif fmt == "glove":
        _check_lines(path, None, skip=0)
    elif fmt == "fasttext":
        if len(head) < 60 or struct.unpack("<i", head[:4])[0] != FASTTEXT_MAGIC:
            raise InputError(f"{path}: not a fastText .bin (no magic number {FASTTEXT_MAGIC})")
        # fastText's args: magic, version, then dim, ws, epoch, min_count, neg, word_ngrams,
        # loss, model, bucket, ... (int32; fastText src/args.cc Args::save)
        dim, bucket = struct.unpack("<i", head[8:12])[0], struct.unpack("<i", head[40:44])[0]
        if not (1 <= dim <= MAX_DIM) or bucket < 0 or bucket * dim * 4 > size:
            raise InputError(f"{path}: fastText header says dim {dim} and {bucket} n-gram buckets, "
                             f"which a {size}-byte file cannot hold")
        _check_fasttext_vocab(path, size)
    return size


def _check_fasttext_vocab(path, size: int) -> None:
    """Every vocabulary entry of a fastText .bin ends inside the file: gensim reads a word byte
    by byte up to its NUL and, at the end of a truncated file, would loop for ever.

    Layout (fastText src/dictionary.cc Dictionary::save): after the 64-byte magic, version and
    args, int32 size, nwords, nlabels, int64 ntokens, pruneidx_size; then per entry the word,
    a NUL, int64 count, int8 type; then pruneidx_size pairs of int32.

    Raises
    ------
    InputError
    """
    import mmap

    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        n_entries, nwords, _ = struct.unpack("<3i", mm[64:76])
        prune = struct.unpack("<q", mm[84:92])[0]
        if not (0 <= nwords <= n_entries) or n_entries * 10 > size or prune * 8 > size:
            raise InputError(f"{path}: fastText dictionary of {n_entries} entries cannot fit "
                             f"in {size} bytes")
        pos = 92
        for i in range(n_entries):
            end = mm.find(b"\0", pos)
            if end < 0 or end + 10 > size:
                raise InputError(f"{path}: fastText vocabulary entry {i} runs past the end of "
                                 "the file (truncated?)")
            pos = end + 10
        if pos + max(prune, 0) * 8 + 17 > size:
            raise InputError(f"{path}: fastText file ends before its vectors (truncated?)")


def _check_lines(path, d: int | None, skip: int) -> None:
    """Every vector line of a text file has a word and ``d`` numbers (``d`` of the first line
    when None): gensim would silently broadcast a one-number line over the whole row.

    Raises
    ------
    InputError
    """
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if lineno <= skip or not line.strip():
                continue
            fields = len(line.rstrip().split(b" ")) - 1  # split as gensim splits
            if d is None:
                d = fields
            if fields != d or d < 1:
                raise InputError(f"{path}: line {lineno} holds {fields} numbers, expected {d}")


def _read(path, fmt: str):
    try:
        if fmt == "fasttext":
            from gensim.models.fasttext import load_facebook_vectors
            return load_facebook_vectors(str(path))
        from gensim.models import KeyedVectors
        return KeyedVectors.load_word2vec_format(str(path), binary=fmt == "word2vec-bin",
                                                 no_header=fmt == "glove", datatype=np.float32)
    except ImportError as e:
        raise InputError(f"reading word vectors needs gensim: pip install 'embdim[static]' ({e})") from e
    except (ValueError, EOFError, UnicodeError, IndexError, KeyError, struct.error, OSError,
            AssertionError, OverflowError, MemoryError, TypeError) as e:
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise InputError(f"{path}: not a readable {fmt} file ({type(e).__name__}: {msg})") from e
