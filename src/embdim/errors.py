# SPDX-License-Identifier: MIT
"""All embdim exceptions, grouped by area; each also subclasses the matching stdlib error.

The CLI maps them to exit codes through one ordered table (``embdim.cli.EXIT_CODES``):
2 bad input/config, 3 not found on the Hub, 4 Hub/network failure, 5 bad checkpoint.
"""
from __future__ import annotations


class EmbdimError(Exception):
    """Root of every error embdim raises on purpose.

    Optional context fields let callers (and the CLI) say exactly what to check.
    """

    def __init__(self, message: str, *, repo_id: str | None = None, revision: str | None = None,
                 filename: str | None = None, tensor: str | None = None,
                 byte_range: tuple[int, int] | None = None):
        super().__init__(message)
        self.message = message
        self.repo_id = repo_id
        self.revision = revision
        self.filename = filename
        self.tensor = tensor
        self.byte_range = byte_range

    def __str__(self) -> str:
        return self.message


# -- input and configuration -------------------------------------------------------------------
class InputError(EmbdimError, ValueError):
    """Raised when user-supplied data or arguments cannot be used (bad file, NaN, too few rows)."""


class ConfigError(EmbdimError, ValueError):
    """Raised when a workflow configuration is invalid; the message names the bad key."""


# -- Hub and network -----------------------------------------------------------------------------
class HubError(EmbdimError, OSError):
    """Raised when the Hub or the network keeps failing after all retries."""


class NotFoundError(HubError, FileNotFoundError):
    """Raised when a repo, revision, file or tensor does not exist (locally or on the Hub)."""


class TensorNotFoundError(NotFoundError, KeyError):
    """Raised when the requested tensor is in none of the revision's weight files."""

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return self.message


class IntegrityError(HubError):
    """Raised when downloaded bytes do not match the expected length or sha256."""


# -- checkpoints -----------------------------------------------------------------------------------
class CheckpointError(EmbdimError, ValueError):
    """Raised when a checkpoint file is unreadable, malformed or unsafe (e.g. a pickle global
    outside the allow-list)."""


class UnsafeCheckpointError(CheckpointError):
    """Raised when a pickle asks for a global that is not on the allow-list; nothing is executed."""
