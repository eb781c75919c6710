# SPDX-License-Identifier: MIT
"""The static-embedding experiments' corpus and its three tokenizations (the paper's Table 3).

Default corpus ``python3-doc``: the reStructuredText sources of the Python documentation that
Debian's ``python3-doc`` package installs (``/usr/share/doc/python3.X/html/_sources/**/*.rst.txt``;
Debian 12: python3.11-doc 3.11.2, 497 files, 11.0 MB, PSF License 2.0). They are English prose
with code samples, present offline once the package is installed, and read in sorted path
order, so a byte slice (``max_bytes``) is the same text on every machine with that package.
A user's own corpus is a text file (one document per line) or a CSV (AG-NEWS: no header,
columns class, title, description; ``column`` picks one, by 0-based index or header name).
"""
from __future__ import annotations

import csv
import glob
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

DEBIAN_DOC = "python3-doc"
DOC_GLOB = "/usr/share/doc/python3.*/html/_sources"
TOKENIZERS = ("sentencepiece", "bpe", "whitespace")
# A CSV field as large as a whole book is still read (csv's default limit is 128 kB).
CSV_FIELD_LIMIT = 1 << 24


@dataclass
class Corpus:
    """Documents (paragraphs or CSV rows) and where they came from."""

    source: str
    texts: list[str]
    files: int
    sha256: str
    truncated: bool = False
    info: dict = field(default_factory=dict)

    @property
    def n_bytes(self) -> int:
        return sum(len(t.encode("utf-8")) for t in self.texts)


def doc_root(pattern: str = DOC_GLOB) -> Path:
    """The newest installed Python documentation sources.

    Raises
    ------
    InputError
        ``python3-doc`` is not installed.
    """
    def version(p: str) -> tuple[int, int] | None:
        # the package's own directory, python3.11; python3.11-dev and the like link to it
        m = re.fullmatch(r"python(\d+)\.(\d+)", Path(p).parts[-3])
        return (int(m.group(1)), int(m.group(2))) if m else None

    roots = sorted((p for p in glob.glob(pattern) if version(p)), key=version)
    if not roots:
        raise InputError(f"corpus {DEBIAN_DOC}: no {pattern} (install it: apt-get install python3-doc)")
    return Path(roots[-1])


def load_corpus(source: str, column: int | str | None = None, max_bytes: int | None = None,
                doc_pattern: str = DOC_GLOB) -> Corpus:
    """Read ``source`` (``python3-doc``, a ``.csv`` or a text file), at most ``max_bytes`` of it.

    Raises
    ------
    InputError
        Missing source, unknown CSV column, an empty corpus.
    """
    if source == DEBIAN_DOC:
        root = doc_root(doc_pattern)
        paths = sorted(root.rglob("*.rst.txt"))
        chunks = ((str(p.relative_to(root)), p.read_text(encoding="utf-8", errors="replace")) for p in paths)
        label = str(root)
    elif os.path.isfile(source):
        label = source
        if source.endswith(".csv"):
            chunks = _csv_chunks(source, column)
        else:
            chunks = iter([(source, Path(source).read_text(encoding="utf-8", errors="replace"))])
    else:
        raise InputError(f"corpus {source!r}: not {DEBIAN_DOC!r} and no such file")
    texts, total, files, truncated = [], 0, 0, False
    h = hashlib.sha256()
    for name, text in chunks:
        if max_bytes is not None and total >= max_bytes:
            truncated = True
            break
        files += 1
        for para in _paragraphs(text):
            b = len(para.encode("utf-8"))
            if max_bytes is not None and total + b > max_bytes:
                truncated = True
                break
            texts.append(para)
            total += b
            h.update(para.encode("utf-8") + b"\n")
    if not texts:
        raise InputError(f"corpus {source!r}: no text")
    return Corpus(label, texts, files, h.hexdigest(), truncated)


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each on one line (Word2Vec's window stays inside one)."""
    out, cur = [], []
    for line in text.splitlines():
        if line.strip():
            cur.append(line.strip())
        elif cur:
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


def _csv_chunks(path: str, column):
    csv.field_size_limit(CSV_FIELD_LIMIT)
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        idx = column if isinstance(column, int) else None
        for i, row in enumerate(reader):
            if idx is None:
                if column is None:
                    raise InputError(f"corpus {path}: a CSV needs corpus_column (index or header name)")
                if column not in row:
                    raise InputError(f"corpus {path}: no column {column!r} in the header {row}")
                idx = row.index(column)
                continue
            if idx >= len(row) or idx < 0:
                raise InputError(f"corpus {path}: row {i + 1} has no column {idx}")
            yield f"{path}:{i + 1}", row[idx]
