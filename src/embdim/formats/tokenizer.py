# SPDX-License-Identifier: MIT
"""A checkpoint's ``tokenizer.json`` read as hostile input: how many tokens it knows, where it is,
and each token decoded for a table.

The count is what the tokenizer can emit: the ids of its model vocabulary plus its added tokens,
i.e. max id + 1 (Pythia: 50277, while its embedding has 50304 rows; the rest are padding rows that
no token selects, so they are never trained, EleutherAI/pythia#68). Counting parses the JSON with
the depth-limited reader (:func:`embdim.formats.safe.load_json`) and executes nothing; decoding
uses the ``tokenizers`` library (Rust, data only) on the same size-capped bytes.
"""
from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path

from ..errors import CheckpointError, InputError
from .safe import load_json

TOKENIZER_FILE = "tokenizer.json"
# Pythia's tokenizer.json is 2.1 MB, Llama 3's 9 MB, Gemma 3's (262k tokens) ~33 MB; 64 MiB is
# above all of them and still cheap to read whole.
MAX_TOKENIZER_BYTES = 64 << 20
# The largest vocabularies in use are ~262k (Gemma 3); an id beyond 2^24 is not a real tokenizer
# and would make the per-token table huge.
MAX_TOKEN_ID = 1 << 24


def _ids(values, what: str) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < MAX_TOKEN_ID:
            raise CheckpointError(f"{what}: token id {str(v)[:40]!r} is not an integer in "
                                  f"[0, {MAX_TOKEN_ID})")
        out.append(v)
    return out


def count_tokens(raw: bytes, what: str = TOKENIZER_FILE) -> int:
    """Number of token ids a ``tokenizer.json`` knows: max id + 1 over ``model.vocab`` (a
    token -> id map for BPE / WordPiece / WordLevel, a list of [piece, score] for Unigram, whose ids
    are the positions) and ``added_tokens[].id``.

    Raises
    ------
    CheckpointError
        Too large, not JSON, no vocabulary, or an id that is not a small non-negative integer.
    """
    if len(raw) > MAX_TOKENIZER_BYTES:
        raise CheckpointError(f"{what}: {len(raw)} bytes is larger than the "
                              f"{MAX_TOKENIZER_BYTES >> 20} MiB accepted for a tokenizer.json")
    data = load_json(raw, what)
    model = data.get("model") if isinstance(data, dict) else None
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if isinstance(vocab, dict):
        ids = _ids(vocab.values(), what)
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...], id = position
        if len(vocab) > MAX_TOKEN_ID:
            raise CheckpointError(f"{what}: {len(vocab)} vocabulary entries (more than {MAX_TOKEN_ID})")
        ids = [len(vocab) - 1] if vocab else []
    else:
        raise CheckpointError(f"{what}: no model.vocab (not a Hugging Face tokenizers file?)")
    added = data.get("added_tokens") or []
    if not isinstance(added, list) or not all(isinstance(t, dict) for t in added):
        raise CheckpointError(f"{what}: added_tokens is not a list of objects")
    ids += _ids([t.get("id") for t in added], what)
    if not ids:
        raise CheckpointError(f"{what}: the tokenizer knows no token")
    return max(ids) + 1


def read_tokenizer_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a local ``tokenizer.json``: a regular file within the size cap.

    Raises
    ------
    InputError
        Missing, not a regular file (a FIFO would block), unreadable.
    CheckpointError
        Larger than :data:`MAX_TOKENIZER_BYTES`.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise InputError(f"tokenizer {path}: cannot open ({e.strerror or e})") from e
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"tokenizer {path}: not a regular file")
        if st.st_size > MAX_TOKENIZER_BYTES:
            raise CheckpointError(f"tokenizer {path}: {st.st_size} bytes is larger than the "
                                  f"{MAX_TOKENIZER_BYTES >> 20} MiB accepted")
        return f.read(MAX_TOKENIZER_BYTES + 1)


def find_tokenizer(input_path: str | os.PathLike, explicit: str | os.PathLike | None = None) -> Path | None:
    """The tokenizer of a matrix file: ``explicit`` if given, else ``tokenizer.json`` beside the
    file, else in its parent directory; ``None`` when there is none.

    Raises
    ------
    InputError
        ``explicit`` does not exist.
    """
    if explicit is not None:
        if not Path(explicit).is_file():
            raise InputError(f"--tokenizer {explicit}: no such file")
        return Path(explicit)
    here = Path(input_path).absolute().parent
    for d in (here, here.parent):
        if (d / TOKENIZER_FILE).is_file():
            return d / TOKENIZER_FILE
    return None


def decode_tokens(raw: bytes, n: int, what: str = TOKENIZER_FILE) -> list[str]:
    """Each id 0 .. n-1 decoded alone with the ``tokenizers`` library (byte-level BPE: the text
    the token stands for, e.g. ``" the"``; special tokens kept; an id the vocabulary lacks: "").

    Raises
    ------
    CheckpointError
        The library cannot load the file.
    """
    from tokenizers import Tokenizer

    if len(raw) > MAX_TOKENIZER_BYTES:
        raise CheckpointError(f"{what}: larger than {MAX_TOKENIZER_BYTES >> 20} MiB")
    try:
        tok = Tokenizer.from_str(raw.decode("utf-8"))
        return tok.decode_batch([[i] for i in range(n)], skip_special_tokens=False)
    except Exception as e:  # noqa: BLE001 - the Rust side raises plain Exception on bad files
        raise CheckpointError(f"{what}: tokenizers cannot load it: {str(e)[:200]}") from e


_NAMED = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def escape_tsv(text: str) -> str:
    r"""``text`` safe for one TSV cell: backslash, tab, newline and CR as ``\\ \t \n \r``, other
    control characters (C0, DEL, C1) and the Unicode line / paragraph separators as ``\xHH`` or
    ``\uHHHH``; everything else unchanged."""
    out = []
    for ch in text:
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def unescape_tsv(cell: str) -> str:
    """Inverse of :func:`escape_tsv` (for readers of ``tokens.tsv``)."""
    import re
    table = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
    return re.sub(r"\\(\\|t|n|r|x[0-9a-f]{2}|u[0-9a-f]{4})",
                  lambda m: table.get(m.group(0)) or chr(int(m.group(0)[2:], 16)), cell)
