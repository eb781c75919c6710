# SPDX-License-Identifier: MIT
"""HTTP range reads for the Hub: retry, resume, redirect, integrity checks, exact byte accounting.

- Ranged GETs retry 408/429/5xx and network errors with exponential backoff and never re-send before
  ``Retry-After``; a cut body resumes from the last byte received (not from the start of the range);
  a 302 to a CDN host is followed with ``Range`` kept and the token dropped (it never leaves the Hub);
  every answer is checked: 206 + ``Content-Range`` + ``Content-Length`` + total size, the LFS sha256 in
  ``X-Linked-Etag``; a 200 to a Range request is read only up to the bytes needed.
- Byte accounting, timeouts and per-request deadlines: each reader has its own client, built by
  :mod:`embdim.sources.http` (every HTTP body byte counted, API answers included).
- Retries follow :mod:`embdim.sources.retry` and are bounded: a retry count is reset only by real
  progress (``MIN_PROGRESS`` bytes), not by a server that trickles a few bytes per attempt.

The token only ever goes into request headers; no message, log line or file contains it.
"""
from __future__ import annotations

import hashlib
import re
from typing import Callable
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import constants
from huggingface_hub.errors import OfflineModeIsEnabled
from huggingface_hub.utils import build_hf_headers

from .. import __version__
from ..errors import HubError, IntegrityError, NotFoundError
from .http import (FINAL_ERRORS, MAX_REDIRECTS, NETWORK_ERRORS, BadRedirect, ByteCounter, Settings, deadline,
                   env_float, http_error, make_client, redirect_target)
from .names import shown
from .retry import ENV_BACKOFF, ENV_RETRIES, RETRY_STATUS, Attempts, Backoff, log, retry_after
# An attempt that ends early resets the retry count only if it brought this much: a trickling server
# (a few bytes per attempt) then runs out of retries instead of being retried forever.
MIN_PROGRESS = 64 << 10


def _etag(v: str | None) -> str | None:
    """``W/"abc"`` or ``"abc"`` -> ``abc``."""
    return v.strip().removeprefix("W/").strip('"').lower() if v else None


_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")
MAX_DISCARD = 1 << 20  # a redirect's body is read (and counted) only up to this size


