# SPDX-License-Identifier: MIT
"""Strings that come from a server or a disk: checked before they are kept, escaped when shown.

Apart from :mod:`.http` so that local run directories use the same checks without importing httpx.
"""
from __future__ import annotations

import unicodedata


def shown(s, limit: int = 80) -> str:
    """A string from a server (or the environment) as it may appear in a message: ASCII-escaped (no
    control character, no line break reaches a terminal or a TSV) and cut to ``limit`` characters."""
    s = str(s)
    return ascii(s[:limit]) + ("..." if len(s) > limit else "")


def unsafe_name(name) -> bool:
    """True for a name that must not be written or shown: not a string, empty, or holding a control,
    format or line/paragraph-separator character (a tab or newline would forge TSV rows)."""
    return (not isinstance(name, str) or not name
            or any(unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") for c in name))
