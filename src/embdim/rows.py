# SPDX-License-Identifier: MIT
"""Which rows of an embedding matrix are measured: ``all`` (the paper's n is the matrix's rows) or
``tokenizer`` (only the ids the checkpoint's tokenizer knows; rows at or beyond that count are
padding no token selects, dropped before deduplication)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import InputError

ROWS = ("all", "tokenizer")


@dataclass(frozen=True)
class RowSelection:
    """``mode``; ``n_rows_total`` (rows of the matrix); ``n_keep`` (rows 0 .. n_keep-1 measured);
    ``n_tokens`` and ``tokenizer`` (its path) with ``mode == "tokenizer"``, else None."""

    mode: str
    n_rows_total: int
    n_keep: int
    n_tokens: int | None = None
    tokenizer: str | None = None

    def to_dict(self) -> dict:
        return {"rows": self.mode, "n_rows_total": self.n_rows_total, "n_tokens": self.n_tokens,
                "tokenizer": self.tokenizer}


def select_rows(n_rows: int, mode: str, input_path: str | os.PathLike,
                tokenizer: str | os.PathLike | None = None) -> RowSelection:
    """The rows to measure of an ``n_rows``-row matrix read from ``input_path``.

    With ``mode="tokenizer"`` the tokenizer is ``tokenizer`` if given, else ``tokenizer.json``
    beside the file, else in its parent directory (:func:`embdim.formats.tokenizer.find_tokenizer`).

    Raises
    ------
    InputError
        Unknown mode; ``tokenizer`` with ``mode="all"``; no tokenizer found; a tokenizer that
        knows more tokens than the matrix has rows (not this matrix's tokenizer).
    CheckpointError
        The tokenizer file is malformed or too large.
    """
    from .formats.tokenizer import count_tokens, find_tokenizer, read_tokenizer_bytes

    if mode not in ROWS:
        raise InputError(f"--rows must be one of {', '.join(ROWS)}, got {mode!r}")
    if mode == "all":
        if tokenizer is not None:
            raise InputError("--tokenizer is used only with --rows tokenizer")
        return RowSelection("all", n_rows, n_rows)
    path = find_tokenizer(input_path, tokenizer)
    if path is None:
        d = os.path.dirname(os.path.abspath(input_path))
        raise InputError(f"--rows tokenizer: no tokenizer.json beside {input_path} or in "
                         f"{os.path.dirname(d)}; name one with --tokenizer PATH or use --rows all")
    n_tokens = count_tokens(read_tokenizer_bytes(path), str(path))
    if n_tokens > n_rows:
        raise InputError(f"--rows tokenizer: {path} knows {n_tokens} tokens but the matrix has only "
                         f"{n_rows} rows (a different model's tokenizer?)")
    return RowSelection("tokenizer", n_rows, n_tokens, n_tokens, str(path))
