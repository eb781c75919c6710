# SPDX-License-Identifier: MIT
"""The input flags shared by ``estimate``, ``measure`` and ``geometry``: ``--format`` (matrix or
word-vector file), ``--sample N --seed S`` (a random sample of rows, as the paper samples words)."""
from __future__ import annotations

import argparse

from ..formats.wordvec import FORMATS

FORMAT_HELP = ("input format (default auto: by content): word2vec (text, header 'N D'), "
               "word2vec-bin (binary, header), glove (text, no header), fasttext (Facebook .bin); "
               "auto also reads .npy, .safetensors and torch .bin checkpoints")


def add_format_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="auto", help=FORMAT_HELP)


def add_sample_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample", type=int, default=None, metavar="N",
                   help="use N rows (words) drawn without replacement (default: all rows)")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")


def load(args: argparse.Namespace, sample: bool = True, drop_rows: bool = True):
    """Read ``args.input`` per ``--format``/``--tensor``; with ``drop_rows``, drop the rows that
    ``--rows tokenizer`` excludes (first, as they are no tokens); with ``sample``, keep ``--sample``
    of the rest.

    Returns ``(Loaded, rows, sel)``: ``rows`` are the kept rows' indices in the file (sorted), or
    None for all; ``sel`` is the :class:`embdim.rows.RowSelection` of ``--rows``. The sample is
    :func:`embdim.measure.sample_rows` (the rows ``embdim measure --sample`` draws with the same
    seed).

    Raises
    ------
    InputError
    CheckpointError
    """
    from ..errors import InputError
    from ..formats.inputs import load_input
    from ..measure import sample_rows
    from ._rows import rows_of

    loaded = load_input(args.input, args.format, args.tensor)
    if loaded.words is not None and args.rows == "tokenizer":
        raise InputError("--rows tokenizer: a word-vector file has no token ids (use --rows all)")
    sel = rows_of(args, loaded.X)
    if drop_rows and sel.n_keep < len(loaded.X):
        loaded.X = loaded.X[:sel.n_keep]
    rows = None
    if sample:
        rows = sample_rows(len(loaded.X), args.sample, args.seed)
        if rows is not None:
            loaded.X = loaded.X[rows]
            if loaded.words is not None:
                loaded.words = [loaded.words[i] for i in rows]
    return loaded, rows, sel


def sample_record(args, n_total: int, rows) -> dict | None:
    """The ``sample`` JSON entry: rows used, of how many, seed (None when all rows were used)."""
    if rows is None:
        return None
    return {"n": int(len(rows)), "of": int(n_total), "seed": int(args.seed)}
