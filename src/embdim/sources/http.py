# SPDX-License-Identifier: MIT
"""The one HTTP client configuration behind every request embdim sends (API calls and ranged reads).

Each reader builds its own client (:func:`make_client`; huggingface_hub's shared client and its
process-global factory are left alone), which

- has connect / read / write / pool timeouts (never ``timeout=None``: a silent server ends in seconds);
- enforces a per-request deadline on the socket itself, headers included: a server that trickles one
  byte every 2 s resets every read timeout, but not the deadline (``deadline()``);
- follows at most ``MAX_REDIRECTS`` redirects for API calls;
- counts every HTTP body byte it receives in its own :class:`ByteCounter`, so a reader's
  ``bytes_downloaded`` is exact even with other clients in the same process.

Every setting comes from the environment (``Settings.from_env``), so tests and slow links can change
it; ``http_error`` is the one place where httpx errors that are not worth a retry become a one-line
:class:`~embdim.errors.HubError`. Strings from a server reach messages only through
:func:`embdim.sources.names.shown`.
"""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore2
import httpx2

from ..errors import HubError, InputError
from .names import shown

ENV_TIMEOUT = "EMBDIM_HTTP_TIMEOUT"                  # longest silence of a connection (s)
ENV_CONNECT_TIMEOUT = "EMBDIM_HTTP_CONNECT_TIMEOUT"  # TCP (+TLS) connect (s)
ENV_DEADLINE = "EMBDIM_HTTP_DEADLINE"                # one request, headers + body, before the bytes allowance (s)
ENV_MIN_RATE = "EMBDIM_HTTP_MIN_RATE"                # bytes/s a body must average; sets the allowance
ENV_MAX_RETRY_AFTER = "EMBDIM_MAX_RETRY_AFTER"       # longest Retry-After obeyed (s); longer ones fail at once
ENV_VARS = (ENV_TIMEOUT, ENV_CONNECT_TIMEOUT, ENV_DEADLINE, ENV_MIN_RATE, ENV_MAX_RETRY_AFTER)

# Defaults. The Hub answers API calls in well under a second and serves files at MB/s; 64 KiB/s is a
# very slow link, still enough for Pythia-12b's 519 MB embedding in 2.3 h. The Hub's rate-limit window
# is 5 minutes, so a Retry-After beyond 300 s is not its normal rate limit: fail and say so.
DEFAULTS = {ENV_TIMEOUT: 60.0, ENV_CONNECT_TIMEOUT: 10.0, ENV_DEADLINE: 120.0, ENV_MIN_RATE: 65536.0,
            ENV_MAX_RETRY_AFTER: 300.0}
