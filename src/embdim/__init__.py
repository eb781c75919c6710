# SPDX-License-Identifier: MIT
"""embdim: intrinsic dimension of LM token embeddings over training."""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "estimate"]


def __getattr__(name: str):
    # Lazy so `embdim --help` and the Hub commands never import faiss/torch.
    if name == "estimate":
        from .estimators import estimate
        return estimate
    raise AttributeError(name)