def _origin(url: str) -> tuple[str, str, int | None]:
    u = urlsplit(url)
    return u.scheme, (u.hostname or "").lower(), u.port or {"http": 80, "https": 443}.get(u.scheme)


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class RangeReader:
    """Ranged reads from Hub URLs through this reader's own (counting) client.

    Parameters
    ----------
    endpoint : str, optional
        Defaults to ``huggingface_hub.constants.ENDPOINT`` (``HF_ENDPOINT``).
    token : str, optional
        Defaults to ``HF_TOKEN`` or the stored login, as huggingface_hub resolves it.
    backoff_base : float, optional
        First retry wait in seconds (then doubled, capped at 8 s); env ``EMBDIM_BACKOFF_BASE``, default 1.
    max_retries : int, optional
        Retries after the first attempt; env ``EMBDIM_MAX_RETRIES``, default 5.
    max_retry_after : float, optional
        Longest ``Retry-After`` obeyed (s); env ``EMBDIM_MAX_RETRY_AFTER``, default 300. Longer fails.
    on_bytes : callable, optional
        Called with the number of tensor/file bytes received, chunk by chunk (progress display).
    """

    def __init__(self, endpoint: str | None = None, token: str | None = None, backoff_base: float | None = None,
                 max_retries: int | None = None, on_bytes: Callable[[int], None] | None = None,
                 max_retry_after: float | None = None):
        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self._token = token
        base = float(backoff_base if backoff_base is not None else env_float(ENV_BACKOFF, 1.0))
        retries = int(max_retries if max_retries is not None else env_float(ENV_RETRIES, 5))
        self.settings = Settings.from_env(max_retry_after)
        self.backoff = Backoff(base, retries, self.settings.max_retry_after)
        self.on_bytes = on_bytes
        self.counter = ByteCounter()
        self.client = make_client(self.settings, self.counter)  # API calls of a HubClient use it too

    @property
    def bytes_downloaded(self) -> int:
        """HTTP body bytes received since this reader was made (API answers included)."""
        return self.counter.n

    def hub_headers(self) -> dict:
        """Headers of a request to the Hub: user agent and, when one is set or stored, the token."""
        return build_hf_headers(token=self._token, library_name="embdim", library_version=__version__)

    # -- ranged reads ---------------------------------------------------------------------------
    def get_range(self, url: str, start: int, end: int, *, size: int | None = None,
                  sha256: str | None = None, commit: str | None = None) -> bytes | bytearray:
        """Bytes [start, end) of the file at ``url``, retried and resumed until complete.

        Returns the receive buffer itself (a ``bytearray``), not a copy: embeddings reach 0.5 GB.

        Raises
        ------
        NotFoundError
            404.
        IntegrityError
            Wrong Content-Range / length / total size / LFS sha256, or 416; or the Hub's
            ``X-Repo-Commit`` differs from ``commit`` (the branch moved during the fetch).
        HubError
            Still failing after ``max_retries`` retries without progress.
        """
        if end <= start:
            return b""
        buf = bytearray()
        what = f"GET {urlsplit(url).path} bytes {start}-{end - 1}"
        attempts = Attempts(self.backoff, what, byte_range=(start, end))
        while True:
            pos = start + len(buf)
            wait, why, err = None, "", None
            try:
                status, wait = self._get_once(url, pos, end, buf, size, sha256, commit)
                if status is None:
                    return buf
                why = f"HTTP {status}"
            except OfflineModeIsEnabled as e:
                raise HubError("HF_HUB_OFFLINE is set; unset it to reach the Hub") from e
            except NETWORK_ERRORS as e:
                err, why = e, f"{type(e).__name__} after {start + len(buf) - pos} bytes: {shown(e)}"
            except FINAL_ERRORS as e:
                raise http_error(what, e, byte_range=(start, end)) from e
            except BadRedirect as e:  # ftp://, file://, an invalid port: following cannot help
                raise BadRedirect(f"{what}: {e}", byte_range=(start, end)) from e
            if start + len(buf) >= end:
                return buf
            if start + len(buf) > pos:  # progress: resume at once from the last byte received
                if start + len(buf) - pos >= MIN_PROGRESS:
                    attempts.reset()
                else:
                    attempts.failed(why, err)
                log.info("%s: %s; resuming at byte %d", what, why, start + len(buf))
                continue
            attempts.failed(why, err)
            attempts.wait(why, wait)

    def _get_once(self, url: str, pos: int, end: int, buf: bytearray, size: int | None,
                  sha256: str | None, commit: str | None = None) -> tuple[int | None, float | None]:
        """One attempt (following redirects); appends to ``buf``; returns (retryable status, Retry-After)
        or (None, None) when the range is complete."""
        self.backoff.wait_hold()
        headers = self.hub_headers()
        headers["Accept-Encoding"] = "identity"  # byte offsets must be of the stored file
        rng = f"bytes={pos}-{end - 1}"
        headers["Range"] = rng
        # One deadline for the attempt, redirects and body included: a trickle cannot stretch it.
        with deadline(self.settings.transfer_deadline(end - pos)):
            return self._follow(url, headers, pos, end, buf, size, sha256, commit, rng)

    def _follow(self, url, headers, pos, end, buf, size, sha256, commit, rng):
        hub_origin, cur, client = _origin(self.endpoint), url, self.client
        for _ in range(MAX_REDIRECTS + 1):
            with client.stream("GET", cur, headers=headers, follow_redirects=False) as r:
                linked = _etag(r.headers.get("x-linked-etag"))
                # Only a sha256-shaped value can be compared (some servers put other ids there).
                if sha256 and linked and _SHA256.fullmatch(linked) and linked != sha256.lower():
                    raise IntegrityError(f"{urlsplit(url).path}: file changed (LFS sha256 {linked} != {sha256})",
                                         byte_range=(pos, end))
                repo_commit = (r.headers.get("x-repo-commit") or "").strip().lower()
                if commit and _SHA1.fullmatch(repo_commit) and repo_commit != commit.lower():
                    raise IntegrityError(f"{urlsplit(url).path}: the revision moved during the fetch (now at "
                                         f"commit {repo_commit}, started at {commit}); run it again",
                                         byte_range=(pos, end))
                if r.status_code in (301, 302, 303, 307, 308) and "location" in r.headers:
                    self._discard(r)
                    nxt = redirect_target(cur, r.headers["location"])  # (the client's hook checks it first)
                    if _origin(nxt) != hub_origin:  # a CDN: keep Range, never send the token off the Hub
                        headers.pop("authorization", None)
                        headers.pop("Authorization", None)
                    cur = nxt
                    continue
                if r.status_code in RETRY_STATUS:
                    r.read()
                    return r.status_code, retry_after(r.headers)
                if r.status_code == 404:
                    raise NotFoundError(f"{urlsplit(url).path}: not found (HTTP 404, "
                                        f"{shown(r.headers.get('x-error-code') or 'no error code')})")
                if r.status_code in (401, 403):
                    raise HubError(f"{urlsplit(url).path}: access denied (HTTP {r.status_code}); "
                                   "check HF_TOKEN / login and the repo's access terms")
                if r.status_code == 416:
                    raise IntegrityError(f"{urlsplit(url).path}: HTTP 416 for Range {rng}, server says Content-Range "
                                         f"{shown(r.headers.get('content-range'))} (file shorter than its header "
                                         "claims?)",
                                         byte_range=(pos, end))
                if r.status_code == 206:
                    self._read_206(r, pos, end, buf, size, rng)
                elif r.status_code == 200:
                    self._read_200(r, pos, end, buf, size)
                else:
                    raise HubError(f"{urlsplit(url).path}: unexpected HTTP {r.status_code}", byte_range=(pos, end))
                return None, None
        raise HubError(f"{urlsplit(url).path}: more than {MAX_REDIRECTS} redirects")

    @staticmethod
    def _discard(r) -> None:
        """Read a small body we do not need (a redirect's text), so it is counted like the rest."""
        cl = r.headers.get("content-length")
        if cl is not None and (not cl.isdigit() or int(cl) > MAX_DISCARD):
            return
        got = 0
        try:  # no Content-Length (HTTP/1.0): the body ends when the server closes; read at most 1 MiB
            for chunk in r.iter_raw():
                got += len(chunk)
                if got > MAX_DISCARD:
                    return
        except NETWORK_ERRORS:
            pass  # the redirect itself arrived; its text does not matter

    def _read_206(self, r, pos: int, end: int, buf: bytearray, size: int | None, rng: str) -> None:
        cr = (r.headers.get("content-range") or "").strip()
        cl = r.headers.get("content-length")
        if cl is not None and cl.isdigit() and int(cl) != end - pos:
            raise IntegrityError(f"Content-Length {cl} != {end - pos} for {rng}", byte_range=(pos, end))
        if cr:  # a 206 without Content-Range (seen on simple servers) is checked by its length alone
            m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", cr, re.ASCII)
            if not m or int(m.group(1)) != pos or int(m.group(2)) != end - 1:
                raise IntegrityError(f"asked {rng}, got Content-Range {shown(cr)}", byte_range=(pos, end))
            if size is not None and m.group(3) != "*" and int(m.group(3)) != size:
                raise IntegrityError(f"file size changed: Content-Range total {m.group(3)} != {size}",
                                     byte_range=(pos, end))
        self._read_exact(r, pos, end, buf, rng)

    def _read_exact(self, r, pos: int, end: int, buf: bytearray, rng: str) -> None:
        """Append exactly ``end - pos`` body bytes; a short body raises a network error (resumed)."""
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
        """The server ignored Range: skip to ``pos``, keep [pos, end), then drop the connection.

        A 200 whose Content-Length is exactly the range asked for (and not the file's size) is that
        range sent with the wrong status, as some simple servers do: it is read as such."""
        cl = r.headers.get("content-length")
        cl = int(cl) if cl is not None and cl.isdigit() else None
        encoded = (r.headers.get("content-encoding") or "identity").strip().lower() != "identity"
        if cl is not None and not encoded and cl == end - pos and cl != size and (pos, end) != (0, size):
            return self._read_exact(r, pos, end, buf, f"bytes={pos}-{end - 1}")
        if size is not None and cl is not None and not encoded and cl != size:
            raise IntegrityError(f"whole-file answer of {cl} bytes, expected {size}", byte_range=(pos, end))
        off = 0
        # A server that ignored both Range and "Accept-Encoding: identity" may compress: offsets are
        # then those of the decoded body.
        for chunk in (r.iter_bytes() if encoded else r.iter_raw()):
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

    def get_file(self, url: str, size: int, *, sha256: str | None = None, git_oid: str | None = None,
                 commit: str | None = None) -> bytes:
        """A whole (small) file, checked against the Hub's sha256 (LFS) or git blob id (non-LFS)."""
        data = self.get_range(url, 0, size, size=size, sha256=sha256, commit=commit)
        if sha256 and hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrityError(f"{urlsplit(url).path}: sha256 mismatch")
        if git_oid and not sha256 and git_blob_sha1(data) != git_oid:
            raise IntegrityError(f"{urlsplit(url).path}: git blob id mismatch")
        return data
