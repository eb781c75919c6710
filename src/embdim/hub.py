# SPDX-License-Identifier: MIT
"""Hub access: list revisions, resolve files, and read ONE tensor with HTTP range requests.

``huggingface_hub`` does the endpoints, auth (``HF_TOKEN`` or a stored login), URLs and the API calls
(``list_repo_refs``, ``list_repo_tree``, ``get_paths_info``, ``model_info``); we add what it lacks:

- retries of those API calls on 408/429/5xx and network errors (``HfApi`` does not retry most of them);
- ranged GETs that retry with exponential backoff, never re-send before ``Retry-After``, resume a cut
  body from the last byte received, follow a 302 to a CDN host keeping ``Range`` (the token stays on the
  Hub), and check 206 + ``Content-Range`` + lengths (and the LFS sha256 in ``X-Linked-Etag``);
- byte accounting: every HTTP body byte this process receives through the shared client (API answers
  included) is counted by a transport wrapper, so ``bytes_downloaded`` is exact.

The token is only ever put in request headers; no message, log line or file written contains it.
"""
from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import posixpath
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urljoin, urlsplit

import httpx2
from huggingface_hub import HfApi, constants, hf_hub_url
from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled,
                                    RepositoryNotFoundError, RevisionNotFoundError)
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import build_hf_headers, get_session, set_client_factory
from huggingface_hub.utils._http import hf_request_event_hook

from . import __version__
from .checkpoint import (WEIGHT_FILES, is_weight_file, locate_tensor, parse_weight_index, pick_weight_file,
                         read_tensor_bytes, resolve_tensor_name)
from .errors import HubError, IntegrityError, NotFoundError, TensorNotFoundError

log = logging.getLogger(__name__)

ENV_BACKOFF = "EMBDIM_BACKOFF_BASE"     # seconds before the first retry (doubles each time)
ENV_RETRIES = "EMBDIM_MAX_RETRIES"
# Same temporary failures huggingface_hub retries (utils/_http.py _DEFAULT_RETRY_ON_STATUS_CODES).
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
NETWORK_ERRORS = (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)
MAX_WAIT = 60.0            # cap of the exponential backoff (s)
MAX_RETRY_AFTER = 900.0    # a longer Retry-After is reported instead of slept through (the Hub window is 300 s)
MAX_REDIRECTS = 5
TIMEOUT = httpx2.Timeout(30.0, read=120.0)


# -- byte accounting ----------------------------------------------------------------------------------
class _Counter:
    n = 0


COUNTER = _Counter()


