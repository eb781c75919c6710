# SPDX-License-Identifier: MIT
"""Shared setup for the hostile-input tests (issue 10). Case generators live in ``craft.py``.

``tests/`` has no ``__init__.py`` while ``tests/hostile/`` does, so a bare ``pytest tests/hostile``
puts ``tests/`` (not the repository root) on ``sys.path``; add the root so ``tests.*`` imports work
whether pytest is started as ``pytest`` or ``python -m pytest``.
"""
from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
