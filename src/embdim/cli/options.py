# SPDX-License-Identifier: MIT
"""Option builders shared by the subcommands: one spelling, one default, one help text each.

Conventions: ``--out`` is always the result file (JSON, TSV or tensor) and ``--out-dir`` a
directory; ``--json`` prints one JSON object on stdout; ``--tensor`` defaults to the input
embedding everywhere; field names follow the summary (``ed``, ``k``).
"""
from __future__ import annotations

import argparse

from ..estimators import AGGREGATES, NORMALIZATIONS

DEVICES = ("auto", "cpu", "cuda")
TENSOR_HELP = ("embed_in (default: the input embedding; in a file with one 2-D tensor, that "
               "tensor), embed_out, or a full tensor name")


def command(subparsers, name: str, *, help: str, description: str,
            epilog: str | None = None) -> argparse.ArgumentParser:
    """A subcommand parser whose epilog (examples, JSON keys, exit codes) keeps its line breaks."""
    return subparsers.add_parser(name, help=help, description=description, epilog=epilog,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def add_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="INPUT",
                   help=".npy, .safetensors, torch .bin or word-vector file (see --format)")


def add_tensor(p: argparse.ArgumentParser) -> None:
    """``--tensor``; None means embed_in (or a file's only 2-D tensor), the same for every command."""
    p.add_argument("--tensor", default=None, help=TENSOR_HELP)


def add_convention(p: argparse.ArgumentParser, *, what: str = "MLE") -> None:
    """``--normalization`` and ``--aggregate`` of the MLE."""
    p.add_argument("--normalization", choices=tuple(NORMALIZATIONS), default="k-1",
                   help=f"{what} numerator: k-1 (Levina-Bickel, default), k-2 or k, over "
                        "S = sum_{j<k} ln(T_k/T_j)")
    p.add_argument("--aggregate", choices=AGGREGATES, default="harmonic",
                   help=f"{what} global value: harmonic (default), mean or median")


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="kNN device (default auto: cuda when available)")


def add_knn(p: argparse.ArgumentParser, *, threads: bool = False) -> None:
    """``--device``, ``--precision``, ``--knn-engine`` (and ``--threads``) of the exact kNN."""
    from ..knn import ENGINES

    add_device(p)
    p.add_argument("--precision", choices=("bf16", "fp32", "fp64"), default=None,
                   help="first tier of the kNN candidate search (older switch; see "
                        "--knn-engine); results are exact either way")
    p.add_argument("--knn-engine", choices=("auto",) + ENGINES, default=None,
                   help="kNN candidate engine (default auto, or $EMBDIM_KNN_ENGINE: torch-bf16 "
                        "on CUDA and on CPUs with native bf16, sym-fp32 on other CPUs); "
                        "results are exact with every engine")
    if threads:
        p.add_argument("--threads", type=int, default=None,
                       help="CPU threads for the kNN (default: torch's own choice)")


def add_output(p: argparse.ArgumentParser, *, metavar: str = "PATH.json", required: bool = False,
               help: str | None = None) -> None:
    """``--json`` and ``--out`` (the result file)."""
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--out", default=None, required=required, metavar=metavar,
                   help=help or "also write the JSON result here (atomically)")


def add_network_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by the commands that talk to the Hub."""
    p.add_argument("--max-retry-after", type=float, default=None, metavar="SECONDS",
                   help="longest Retry-After to wait for (default: EMBDIM_MAX_RETRY_AFTER or 300); "
                        "a longer one fails at once")


def fmt(v, digits: int = 4) -> str:
    """A number for the human summaries; ``n/a`` for a missing one."""
    return "n/a" if v is None else f"{v:.{digits}g}"