class _CountingStream(httpx2.SyncByteStream):
    def __init__(self, inner):
        self._inner = inner

    def __iter__(self):
        for chunk in self._inner:
            COUNTER.n += len(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _CountingTransport(httpx2.BaseTransport):
    """Wraps the real transport; counts raw body bytes as they arrive."""

    def __init__(self):
        self._inner = httpx2.HTTPTransport()

    def handle_request(self, request):
        response = self._inner.handle_request(request)
        response.stream = _CountingStream(response.stream)
        return response

    def close(self) -> None:
        self._inner.close()


_INSTALLED = False


def _install_counting_client() -> None:
    """Make huggingface_hub's shared client count bytes (same hooks/options as its default factory)."""
    global _INSTALLED
    if not _INSTALLED:
        set_client_factory(lambda: httpx2.Client(transport=_CountingTransport(), timeout=None,
                                                 event_hooks={"request": [hf_request_event_hook]},
                                                 follow_redirects=True))
        _INSTALLED = True


# -- helpers ----------------------------------------------------------------------------------------
def quiet_hub_logs() -> None:
    """Silence huggingface_hub's own retry warnings (its tree listing retries internally)."""
    from huggingface_hub.utils import logging as hf_logging
    hf_logging.set_verbosity_error()


def parse_step(name: str) -> int | None:
    """Training step from a branch/directory name: ``step1000`` -> 1000; anything else -> None."""
    m = re.fullmatch(r"(?:global_)?step[_-]?(\d+)", name)
    return int(m.group(1)) if m else None


def _retry_after(headers) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds, fractional accepted, or an HTTP date)."""
    v = headers.get("retry-after")
    if not v:
        return None
    try:
        return max(0.0, float(v))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(v).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _etag(v: str | None) -> str | None:
    return v.removeprefix("W/").strip('"') if v else None


def _origin(url: str) -> tuple[str, str, int | None]:
    u = urlsplit(url)
    return u.scheme, (u.hostname or "").lower(), u.port


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


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


class HubClient:
    """Talks to the Hub (``HF_ENDPOINT`` or ``endpoint``) through huggingface_hub's shared client.

    Parameters
    ----------
    endpoint : str, optional
        Defaults to ``huggingface_hub.constants.ENDPOINT`` (``HF_ENDPOINT``).
    token : str, optional
        Defaults to ``HF_TOKEN`` or the stored login, as huggingface_hub resolves it.
    backoff_base : float, optional
        First retry wait in seconds (then doubled, capped at 60 s); env ``EMBDIM_BACKOFF_BASE``, default 1.
    max_retries : int, optional
        Retries after the first attempt; env ``EMBDIM_MAX_RETRIES``, default 5.
    on_bytes : callable, optional
        Called with the number of tensor/file bytes received, chunk by chunk (progress display).
    """

    def __init__(self, endpoint: str | None = None, token: str | None = None, backoff_base: float | None = None,
                 max_retries: int | None = None, on_bytes: Callable[[int], None] | None = None):
        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self._token = token
        self.backoff_base = float(backoff_base if backoff_base is not None else os.environ.get(ENV_BACKOFF, 1.0))
        self.max_retries = int(max_retries if max_retries is not None else os.environ.get(ENV_RETRIES, 5))
        self.on_bytes = on_bytes
        self.api = HfApi(endpoint=self.endpoint, token=token, library_name="embdim", library_version=__version__)
        _install_counting_client()
        self._start = COUNTER.n

    @property
    def bytes_downloaded(self) -> int:
        """HTTP body bytes received since this client was made (API answers included)."""
        return COUNTER.n - self._start

    # -- retry policy ---------------------------------------------------------------------------
    def _sleep(self, failures: int, retry_after: float | None, what: str, why: str) -> None:
        wait = min(MAX_WAIT, self.backoff_base * 2 ** (failures - 1))
        if retry_after is not None:
            if retry_after > MAX_RETRY_AFTER:
                raise HubError(f"{what}: rate limited, server asks to wait {retry_after:.0f} s; try again later")
            wait = max(wait, retry_after)  # nothing is re-sent before Retry-After
        log.info("%s: %s; retry %d/%d in %.2f s", what, why, failures, self.max_retries, wait)
        time.sleep(wait)

    def _api(self, what: str, fn, *, repo_id: str, revision: str | None = None, filename: str | None = None):
        """Run one huggingface_hub API call with retries; map its errors to embdim's."""
        failures = 0
        ctx = {"repo_id": repo_id, "revision": revision, "filename": filename}
        while True:
            try:
                return fn()
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

    # -- ranged reads ---------------------------------------------------------------------------
    def get_range(self, url: str, start: int, end: int, *, size: int | None = None,
                  sha256: str | None = None) -> bytes | bytearray:
        """Bytes [start, end) of the file at ``url``, retried and resumed until complete.

        Returns the receive buffer itself (a ``bytearray``), not a copy: embeddings reach 0.5 GB.

        Raises
        ------
        NotFoundError
            404.
        IntegrityError
            Wrong Content-Range / length / total size / LFS sha256, or 416.
        HubError
            Still failing after ``max_retries`` retries without progress.
        """
        if end <= start:
            return b""
        buf = bytearray()
        failures = 0
        what = f"GET {urlsplit(url).path} bytes {start}-{end - 1}"
        while True:
            pos = start + len(buf)
            retry_after, why, err = None, "", None
            try:
                status, retry_after = self._get_once(url, pos, end, buf, size, sha256)
                if status is None:
                    return buf
                why = f"HTTP {status}"
            except OfflineModeIsEnabled as e:
                raise HubError("HF_HUB_OFFLINE is set; unset it to reach the Hub") from e
            except NETWORK_ERRORS as e:
                err, why = e, f"{type(e).__name__} after {start + len(buf) - pos} bytes"
            if start + len(buf) >= end:
                return buf
            if start + len(buf) > pos:
                failures = 0  # progress: resume at once from the last byte received
                log.info("%s: %s; resuming at byte %d", what, why, start + len(buf))
                continue
            failures += 1
            if failures > self.max_retries:
                raise HubError(f"{what}: still failing after {self.max_retries} retries ({why})",
                               byte_range=(start, end)) from err
            self._sleep(failures, retry_after, what, why)

    def _get_once(self, url: str, pos: int, end: int, buf: bytearray, size: int | None,
                  sha256: str | None) -> tuple[int | None, float | None]:
        """One attempt (following redirects); appends to ``buf``; returns (retryable status, Retry-After)
        or (None, None) when the range is complete."""
        headers = build_hf_headers(token=self._token, library_name="embdim", library_version=__version__)
        headers["Accept-Encoding"] = "identity"  # byte offsets must be of the stored file
        rng = f"bytes={pos}-{end - 1}"
        headers["Range"] = rng
        hub_origin = _origin(self.endpoint)
        cur = url
        client = get_session()
        for _ in range(MAX_REDIRECTS + 1):
            with client.stream("GET", cur, headers=headers, follow_redirects=False, timeout=TIMEOUT) as r:
                linked = _etag(r.headers.get("x-linked-etag"))
                if sha256 and linked and linked != sha256:
                    raise IntegrityError(f"{cur}: file changed (LFS sha256 {linked} != {sha256})",
                                         byte_range=(pos, end))
                if r.status_code in (301, 302, 303, 307, 308) and "location" in r.headers:
                    nxt = urljoin(cur, r.headers["location"])
                    if _origin(nxt) != hub_origin:  # a CDN: keep Range, never send the token off the Hub
                        headers.pop("authorization", None)
                        headers.pop("Authorization", None)
                    cur = nxt
                    continue
                if r.status_code in RETRY_STATUS:
                    r.read()
                    return r.status_code, _retry_after(r.headers)
                if r.status_code == 404:
                    raise NotFoundError(f"{urlsplit(url).path}: not found (HTTP 404, "
                                        f"{r.headers.get('x-error-code') or 'no error code'})")
                if r.status_code in (401, 403):
                    raise HubError(f"{urlsplit(url).path}: access denied (HTTP {r.status_code}); "
                                   "check HF_TOKEN / login and the repo's access terms")
                if r.status_code == 416:
                    raise IntegrityError(f"{urlsplit(url).path}: HTTP 416 for Range {rng}, server says Content-Range "
                                         f"{r.headers.get('content-range')!r} (file shorter than its header claims?)",
                                         byte_range=(pos, end))
                if r.status_code == 206:
                    self._read_206(r, pos, end, buf, size, rng)
                elif r.status_code == 200:
                    self._read_200(r, pos, end, buf, size)
                else:
                    raise HubError(f"{urlsplit(url).path}: unexpected HTTP {r.status_code}", byte_range=(pos, end))
                return None, None
        raise HubError(f"{urlsplit(url).path}: more than {MAX_REDIRECTS} redirects")

    def _read_206(self, r, pos: int, end: int, buf: bytearray, size: int | None, rng: str) -> None:
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", (r.headers.get("content-range") or "").strip())
        if not m or int(m.group(1)) != pos or int(m.group(2)) != end - 1:
            raise IntegrityError(f"asked {rng}, got Content-Range {r.headers.get('content-range')!r}",
                                 byte_range=(pos, end))
        if size is not None and m.group(3) != "*" and int(m.group(3)) != size:
            raise IntegrityError(f"file size changed: Content-Range total {m.group(3)} != {size}",
                                 byte_range=(pos, end))
        cl = r.headers.get("content-length")
        if cl is not None and int(cl) != end - pos:
            raise IntegrityError(f"Content-Length {cl} != {end - pos} for {rng}", byte_range=(pos, end))
        got = 0
        for chunk in r.iter_raw():
            got += len(chunk)
            if got > end - pos:
                raise IntegrityError(f"server sent more than the {end - pos} bytes of {rng}", byte_range=(pos, end))
            buf += chunk
            if self.on_bytes:
                self.on_bytes(len(chunk))
        if got != end - pos:  # a clean EOF short of the range: resume from here
            raise httpx2.RemoteProtocolError(f"body ended after {got} of {end - pos} bytes")

    def _read_200(self, r, pos: int, end: int, buf: bytearray, size: int | None) -> None:
        """The server ignored Range: skip to ``pos``, keep [pos, end), then drop the connection."""
        cl = r.headers.get("content-length")
        if size is not None and cl is not None and int(cl) != size:
            raise IntegrityError(f"whole-file answer of {cl} bytes, expected {size}", byte_range=(pos, end))
        off = 0
        for chunk in r.iter_raw():
            lo, hi = max(pos - off, 0), min(end - off, len(chunk))
            off += len(chunk)
            if lo < hi:
                buf += chunk[lo:hi]
                if self.on_bytes:
                    self.on_bytes(hi - lo)
            if off >= end:
                return  # closing the stream early: the rest of the file is never read
        if off < end:
            raise httpx2.RemoteProtocolError(f"body ended at byte {off}, before {end}")

    def get_file(self, url: str, size: int, *, sha256: str | None = None, git_oid: str | None = None) -> bytes:
        """A whole (small) file, checked against the Hub's sha256 (LFS) or git blob id (non-LFS)."""
        data = self.get_range(url, 0, size, size=size, sha256=sha256)
        if sha256 and hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrityError(f"{urlsplit(url).path}: sha256 mismatch")
        if git_oid and not sha256 and git_blob_sha1(data) != git_oid:
            raise IntegrityError(f"{urlsplit(url).path}: git blob id mismatch")
        return data

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
                wm = self._read_index(repo, branch.target_commit, files[entry])
                try:
                    entry = posixpath.normpath(posixpath.join(posixpath.dirname(entry),
                                                              wm[resolve_tensor_name(wm, tensor)]))
                except TensorNotFoundError:
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
