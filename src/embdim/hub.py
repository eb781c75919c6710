# SPDX-License-Identifier: MIT
"""Hub access: list revisions, resolve files, and read ONE tensor with HTTP range requests.

``huggingface_hub`` does the endpoints, auth (``HF_TOKEN`` or a stored login), URLs and the API calls
(``list_repo_refs``, ``list_repo_tree``, ``get_paths_info``, ``model_info``); we add what it lacks:

- retries of those API calls on 408/429/5xx and network errors (``HfApi`` does not retry most of them);
- ranged GETs that retry, resume, follow CDN redirects and check every answer, with exact byte
  accounting (:mod:`embdim.rangeread`);
- locating the tensor: the index json of sharded checkpoints, then the safetensors header or the
  torch-zip directory + ``data.pkl`` (:mod:`embdim.checkpoint`, :mod:`embdim.torchzip`).

``list_repo_tree`` retries inside huggingface_hub too (its ``http_backoff``, 1 s base), so a failing
tree listing may be tried more often than ``max_retries``.

The token is only ever put in request headers; no message, log line or file written contains it.
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from huggingface_hub import HfApi, hf_hub_url
from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError, HFValidationError,
                                    OfflineModeIsEnabled, RepositoryNotFoundError, RevisionNotFoundError)
from huggingface_hub.hf_api import RepoFile

from . import __version__
from .checkpoint import (WEIGHT_FILES, is_weight_file, locate_tensor, parse_weight_index, pick_weight_file,
                         read_tensor_bytes, resolve_tensor_name)
from .errors import CheckpointError, HubError, InputError, NotFoundError, TensorNotFoundError
from .rangeread import NETWORK_ERRORS, RETRY_STATUS, RangeReader, _retry_after


# -- helpers ----------------------------------------------------------------------------------------
def quiet_hub_logs() -> None:
    """Silence huggingface_hub's own retry warnings (its tree listing retries internally)."""
    from huggingface_hub.utils import logging as hf_logging
    hf_logging.set_verbosity_error()


def parse_step(name: str) -> int | None:
    """Training step from a branch/directory name: ``step1000`` -> 1000; anything else -> None."""
    m = re.fullmatch(r"(?:global_)?step[_-]?(\d+)", name)
    return int(m.group(1)) if m else None


@dataclass
class FetchResult:
    """One fetched tensor and where it came from (``raw`` is little-endian, C order)."""

    repo: str
    revision: str
    commit: str
    file: str
    tensor: str
    dtype: str
    shape: tuple
    raw: bytes
    bytes_downloaded: int
    blob_sha256: str | None

    def to_dict(self) -> dict:
        return {"repo": self.repo, "revision": self.revision, "commit": self.commit, "file": self.file,
                "tensor": self.tensor, "dtype": self.dtype, "shape": list(self.shape),
                "bytes_downloaded": self.bytes_downloaded, "blob_sha256": self.blob_sha256,
                "tensor_sha256": hashlib.sha256(self.raw).hexdigest()}


