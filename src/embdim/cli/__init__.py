# SPDX-License-Identifier: MIT
"""Command-line entry point: ``embdim SUBCOMMAND ...``.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``; the parser sets
``func`` (returns a result dict) and optionally ``human`` (dict -> text). Errors map to exit codes
through ``EXIT_CODES`` (ordered, subclass first) in :func:`main`, the one place where exceptions become
exit codes: an embdim error is one line on stderr; anything else is a bug and keeps its traceback.
Output paths (``--out``, ``--out-dir``) are checked before any work starts (:func:`check_out_path`).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import os
import sys
import traceback
from pathlib import Path

from .. import __version__
from ..errors import (CheckpointError, ConfigError, EmbdimError, HubError, InputError,
                      NotFoundError)
from ..io import jsonable

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
SUBCOMMANDS = ["revisions", "fetch", "measure", "estimate", "geometry", "baseline", "train_demo",
               "static", "summarize", "integrity", "plot"]
SUBCOMMANDS += ["fetch_tokenizer", "tokens"]  # issue 13: tokenizer-aware rows, per-token view
SUBCOMMANDS += ["sample_text", "fetch_checkpoint", "hidden", "layers"]  # issue 14: hidden states

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


def check_out_path(path, flag: str = "--out", directory: bool = False) -> None:
    """Refuse an output path that cannot be written, before any work: a file output that is a
    directory, a directory output that is a file, or a path under something that is not a directory.

    Raises
    ------
    InputError
    """
    p = Path(path)
    if directory:
        if os.path.lexists(p) and not p.is_dir():
            raise InputError(f"{flag} {path}: exists and is not a directory")
    elif p.is_dir() or str(path).endswith(("/", os.sep)):
        raise InputError(f"{flag} {path}: is a directory; give a file name")
    for parent in p.absolute().parents:  # nearest existing ancestor: a directory we may write in
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise InputError(f"{flag} {path}: {parent} is not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise InputError(f"{flag} {path}: cannot write in {parent}")
            return


def _check_outputs(args) -> None:
    if getattr(args, "out", None):
        check_out_path(args.out, "--out")
    if getattr(args, "out_dir", None):
        check_out_path(args.out_dir, "--out-dir", directory=True)


class _StderrHandler(logging.Handler):
    """Writes to the current ``sys.stderr`` (looked up at each record, as pytest swaps it)."""

    def emit(self, record) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


def _log_to_stderr() -> None:
    """Warnings of the embdim loggers (e.g. a long rate-limit wait) as ``embdim: ...`` lines."""
    logger = logging.getLogger("embdim")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        h = _StderrHandler(logging.WARNING)
        h.setFormatter(logging.Formatter("embdim: %(message)s"))
        logger.addHandler(h)


def _exit_on_sigterm() -> None:
    """SIGTERM (Snakemake, SLURM) and SIGHUP raise SystemExit in every command, so the ``finally`` and
    ``except BaseException`` blocks of the writers (``io.atomic_write``) remove their temporary files."""
    import signal

    def stop(signum, frame):
        raise SystemExit(128 + signum)
    try:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, stop)
    except ValueError:  # not the main thread (main() called from library code): leave signals alone
        pass


def exit_code_for(exc: BaseException) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


def emit(result: dict, as_json: bool, human=None) -> None:
    """Print one JSON object (``--json``) or the human summary on stdout."""
    if as_json:
        sys.stdout.write(json.dumps(result, default=jsonable) + "\n")
    else:
        sys.stdout.write((human(result) if human else _default_human(result)).rstrip("\n") + "\n")


def provenance(args, meta: dict) -> dict:
    """The input's provenance (file, tensor, dtype, shape, tensor_sha256, and the fetch's ``source``
    record where the file has one) and the package version."""
    out = {"input": str(args.input), "tensor": meta.get("tensor"), "dtype": meta.get("dtype"),
           "shape": meta.get("shape"), "version": __version__}
    for key in ("tensor_sha256", "source"):
        if meta.get(key):
            out[key] = meta[key]
    return out


def with_provenance(result: dict, args, meta: dict) -> dict:
    """Add :func:`provenance` to ``result`` at its top level."""
    result.update(provenance(args, meta))
    return result


def _default_human(result: dict) -> str:
    return "\n".join(f"{k}: {v}" for k, v in result.items() if not isinstance(v, (list, dict)))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    as_json = bool(getattr(args, "json", False))
    _log_to_stderr()
    _exit_on_sigterm()
    try:
        _check_outputs(args)
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
