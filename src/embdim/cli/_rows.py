# SPDX-License-Identifier: MIT
"""``--rows all|tokenizer`` and ``--tokenizer PATH``, shared by measure, estimate and geometry."""
from __future__ import annotations

import argparse

from ..rows import ROWS

ROWS_DOC = """--rows tokenizer measures only the rows the tokenizer knows (max id + 1 over its vocabulary and
added tokens; Pythia: 50277 of 50304 rows): tokenizer.json beside INPUT, else in its parent
directory, or --tokenizer PATH; none found is an error (exit 2). Rows at or beyond that count are
dropped before deduplication. n_rows_total = the matrix's rows, n = rows measured."""


def add_rows_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rows", choices=ROWS, default="all",
                   help="all (default: every row, the paper's n) or tokenizer (only the token ids "
                        "the checkpoint's tokenizer.json knows)")
    p.add_argument("--tokenizer", default=None, metavar="PATH",
                   help="tokenizer.json for --rows tokenizer (default: beside INPUT, then its "
                        "parent directory)")


def rows_of(args, X):
    """The :class:`embdim.rows.RowSelection` of ``args`` for the loaded matrix ``X``."""
    from ..rows import select_rows
    return select_rows(X.shape[0], args.rows, args.input, args.tokenizer)
