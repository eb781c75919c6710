# SPDX-License-Identifier: MIT
"""``embdim geometry``: anisotropy, norm of the mean vs variance, isotropy, PCA dimension."""
from __future__ import annotations

import argparse

from ._rows import ROWS_DOC, add_rows_flags
from .inputs import add_format_arg, add_sample_args
from .options import add_input, add_output, add_tensor, command, fmt

EPILOG = """examples:
  embdim geometry e.safetensors --json
  embdim geometry e.safetensors --tensor embed_out --out geometry.json
  embdim geometry wiki-news-300d-1M-subword.vec --sample 10000 --json

Computed on the deduplicated rows, streaming in float64. Keys: n, n_unique, d, mean_cosine,
top_sv_share (uncentred), top_pc_share (centred), mean_norm_sq, variance, q, mean_norm_ratio,
isotropy (Mu & Viswanath 2018), pca_dim_90/95/99 (centred), effective_rank (Roy & Vetterli 2007,
uncentred), n_rows_total, rows, n_tokens, tokenizer, format, sample {n, of, seed} (null: all
rows), plus provenance: input, tensor, dtype, shape, version.
""" + ROWS_DOC + "\n"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = command(
        subparsers, "geometry", help="geometry of an embedding matrix beside its ID",
        description="Anisotropy, norm of the mean vs variance, isotropy, PCA dimension and effective "
                    "rank of a .npy or .safetensors matrix.",
        epilog=EPILOG)
    add_input(p)
    add_format_arg(p)
    add_sample_args(p)
    add_tensor(p)
    add_output(p)
    add_rows_flags(p)
    p.set_defaults(func=run, human=format_human)
    return p


def run(args: argparse.Namespace) -> dict:
    from ..geometry import compute_geometry
    from .inputs import load, sample_record
    from ..io import write_json
    from . import with_provenance

    loaded, rows, sel = load(args)
    meta = loaded.meta
    geo = compute_geometry(loaded.X).to_dict()
    result = with_provenance({**geo, **sel.to_dict()}, args, meta)
    result.update(format=meta.get("format", "matrix"), sample=sample_record(args, sel.n_keep, rows))
    if args.out:
        write_json(args.out, result)
    return result


def format_human(r: dict) -> str:
    def f(v):
        return fmt(v, 6)
    return "\n".join([
        f"{r['input']}  tensor={r['tensor']}  dtype={r['dtype']}  shape={r['shape']}",
        f"rows: {r['n']} ({r['n_unique']} distinct), d={r['d']}",
        f"mean cosine (distinct pairs): {f(r['mean_cosine'])}",
        f"top singular value share (uncentred): {f(r['top_sv_share'])}",
        f"top principal component share (centred): {f(r['top_pc_share'])}",
        f"|mean|^2: {f(r['mean_norm_sq'])}  variance: {f(r['variance'])}  Q: {f(r['q'])}  "
        f"ratio: {f(r['mean_norm_ratio'])}",
        f"isotropy I(W): {f(r['isotropy'])}",
        f"PCA dim 90/95/99%: {r['pca_dim_90']}/{r['pca_dim_95']}/{r['pca_dim_99']}  "
        f"effective rank: {f(r['effective_rank'])}",
    ])
