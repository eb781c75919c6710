# SPDX-License-Identifier: MIT
"""Command-line entry point: ``embdim SUBCOMMAND ...``.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``; the parser sets
``func`` (returns a result dict) and optionally ``human`` (dict -> text). Errors map to exit codes
through ``EXIT_CODES`` (ordered, subclass first).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import traceback

from .. import __version__
from ..errors import (CheckpointError, ConfigError, EmbdimError, HubError, InputError,
                      NotFoundError)

# Subclass first: NotFoundError is a HubError.
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (InputError, 2),
    (ConfigError, 2),
    (NotFoundError, 3),
    (HubError, 4),
    (CheckpointError, 5),
    (EmbdimError, 2),
]

# Module names under embdim.cli, in help order.
SUBCOMMANDS = ["revisions", "fetch", "estimate", "geometry", "baseline", "train_demo",
               "summarize", "plot"]

EPILOG = """examples:
  embdim revisions EleutherAI/pythia-70m --json
  embdim fetch EleutherAI/pythia-70m --revision step1000 --out e.safetensors
  embdim estimate e.safetensors --estimator mle --k 10 --json
"""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its message to one line plus usage."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="embdim", description="Intrinsic dimension of LM token embeddings over training.",
                     epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"embdim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        modname = f"{__name__}.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).add_parser(sub)
    return parser


def exit_code_for(exc: BaseException) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


def emit(result: dict, as_json: bool, human=None) -> None:
    """Print one JSON object (``--json``) or the human summary on stdout."""
    if as_json:
        sys.stdout.write(json.dumps(result, default=_jsonable) + "\n")
    else:
        sys.stdout.write((human(result) if human else _default_human(result)).rstrip("\n") + "\n")


def with_provenance(result: dict, args, meta: dict) -> dict:
    """Add the input's provenance (file, tensor, dtype, shape) and the package version."""
    result.update(input=str(args.input), tensor=meta.get("tensor"), dtype=meta.get("dtype"),
                  shape=meta.get("shape"), version=__version__)
    return result


def write_json(path, result: dict) -> None:
    """Write ``result`` to ``path`` as JSON, atomically, creating the parent directory."""
    from pathlib import Path

    from ..checkpoint import atomic_write
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, [(json.dumps(result, indent=2, default=_jsonable) + "\n").encode()])


def _jsonable(o):
    import numpy as np
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _default_human(result: dict) -> str:
    return "\n".join(f"{k}: {v}" for k, v in result.items() if not isinstance(v, (list, dict)))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    as_json = bool(getattr(args, "json", False))
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("embdim: interrupted", file=sys.stderr)
        return 130
    except EmbdimError as e:
        code = exit_code_for(e)
        msg = " ".join(str(e).split())  # one line, whatever the cause looked like
        print(f"embdim {args.command}: error: {msg}", file=sys.stderr)
        if as_json:
            emit({"error": {"type": type(e).__name__, "message": msg, "exit_code": code}}, True)
        return code
    except Exception as e:  # a bug: keep the traceback for the report
        traceback.print_exc()
        if as_json:
            emit({"error": {"type": type(e).__name__, "message": str(e), "exit_code": 1}}, True)
        return 1
    if result is not None:
        emit(result, as_json, getattr(args, "human", None))
    return 0


def run() -> None:
    sys.exit(main())
