# SPDX-License-Identifier: MIT
"""A checkpoint's ``tokenizer.json``: from the Hub (one paths-info call, then the file, checked
against its git blob id or LFS sha256, at most once per blob: a content-addressed cache) or from a
local run (the step directory, else the run directory). Whatever is found is validated
(:func:`embdim.formats.tokenizer.count_tokens`) before it is kept."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, InputError, NotFoundError
from ..formats.tokenizer import MAX_TOKENIZER_BYTES, TOKENIZER_FILE, count_tokens, read_tokenizer_bytes
from ..io import atomic_write
from .names import shown, unsafe_name


@dataclass
class TokenizerFile:
    """The file's bytes, where it came from, its blob id, its token count and whether the cache
    (not the network) supplied it."""

    raw: bytes
    source: str
    blob: str
    n_tokens: int
    cached: bool = False
    bytes_downloaded: int = 0

    def to_dict(self) -> dict:
        return {"source": self.source, "blob": self.blob, "size": len(self.raw),
                "n_tokens": self.n_tokens, "cached": self.cached,
                "bytes_downloaded": self.bytes_downloaded}


def _from_cache(cache: Path | None, blob: str, check) -> bytes | None:
    if cache is None or not (cache / f"{blob}.json").is_file():
        return None
    raw = read_tokenizer_bytes(cache / f"{blob}.json")
    return raw if check(raw) else None  # a damaged cache entry is fetched again


def hub_tokenizer(client, repo: str, revision: str, cache: str | os.PathLike | None = None) -> TokenizerFile:
    """``tokenizer.json`` of ``repo@revision`` through ``client`` (a :class:`HubClient`: retries,
    size caps, byte accounting); with ``cache``, each blob is downloaded once and kept there as
    ``<blob id>.json``.

    Raises
    ------
    NotFoundError
        The revision has no tokenizer.json.
    CheckpointError
        Larger than the cap, or not a tokenizer.
    HubError, IntegrityError
    """
    from .hub import _BareNotFound  # the network stack only here: a local run never loads it
    from .rangeread import git_blob_sha1

    try:
        info = client.paths_info(repo, revision, [TOKENIZER_FILE]).get(TOKENIZER_FILE)
    except _BareNotFound:  # a server without paths-info: the tree listing says the same
        info = client.list_files(repo, revision).get(TOKENIZER_FILE)
    if info is None:
        raise NotFoundError(f"{repo}@{revision}: no {TOKENIZER_FILE}", repo_id=repo, revision=revision)
    if info.size > MAX_TOKENIZER_BYTES:
        raise CheckpointError(f"{repo}@{revision} {TOKENIZER_FILE}: {info.size} bytes is larger than the "
                              f"{MAX_TOKENIZER_BYTES >> 20} MiB accepted", repo_id=repo, revision=revision)
    blob = info.sha256 or info.oid
    if blob is None:
        raise CheckpointError(f"{repo}@{revision}: the listing gives {TOKENIZER_FILE} no blob id to check")

    def check(raw: bytes) -> bool:
        return (hashlib.sha256(raw).hexdigest() if info.sha256 else git_blob_sha1(raw)) == blob
    cache_dir = Path(cache) if cache is not None else None
    raw = _from_cache(cache_dir, blob, check)
    before = client.bytes_downloaded
    cached = raw is not None
    if raw is None:
        raw = bytes(client.get_file(client.url(repo, TOKENIZER_FILE, revision), info.size,
                                    sha256=info.sha256, git_oid=None if info.sha256 else info.oid))
    n = count_tokens(raw, f"{repo}@{revision} {TOKENIZER_FILE}")
    if cache_dir is not None and not cached:
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(cache_dir / f"{blob}.json", [raw])
    return TokenizerFile(raw, f"{repo}@{revision}/{TOKENIZER_FILE}", blob, n, cached,
                         client.bytes_downloaded - before)


def local_tokenizer(run_dir: str | os.PathLike, revision: str) -> TokenizerFile:
    """``run_dir/revision/tokenizer.json``, else ``run_dir/tokenizer.json`` (the demo writes it
    there); only a regular file inside the run directory is read.

    Raises
    ------
    NotFoundError
        Neither exists.
    InputError, CheckpointError
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise NotFoundError(f"{run_dir}: no such directory")
    if not revision or revision in (".", "..") or "/" in revision or os.sep in revision or unsafe_name(revision):
        raise InputError(f"--revision {shown(revision)}: expected a subdirectory name of {run_dir}")
    real = os.path.realpath(root)
    for cand in (root / revision / TOKENIZER_FILE, root / TOKENIZER_FILE):
        if not os.path.lexists(cand):
            continue
        if os.path.commonpath([os.path.realpath(cand), real]) != real:
            raise InputError(f"{cand}: links outside the run directory")
        raw = read_tokenizer_bytes(cand)
        return TokenizerFile(raw, str(cand), hashlib.sha256(raw).hexdigest(), count_tokens(raw, str(cand)))
    raise NotFoundError(f"{run_dir}: no {TOKENIZER_FILE} in {revision}/ or in the run directory")