MAX_REDIRECTS = 5
# Cap on an API answer read whole. Real answers: a Pythia branch's tree or paths-info < 10 kB, its refs
# ~30 kB (154 branches), revision info < 1 kB. 16 MiB is far above all of them and still cheap to hold.
# (Index json files have their own cap, embdim.formats.layout.MAX_INDEX_BYTES.)
MAX_API_BYTES = 16 << 20


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    """A number from the environment; a bad value is a one-line usage error, not a traceback."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return float(default)
    try:
        v = float(raw)
    except ValueError:
        v = float("nan")
    if not v >= minimum or v == float("inf"):
        raise InputError(f"{name}={shown(raw)}: expected a number >= {minimum:g}")
    return v


@dataclass(frozen=True)
class Settings:
    """Timeouts and limits of one client (seconds; ``min_rate`` in bytes/s)."""

    timeout: float
    connect_timeout: float
    deadline: float
    min_rate: float
    max_retry_after: float

    @classmethod
    def from_env(cls, max_retry_after: float | None = None) -> "Settings":
        t = env_float(ENV_TIMEOUT, DEFAULTS[ENV_TIMEOUT], 0.001)
        c = env_float(ENV_CONNECT_TIMEOUT, DEFAULTS[ENV_CONNECT_TIMEOUT], 0.001)
        d = env_float(ENV_DEADLINE, DEFAULTS[ENV_DEADLINE], 0.001)
        r = env_float(ENV_MIN_RATE, DEFAULTS[ENV_MIN_RATE], 1.0)
        if max_retry_after is not None and not 0 <= float(max_retry_after) < float("inf"):
            raise InputError(f"--max-retry-after {max_retry_after}: expected seconds >= 0")
        m = (float(max_retry_after) if max_retry_after is not None
             else env_float(ENV_MAX_RETRY_AFTER, DEFAULTS[ENV_MAX_RETRY_AFTER]))
        return cls(t, c, d, r, m)

    def transfer_deadline(self, nbytes: int) -> float:
        """Seconds one request may take to deliver ``nbytes`` of body."""
        return self.deadline + max(0, nbytes) / self.min_rate


# -- deadlines -------------------------------------------------------------------------------------
_tls = threading.local()  # requests of the sync client run in the calling thread


@contextmanager
def deadline(seconds: float):
    """Every socket operation in this block (connect, headers, body) ends by ``seconds`` from now."""
    prev = getattr(_tls, "deadline", None)
    _tls.deadline = (time.monotonic() + seconds, seconds) if prev is None else min(
        prev, (time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _tls.deadline = prev


def _bounded(timeout: float | None) -> tuple[float | None, bool]:
    """(the timeout to use, whether the deadline is what bounds it)."""
    dl = getattr(_tls, "deadline", None)
    if dl is None:
        return timeout, False
    left = dl[0] - time.monotonic()
    if left <= 0:
        raise httpcore2.ReadTimeout(_late())
    return (left, True) if timeout is None or left < timeout else (timeout, False)


def _late() -> str:
    return (f"no complete answer within the {_tls.deadline[1]:.3g} s deadline ({ENV_DEADLINE}, "
            f"{ENV_MIN_RATE})")


class _DeadlineStream(httpcore2.NetworkStream):
    def __init__(self, inner):
        self._inner = inner

    def _io(self, fn, timeout, *a):
        t, by_deadline = _bounded(timeout)
        try:
            return fn(*a, timeout=t)
        except httpcore2.TimeoutException as e:
            if by_deadline:
                raise httpcore2.ReadTimeout(_late()) from e
            raise

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._io(self._inner.read, timeout, max_bytes)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        return self._io(self._inner.write, timeout, buffer)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _DeadlineStream(self._io(self._inner.start_tls, timeout, ssl_context, server_hostname))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore2.NetworkBackend):
    def __init__(self):
        self._inner = httpcore2.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        t, _ = _bounded(timeout)
        return _DeadlineStream(self._inner.connect_tcp(host, port, t, local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        t, _ = _bounded(timeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, t, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# -- byte accounting --------------------------------------------------------------------------------
class ByteCounter:
    """HTTP body bytes received by one client."""

    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()  # `revisions` lists branches from several threads

    def add(self, k: int) -> None:
        with self.lock:
            self.n += k


class _CountingStream(httpx2.SyncByteStream):
    def __init__(self, inner, counter: ByteCounter):
        self._inner, self._counter = inner, counter

    def __iter__(self):
        for chunk in self._inner:
            self._counter.add(len(chunk))
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _Transport(httpx2.BaseTransport):
    """The real transport, with deadlines on its sockets; counts raw body bytes as they arrive."""

    def __init__(self, counter: ByteCounter):
        self._counter = counter
        self._inner = httpx2.HTTPTransport()
        pool = getattr(self._inner, "_pool", None)
        if isinstance(pool, httpcore2.ConnectionPool):  # (a proxy pool keeps the plain timeouts)
            pool._network_backend = _DeadlineBackend()

    def handle_request(self, request):
        response = self._inner.handle_request(request)
        response.stream = _CountingStream(response.stream, self._counter)
        return response

    def close(self) -> None:
        self._inner.close()


class BadRedirect(HubError):
    """Raised when a redirect points somewhere we do not follow (not http(s), invalid port or host)."""


def redirect_target(current: str, location: str) -> str:
    """The absolute URL a redirect points at, if it is one we follow: http(s), a host, a valid port."""
    nxt = urljoin(current, location)
    try:
        u = urlsplit(nxt)
        u.port  # raises ValueError for a port outside 0..65535
    except ValueError as e:
        raise BadRedirect(f"redirected to an invalid URL {shown(nxt)}") from e
    if u.scheme not in ("http", "https") or not u.hostname:
        raise BadRedirect(f"redirected to {shown(nxt)} (only http and https are followed)")
    return nxt


def _check_redirect(response) -> None:
    """Response hook: httpx calls it for each redirect before following it (API calls)."""
    if response.is_redirect:
        redirect_target(str(response.url), response.headers.get("location", ""))


def make_client(settings: Settings, counter: ByteCounter) -> httpx2.Client:
    """One reader's client: ``settings``' timeouts, deadlines on its sockets, bytes counted in ``counter``.

    It carries huggingface_hub's request hook, as its default client does (HF_HUB_OFFLINE refuses the
    request, a request id is added, requests are logged at debug level).
    """
    from huggingface_hub.utils._http import hf_request_event_hook
    timeout = httpx2.Timeout(settings.timeout, connect=settings.connect_timeout)
    return httpx2.Client(transport=_Transport(counter), timeout=timeout,
                         event_hooks={"request": [hf_request_event_hook], "response": [_check_redirect]},
                         follow_redirects=True, max_redirects=MAX_REDIRECTS)


# -- reading and errors ------------------------------------------------------------------------------
class AnswerTooLarge(HubError):
    """Raised when an API answer exceeds ``MAX_API_BYTES``; never retried."""


def request_capped(client, method: str, url: str, what: str, limit: int = MAX_API_BYTES, **kw) -> httpx2.Response:
    """One request whose (decoded) body is read up to ``limit`` bytes; a larger one is refused
    before it is held in memory. Returns a complete response (``.content`` set)."""
    try:
        return _read_capped(client, method, url, what, limit, **kw)
    except BadRedirect as e:
        raise BadRedirect(f"{what}: {e}") from e


def _read_capped(client, method: str, url: str, what: str, limit: int, **kw) -> httpx2.Response:
    with client.stream(method, url, **kw) as r:
        cl = r.headers.get("content-length", "")
        if cl.isdigit() and int(cl) > limit:
            raise AnswerTooLarge(f"{what}: answer of {int(cl)} bytes is larger than the {limit >> 20} MiB "
                                 "accepted (real ones are under 1 MiB)")
        buf = bytearray()
        for chunk in r.iter_bytes():  # decoded: a gzip bomb is capped on what it expands to
            buf += chunk
            if len(buf) > limit:
                raise AnswerTooLarge(f"{what}: answer larger than the {limit >> 20} MiB accepted "
                                     "(real ones are under 1 MiB)")
        drop = {"content-encoding", "content-length", "transfer-encoding"}
        headers = [(k, v) for k, v in r.headers.multi_items() if k.lower() not in drop]
        return httpx2.Response(r.status_code, headers=headers, content=bytes(buf), request=r.request)


# Temporary failures, worth a retry; every other httpx error is final (``http_error``).
NETWORK_ERRORS = (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)
FINAL_ERRORS = (httpx2.HTTPError, httpx2.InvalidURL, httpx2.StreamError)


def http_error(what: str, e: BaseException, **ctx) -> HubError:
    """A one-line HubError for an httpx error that a retry will not cure (a redirect loop, a redirect
    to ftp:// or file://, an invalid URL or port, a protocol violation)."""
    if isinstance(e, httpx2.TooManyRedirects):
        why = f"more than {MAX_REDIRECTS} redirects"
    elif isinstance(e, httpx2.UnsupportedProtocol):
        why = f"redirected to an unsupported protocol ({shown(e)})"
    else:
        why = f"{type(e).__name__}: {shown(e)}"
    return HubError(f"{what}: {why}", **ctx)