class HubClient(RangeReader):
    """Talks to the Hub (``HF_ENDPOINT`` or ``endpoint``): API calls with retries + ranged reads.

    Parameters are those of :class:`embdim.rangeread.RangeReader` (endpoint, token, backoff_base,
    max_retries, on_bytes).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.api = HfApi(endpoint=self.endpoint, token=self._token, library_name="embdim",
                         library_version=__version__)

    def _api(self, what: str, fn, *, repo_id: str, revision: str | None = None, filename: str | None = None):
        """Run one huggingface_hub API call with retries; map its errors to embdim's."""
        failures = 0
        ctx = {"repo_id": repo_id, "revision": revision, "filename": filename}
        while True:
            try:
                return fn()
            except HFValidationError as e:
                raise InputError(f"{repo_id!r} is neither a directory nor a valid Hub repo id "
                                 "(namespace/name)", **ctx) from e
            except OfflineModeIsEnabled as e:
                raise HubError(f"{what}: HF_HUB_OFFLINE is set; unset it to reach the Hub", **ctx) from e
            except GatedRepoError as e:
                raise HubError(f"{repo_id} is gated: accept its terms on the Hub and set HF_TOKEN", **ctx) from e
            except RepositoryNotFoundError as e:
                raise NotFoundError(f"{repo_id}: repository not found (check the id; private repos need "
                                    "HF_TOKEN)", **ctx) from e
            except RevisionNotFoundError as e:
                raise NotFoundError(f"{repo_id}: revision {revision!r} not found", **ctx) from e
            except EntryNotFoundError as e:
                raise NotFoundError(f"{repo_id}@{revision}: {filename} not found", **ctx) from e
            except HfHubHTTPError as e:
                status = e.response.status_code if e.response is not None else None
                if status in (401, 403):
                    raise HubError(f"{what}: access denied (HTTP {status}); check HF_TOKEN / login and the "
                                   "repo's access terms", **ctx) from e
                if status not in RETRY_STATUS:
                    raise HubError(f"{what} failed with HTTP {status}", **ctx) from e
                err, retry_after, why = e, _retry_after(e.response.headers), f"HTTP {status}"
            except NETWORK_ERRORS as e:
                err, retry_after, why = e, None, type(e).__name__
            failures += 1
            if failures > self.max_retries:
                raise HubError(f"{what}: still failing after {self.max_retries} retries ({why})", **ctx) from err
            self._sleep(failures, retry_after, what, why)

    # -- API ------------------------------------------------------------------------------------
    def resolve_commit(self, repo: str, revision: str) -> str:
        """The 40-hex commit a revision points at (``model_info`` with ``expand=sha``: a tiny answer)."""
        info = self._api("model_info", lambda: self.api.model_info(repo, revision=revision, expand=["sha"]),
                         repo_id=repo, revision=revision)
        if not info.sha:
            raise HubError(f"{repo}@{revision}: the Hub gave no commit sha", repo_id=repo, revision=revision)
        return info.sha

    def paths_info(self, repo: str, revision: str, paths: list[str]) -> dict[str, RepoFile]:
        got = self._api("paths-info", lambda: self.api.get_paths_info(repo, paths, revision=revision),
                        repo_id=repo, revision=revision)
        return {f.path: f for f in got if isinstance(f, RepoFile)}

    def list_files(self, repo: str, revision: str) -> dict[str, RepoFile]:
        """Files at the top of the tree (weights live there), with LFS sha256."""
        got = self._api("list_repo_tree", lambda: list(self.api.list_repo_tree(repo, revision=revision)),
                        repo_id=repo, revision=revision)
        return {f.path: f for f in got if isinstance(f, RepoFile)}

    def list_refs(self, repo: str):
        return self._api("list_repo_refs", lambda: self.api.list_repo_refs(repo), repo_id=repo)

    def url(self, repo: str, filename: str, commit: str) -> str:
        return hf_hub_url(repo, filename, revision=commit, endpoint=self.endpoint)

    def _read_index(self, repo: str, commit: str, info: RepoFile) -> dict[str, str]:
        lfs = info.lfs.sha256 if info.lfs else None
        raw = self.get_file(self.url(repo, info.path, commit), info.size, sha256=lfs,
                            git_oid=None if lfs else info.blob_id)
        return parse_weight_index(raw, info.path)

    # -- the two commands -----------------------------------------------------------------------
    def fetch_tensor(self, repo: str, revision: str, tensor: str | None = None) -> FetchResult:
        """Read one tensor of ``repo@revision`` with range requests (header/index + the tensor's bytes).

        Raises
        ------
        NotFoundError, TensorNotFoundError, HubError, IntegrityError, CheckpointError
        """
        ctx = {"repo_id": repo, "revision": revision}
        commit = self.resolve_commit(repo, revision)
        infos = self.paths_info(repo, commit, list(WEIGHT_FILES))
        entry = pick_weight_file(infos)
        if entry is None:  # unusual file names: one listing of the tree
            infos = self.list_files(repo, commit)
            entry = pick_weight_file(infos)
        if entry is None:
            raise NotFoundError(f"{repo}@{revision}: no weight file (model.safetensors, pytorch_model.bin or a "
                                "sharded index)", **ctx)
        want, info = tensor, infos[entry]
        if entry.endswith(".index.json"):
            wm = self._read_index(repo, commit, info)
            try:
                want = resolve_tensor_name(wm, tensor)
            except TensorNotFoundError as e:
                raise TensorNotFoundError(f"{repo}@{revision}: {e}", tensor=tensor, **ctx) from e
            shard = posixpath.normpath(posixpath.join(posixpath.dirname(entry), wm[want]))
            info = self.paths_info(repo, commit, [shard]).get(shard)
            if info is None:
                raise NotFoundError(f"{repo}@{revision}: shard {shard} named in {entry} is missing", **ctx)
        sha = info.lfs.sha256 if info.lfs else None
        url = self.url(repo, info.path, commit)

        def read_range(s: int, e: int) -> bytes:
            # Only lengths can be checked for a range: the file's sha256 covers the whole file. Each
            # response's X-Linked-Etag is compared to it, so all ranges come from the same blob.
            return self.get_range(url, s, e, size=info.size, sha256=sha)

        try:
            loc = locate_tensor(read_range, info.size, info.path, want)
        except TensorNotFoundError as e:
            raise TensorNotFoundError(f"{repo}@{revision} {info.path}: {e}", tensor=tensor, filename=info.path,
                                      **ctx) from e
        raw = read_tensor_bytes(read_range, loc)
        return FetchResult(repo, revision, commit, info.path, loc.name, loc.dtype, loc.shape, raw,
                           self.bytes_downloaded, sha)

    def list_revisions(self, repo: str, tensor: str | None = None, workers: int = 4) -> list[dict]:
        """One row per branch: step, commit, weight files, the file holding ``tensor`` and its sha256.

        One tree listing per branch, plus the index json for sharded checkpoints.
        """
        refs = self.list_refs(repo)

        def row(branch) -> dict:
            files = self.list_files(repo, branch.target_commit)
            out = {"revision": branch.name, "step": parse_step(branch.name), "commit": branch.target_commit,
                   "files": sorted(p for p in files if is_weight_file(p)), "file": None, "blob_sha256": None,
                   "status": "no-weights"}
            entry = pick_weight_file(files)
            if entry is None:
                return out
            if entry.endswith(".index.json"):
                try:  # an unreadable index or a tensor it does not list: nothing to fetch there
                    wm = self._read_index(repo, branch.target_commit, files[entry])
                    entry = posixpath.normpath(posixpath.join(posixpath.dirname(entry),
                                                              wm[resolve_tensor_name(wm, tensor)]))
                except (TensorNotFoundError, CheckpointError):
                    return out
                if entry not in files:
                    return out
            lfs = files[entry].lfs
            out.update(file=entry, blob_sha256=lfs.sha256 if lfs else None, status="ok")
            return out

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            rows = list(pool.map(row, refs.branches))
        return sort_rows(rows)


def sort_rows(rows: list[dict]) -> list[dict]:
    """Sort by step (unnumbered branches last, by name) and mark blobs already seen at an earlier row."""
    rows = sorted(rows, key=lambda r: (r["step"] is None, r["step"] or 0, r["revision"]))
    first: dict[str, str] = {}
    for r in rows:
        sha = r.get("blob_sha256")
        r["duplicate_of"] = first.get(sha) if sha else None
        if sha and sha not in first:
            first[sha] = r["revision"]
    return rows
