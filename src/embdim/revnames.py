# SPDX-License-Identifier: MIT
"""Revision names of checkpoint suites -> training step (and tokens seen), parsed strictly.

Suites name their checkpoints differently: Pythia ``step1000``, Megatron/NeoX ``global_step1000`` and
``iter_0001000``, the HF Trainer ``checkpoint-1000``, LLM360 ``ckpt_000123``, OLMo
``stage1-step101000-tokens424B``. A name is matched whole (``fullmatch``) against ASCII digits only,
so ``step\\u0663`` (an Arabic-Indic 3), ``step-1`` or ``step 1`` are never steps; a name that matches
no pattern is ``unnumbered`` in the listing and never measured.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from .errors import ConfigError

# Pythia trains on 1024 sequences of 2048 tokens per step (Biderman et al. 2023, arXiv:2304.01373, sec. 2).
TOKENS_PER_STEP = 1024 * 2048

# (pattern, why) in order of preference: when two names of one run give the same step, the one
# matched by the earlier pattern is measured. Zero-padded names are the norm only for iter_/ckpt_;
# elsewhere one canonical spelling per step (step01 would alias step1).
_N = "0|[1-9][0-9]*"  # canonical: no leading zero
DEFAULT_PATTERNS = (
    rf"step(?P<step>{_N})",                                          # Pythia
    rf"global_step(?P<step>{_N})",                                   # Megatron / GPT-NeoX / DeepSpeed
    r"iter_(?P<step>[0-9]+)",                                        # Megatron-LM iter_0001000
    rf"checkpoint-(?P<step>{_N})",                                   # HF Trainer
    r"ckpt_(?P<step>[0-9]+)",                                        # LLM360 ckpt_000123
    rf"stage[0-9]+-step(?P<step>{_N})-tokens(?P<tokens>[0-9]+)B",    # OLMo, tokens in billions
)
# A revision name usable as a path component and a Snakemake wildcard value (the `revision`
# constraint of workflow/rules/common.smk): no separator, no leading dot or dash.
SAFE_REVISION = r"[A-Za-z0-9_][A-Za-z0-9._+-]*"
_SAFE = re.compile(SAFE_REVISION, re.ASCII)
# tokens in the name are billions (OLMo's `tokens424B`).
_TOKENS_UNIT = 10**9


class Parsed(NamedTuple):
    step: int
    tokens: int | None  # tokens seen, when the name says so
    rank: int           # index of the pattern that matched (lower = preferred)


def compile_patterns(pattern: str | None = None) -> tuple[re.Pattern, ...]:
    """The user's ``revision_pattern`` (a regex with a named group ``step``, optionally
    ``tokens``), or the defaults when ``None``; compiled ASCII-only.

    Raises
    ------
    ConfigError
        The pattern does not compile, lacks ``(?P<step>...)`` or has a group other than step/tokens.
    """
    if pattern is None:
        return tuple(re.compile(p, re.ASCII) for p in DEFAULT_PATTERNS)
    try:
        rx = re.compile(pattern, re.ASCII)
    except (re.error, TypeError) as e:
        raise ConfigError(f"revision_pattern {pattern!r}: not a regular expression ({e})") from e
    if "step" not in rx.groupindex:
        raise ConfigError(f"revision_pattern {pattern!r}: needs a named group (?P<step>...)")
    extra = set(rx.groupindex) - {"step", "tokens"}
    if extra:
        raise ConfigError(f"revision_pattern {pattern!r}: unknown named group(s) {', '.join(sorted(extra))} "
                          "(only step and tokens)")
    return (rx,)


def parse_revision(name, patterns: tuple[re.Pattern, ...] | None = None) -> Parsed | None:
    """``(step, tokens, rank)`` of a revision name, or ``None`` (unnumbered).

    A name that is not a safe path component is unnumbered whatever the pattern says: it could
    not be a result directory."""
    if not isinstance(name, str) or not _SAFE.fullmatch(name):
        return None
    for rank, rx in enumerate(patterns or compile_patterns()):
        m = rx.fullmatch(name)
        if not m:
            continue
        step, tokens = m.group("step"), m.groupdict().get("tokens")
        # int() would accept other scripts' digits and '_'; the group itself must be ASCII digits
        if step is None or not step.isascii() or not step.isdigit():
            return None
        if tokens is not None and not (tokens.isascii() and tokens.isdigit()):
            tokens = None
        return Parsed(int(step), int(tokens) * _TOKENS_UNIT if tokens is not None else None, rank)
    return None


def tokens_seen(step: int | None, tokens: int | None, tokens_per_step: int = TOKENS_PER_STEP) -> int | None:
    """Tokens seen at a checkpoint: the name's own count where it carries one, else step x tokens_per_step."""
    if tokens is not None:
        return tokens
    return None if step is None else step * tokens_per_step
