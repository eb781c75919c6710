# SPDX-License-Identifier: MIT
"""A loopback stand-in for the Hugging Face Hub, spoken to by the real ``huggingface_hub`` client.

It answers the endpoints that ``HfApi``/``hf_hub_download`` and ``embdim`` use:

- ``GET  /api/models/{repo}/refs``                      (``list_repo_refs``)
- ``GET  /api/models/{repo}/revision/{rev}``            (``model_info``; ``expand=`` gives a small answer)
- ``GET  /api/models/{repo}/tree/{rev}[/{path}]``        (``list_repo_tree``, with ``lfs`` metadata)
- ``POST /api/models/{repo}/paths-info/{rev}``          (``get_paths_info``)
- ``HEAD/GET /{repo}/resolve/{rev}/{path}``              ETag, X-Repo-Commit, X-Linked-Size, X-Linked-Etag,
  Range -> 206 + Content-Range, 416 when unsatisfiable; with ``cdn=True`` LFS files answer 302 to a
  second loopback server (another origin, like the Hub's CDN) that serves ``/blobs/{sha256}``.

Errors carry ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound) as the Hub does, so the
client raises its typed errors. Every request is recorded (``hub.requests``) and every body byte sent
is counted (``hub.bytes_sent``; ``hub.count(path, method, status)``; ``hub.reset()`` forgets both).
Faults are injected per path substring, each for ``times`` requests after letting ``skip`` through:
``inject_429`` (with Retry-After), ``inject_503``, ``inject_status``, ``cut_body_after`` (mid-body
disconnect), ``ignore_range`` (200 to a Range request); hostile modes, each bounded in time and bytes:
``inject_hang`` (accept, never answer), ``inject_trickle`` (headers or body one byte at a time),
``inject_body`` (any status, headers and body, e.g. a huge API answer). ``FakeHub(token=...)`` demands a bearer token,
``rate``/``latency`` simulate a link. ``python tests/hubs/hubserver.py --serve DIR`` serves
``DIR/<org>/<name>/<revision>/<files>`` and prints the ``HF_ENDPOINT`` to use.

Example
-------
>>> with FakeHub() as hub:                                        # doctest: +SKIP
...     hub.add_revision("EleutherAI/pythia-14m", "step1000", {"model.safetensors": data})
...     env = {"HF_ENDPOINT": hub.url}
...     hub.inject_429("resolve/step1000/model.safetensors", retry_after=1)
"""
from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# Extensions stored through git-lfs on the Hub (the default .gitattributes of a new model repo).
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".npy", ".npz", ".onnx", ".gguf")


def git_blob_sha1(data: bytes) -> str:
    """Git object id of a blob (what the Hub reports as ``oid`` for a non-LFS file)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass
class Blob:
    data: bytes
    lfs: bool
    sha256: str
    oid: str  # git sha1 of the blob (non-LFS) or of its pointer file (LFS)

    @classmethod
    def make(cls, path: str, data: bytes) -> "Blob":
        sha = hashlib.sha256(data).hexdigest()
        lfs = path.endswith(LFS_SUFFIXES)
        return cls(data, lfs, sha, git_blob_sha1(lfs_pointer(sha, len(data)) if lfs else data))

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.oid


@dataclass
class Revision:
    name: str
    commit: str
    files: dict[str, Blob]


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str          # unquoted path, without the query string
    query: str
    server: str        # "hub" or "cdn"
    headers: dict      # lower-cased names
    status: int = 0
    body_bytes: int = 0
    time: float = 0.0  # time.monotonic() when it arrived

    @property
    def range(self) -> str | None:
        return self.headers.get("range")


@dataclass
class _Fault:
    path: str
    kind: str          # "status", "cut", "ignore_range", "hang", "trickle", "trickle_headers", "body"
    times: int
    status: int = 0
    headers: dict = field(default_factory=dict)
    cut_after: int = 0
    methods: tuple = ("GET", "HEAD", "POST")
    skip: int = 0      # let this many matching requests through first
    seconds: float = 0.0   # hang: how long to stay silent (bounded: the stand-in must not outlive a test)
    interval: float = 1.0  # trickle: seconds between bytes
    limit: int = 0         # trickle: bytes sent at most, then the connection is closed
    body: bytes = b""      # body: what to send


class FakeHub:
    """Loopback Hub with in-memory repos; use as a context manager.

    Parameters
    ----------
    root : path, optional
        Accepted for symmetry with ``tmp_path`` fixtures; files live in memory.
    cdn : bool
        Answer GET/HEAD of LFS files with a 302 to a second server (another origin), as the Hub does.
    token : str, optional
        When set, API and resolve requests without ``Authorization: Bearer <token>`` get 401.
    rate : float, optional
        Pace bodies at this many bytes per second (a simulated link, for benchmarks).
    latency : float
        Seconds to wait before answering each request (a simulated round trip).
    """

    def __init__(self, root=None, *, cdn: bool = False, token: str | None = None, rate: float | None = None,
                 latency: float = 0.0):
        self.root = root
        self.cdn = cdn
        self.token = token
        self.rate = rate
        self.latency = latency
        self.repos: dict[str, dict[str, Revision]] = {}
        self._requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self.url = ""
        self.cdn_url = ""
        self._stopped = threading.Event()  # wakes hanging / trickling handlers on stop()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "FakeHub":
        for kind in ("hub", "cdn"):
            srv = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self, kind))
            srv.daemon_threads = True
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self._servers.append(srv)
            setattr(self, "url" if kind == "hub" else "cdn_url", f"http://127.0.0.1:{srv.server_address[1]}")
        return self

    def stop(self) -> None:
        self._stopped.set()
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        self._servers.clear()

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- content --------------------------------------------------------------------------------
    def add_revision(self, repo_id: str, revision: str, files: dict[str, bytes], commit: str | None = None) -> str:
        """Create (or replace) branch ``revision`` of ``repo_id`` holding ``files``; returns its commit sha."""
        blobs = {p: Blob.make(p, bytes(d)) for p, d in files.items()}
        if commit is None:
            h = hashlib.sha1(f"{repo_id}@{revision}".encode())
            for p in sorted(blobs):
                h.update(f"{p}:{blobs[p].sha256}".encode())
            commit = h.hexdigest()
        with self._lock:
            self.repos.setdefault(repo_id, {})[revision] = Revision(revision, commit, blobs)
        return commit

    def add_repo(self, repo_id: str) -> None:
        """Create an empty repo (no branches), e.g. to test 'revision missing' vs 'repo missing'."""
        with self._lock:
            self.repos.setdefault(repo_id, {})

    def remove_revision(self, repo_id: str, revision: str) -> None:
        with self._lock:
            self.repos[repo_id].pop(revision, None)

    def commit_of(self, repo_id: str, revision: str) -> str:
        return self.repos[repo_id][revision].commit

    # -- counters -------------------------------------------------------------------------------
    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    @property
    def bytes_sent(self) -> int:
        """Body bytes sent by both servers (API answers, error bodies and file bytes)."""
        with self._lock:
            return sum(r.body_bytes for r in self._requests)

    def count(self, path: str = "", method: str | None = None, status: int | None = None) -> int:
        """Number of recorded requests whose path contains ``path`` (and matching method/status)."""
        return sum(1 for r in self.requests if path in r.path and (method is None or r.method == method)
                   and (status is None or r.status == status))

    def reset(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    # -- fault injection (path = substring of the unquoted request path) ------------------------
    def inject_status(self, path: str, status: int, times: int = 1, headers: dict | None = None,
                      methods: tuple = ("GET", "HEAD", "POST"), skip: int = 0) -> None:
        """Answer the next ``times`` requests matching ``path`` (after ``skip`` of them) with ``status``."""
        with self._lock:
            self._faults.append(_Fault(path, "status", times, status=status, headers=dict(headers or {}),
                                       methods=methods, skip=skip))

    def inject_429(self, path: str, retry_after: float = 1, times: int = 1, skip: int = 0) -> None:
        self.inject_status(path, 429, times, {"Retry-After": str(retry_after)}, skip=skip)

    def inject_503(self, path: str, times: int = 1, retry_after: float | None = None, skip: int = 0) -> None:
        self.inject_status(path, 503, times, {"Retry-After": str(retry_after)} if retry_after is not None else {},
                           skip=skip)

    def cut_body_after(self, n: int, path: str = "", times: int = 1, skip: int = 0) -> None:
        """The next ``times`` GETs matching ``path`` (after ``skip``) send headers for the full body,
        ``n`` body bytes, then drop the connection."""
        with self._lock:
            self._faults.append(_Fault(path, "cut", times, cut_after=n, methods=("GET",), skip=skip))

    def ignore_range(self, path: str = "", times: int = 1, skip: int = 0) -> None:
        """The next ``times`` GETs matching ``path`` answer 200 with the whole file despite a Range."""
        with self._lock:
            self._faults.append(_Fault(path, "ignore_range", times, methods=("GET",), skip=skip))

    def inject_hang(self, path: str, times: int = 1, seconds: float = 30.0,
                    methods: tuple = ("GET", "HEAD", "POST")) -> None:
        """The next ``times`` requests matching ``path`` are read and never answered (the connection is
        closed after ``seconds`` or on ``stop()``)."""
        with self._lock:
            self._faults.append(_Fault(path, "hang", times, methods=methods, seconds=seconds))

    def inject_trickle(self, path: str, times: int = 1, interval: float = 1.0, limit: int = 60,
                       headers: bool = False, methods: tuple = ("GET", "HEAD", "POST")) -> None:
        """The next ``times`` answers matching ``path`` send their body (or, with ``headers``, their
        header block) one byte every ``interval`` seconds, at most ``limit`` bytes, then close."""
        with self._lock:
            self._faults.append(_Fault(path, "trickle_headers" if headers else "trickle", times,
                                       methods=methods, interval=interval, limit=limit))

    def inject_body(self, path: str, body: bytes, status: int = 200, headers: dict | None = None,
                    times: int = 1, methods: tuple = ("GET", "HEAD", "POST")) -> None:
        """The next ``times`` requests matching ``path`` get exactly this answer."""
        with self._lock:
            self._faults.append(_Fault(path, "body", times, status=status, headers=dict(headers or {}),
                                       methods=methods, body=bytes(body)))

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if f.times > 0 and method in f.methods and f.path in path:
                    if f.skip > 0:
                        f.skip -= 1
                        continue
                    f.times -= 1
                    return f
        return None

    def _record(self, req: Request) -> None:
        with self._lock:
            self._requests.append(req)

    # -- lookups --------------------------------------------------------------------------------
    def _split_repo(self, rest: str) -> tuple[str | None, str]:
        """Split 'ns/name/tail...' into (known repo id, tail); longest match wins."""
        best = None
        for repo in self.repos:
            if rest == repo or rest.startswith(repo + "/"):
                if best is None or len(repo) > len(best):
                    best = repo
        return (best, rest[len(best) + 1:]) if best else (None, rest)

    def _revision(self, repo: str, rev: str) -> Revision | None:
        revs = self.repos.get(repo, {})
        if rev in revs:
            return revs[rev]
        for r in revs.values():  # a commit sha works as a revision too
            if r.commit == rev:
                return r
        return None

    def blob_by_sha(self, sha256: str) -> Blob | None:
        for revs in self.repos.values():
            for r in revs.values():
                for b in r.files.values():
                    if b.sha256 == sha256:
                        return b
        return None


def _entry(path: str, blob: Blob) -> dict:
    e = {"type": "file", "oid": blob.oid, "size": len(blob.data), "path": path}
    if blob.lfs:
        e["lfs"] = {"oid": blob.sha256, "size": len(blob.data), "pointerSize": len(lfs_pointer(blob.sha256, len(blob.data)))}
    return e


def _tree(rev: Revision, base: str, recursive: bool) -> list[dict]:
    base = base.strip("/")
    prefix = base + "/" if base else ""
    out, dirs = [], set()
    for path in sorted(rev.files):
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix):]
        if "/" in rest and not recursive:
            d = prefix + rest.split("/", 1)[0]
            if d not in dirs:
                dirs.add(d)
                out.append({"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "path": d})
            continue
        out.append(_entry(path, rev.files[path]))
    return out


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _make_handler(hub: FakeHub, server: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without NODELAY, Nagle + the client's delayed
            # ACK add ~40 ms to every small answer (real Hub servers do not behave like that).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        # -- plumbing ---------------------------------------------------------------------------
        def _begin(self) -> None:
            parts = urlsplit(self.path)
            self.req = Request(self.command, unquote(parts.path), parts.query, server,
                               {k.lower(): v for k, v in self.headers.items()}, time=time.monotonic())
            hub._record(self.req)
            self.trickle = None

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, length: int | None = None,
                  cut: int | None = None) -> None:
            self.req.status = status
            self.send_response(status)
            hdrs = {"Content-Length": str(len(body) if length is None else length)}
            hdrs.update(headers or {})
            for k, v in hdrs.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command == "HEAD" or not body:
                return
            # Counted before writing: the client may have read it all before write() returns here.
            if cut is not None:
                with hub._lock:
                    self.req.body_bytes = min(cut, len(body))
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            with hub._lock:
                self.req.body_bytes = len(body)
            if getattr(self, "trickle", None) is not None:
                return self._trickle(body)
            try:
                if hub.rate:
                    self._paced(body)
                else:
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _trickle(self, data: bytes) -> None:
            """One byte every ``interval`` s, at most ``limit`` bytes, then hang up."""
            f = self.trickle
            try:
                for i in range(min(len(data), f.limit)):
                    if hub._stopped.wait(f.interval if i else 0):
                        break
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
            except OSError:
                pass
            self.close_connection = True

        def _paced(self, body: bytes) -> None:
            t0, step = time.monotonic(), 1 << 16
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                ahead = t0 + (i + step) / hub.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)

        def _json(self, obj, status: int = 200, headers: dict | None = None) -> None:
            h = {"Content-Type": "application/json"}
            h.update(headers or {})
            self._send(status, json.dumps(obj).encode(), h)

        def _error(self, status: int, code: str | None, msg: str) -> None:
            self._json({"error": msg}, status, {"X-Error-Code": code, "X-Error-Message": msg} if code else None)

        def _authorized(self) -> bool:
            if server == "hub" and hub.token and self.req.headers.get("authorization") != f"Bearer {hub.token}":
                self._json({"error": "Invalid credentials"}, 401,
                           {"X-Error-Message": "Invalid credentials in Authorization header"})
                return False
            return True

        def _fault(self):
            f = hub._take_fault(self.command, self.req.path)
            if f is not None and f.kind == "status":
                self._json({"error": f"injected {f.status}"}, f.status, f.headers)
                return None, True
            if f is not None and f.kind == "hang":
                hub._stopped.wait(f.seconds)
                self.close_connection = True
                return None, True
            if f is not None and f.kind == "body":
                self._send(f.status, f.body, f.headers)
                return None, True
            if f is not None and f.kind == "trickle_headers":
                self.req.status = 200
                self.trickle = f
                self._trickle(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"x" * 4096)
                return None, True
            if f is not None and f.kind == "trickle":
                self.trickle = f
            return f, False

        # -- verbs ------------------------------------------------------------------------------
        def do_GET(self) -> None:
            self._dispatch()

        def do_HEAD(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(n) if n else b""
            self._dispatch()

        def _dispatch(self) -> None:
            self._begin()
            if hub.latency:
                time.sleep(hub.latency)
            fault, done = self._fault()
            if done or not self._authorized():
                return
            path = self.req.path
            if server == "cdn":
                m = re.fullmatch(r"/blobs/([0-9a-f]{64})", path)
                blob = hub.blob_by_sha(m.group(1)) if m else None
                if blob is None:
                    return self._error(404, None, "no such blob")
                return self._file(blob, None, fault)
            if path.startswith("/api/models/"):
                return self._api(path[len("/api/models/"):])
            repo, tail = hub._split_repo(path.lstrip("/"))
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            m = re.fullmatch(r"resolve/([^/]+)/(.+)", tail)
            if not m or self.command == "POST":
                return self._error(404, None, "not found")
            rev = hub._revision(repo, m.group(1))
            if rev is None:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {m.group(1)}")
            blob = rev.files.get(m.group(2))
            if blob is None:
                return self._error(404, "EntryNotFound", f"{m.group(2)} does not exist on {m.group(1)}")
            return self._file(blob, rev, fault)

        def _api(self, rest: str) -> None:
            repo, tail = hub._split_repo(rest)
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            revs = hub.repos[repo]
            if tail == "refs" and self.command == "GET":
                branches = [{"name": r.name, "ref": f"refs/heads/{r.name}", "targetCommit": r.commit}
                            for r in revs.values()]
                return self._json({"branches": branches, "converts": [], "tags": []})
            m = re.fullmatch(r"(revision|tree|paths-info)/([^/]+)(?:/(.*))?", tail)
            if not m:
                return self._error(404, None, "unknown endpoint")
            kind, rev_name, sub = m.group(1), m.group(2), m.group(3) or ""
            rev = hub._revision(repo, rev_name)
            if rev is None:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev_name}")
            if kind == "revision" and self.command == "GET":
                info = {"_id": hashlib.md5(repo.encode()).hexdigest()[:24], "id": repo, "sha": rev.commit}
                if "expand" not in parse_qs(self.req.query):
                    info.update(modelId=repo, private=False, tags=[], siblings=[{"rfilename": p} for p in sorted(rev.files)])
                return self._json(info)
            if kind == "tree" and self.command == "GET":
                q = parse_qs(self.req.query)
                recursive = q.get("recursive", ["False"])[0].lower() in ("1", "true")
                if sub and sub not in rev.files and not any(p.startswith(sub.rstrip("/") + "/") for p in rev.files):
                    return self._error(404, "EntryNotFound", f"{sub} does not exist")
                return self._json(_tree(rev, sub, recursive))
            if kind == "paths-info" and self.command == "POST":
                body = self.body.decode()
                try:
                    paths = json.loads(body).get("paths", [])
                except ValueError:
                    paths = parse_qs(body).get("paths", [])
                out = []
                for p in paths:
                    if p in rev.files:
                        out.append(_entry(p, rev.files[p]))
                    elif any(q.startswith(p.rstrip("/") + "/") for q in rev.files):
                        out.append({"type": "directory", "oid": hashlib.sha1(p.encode()).hexdigest(), "path": p})
                return self._json(out)
            return self._error(405, None, "method not allowed")

        def _file(self, blob: Blob, rev: Revision | None, fault: _Fault | None) -> None:
            size = len(blob.data)
            headers = {"ETag": f'"{blob.etag}"', "Accept-Ranges": "bytes"}
            if rev is not None:
                headers["X-Repo-Commit"] = rev.commit
                if blob.lfs:
                    headers.update({"X-Linked-Size": str(size), "X-Linked-Etag": f'"{blob.sha256}"'})
                    if hub.cdn:
                        headers["Location"] = f"{hub.cdn_url}/blobs/{blob.sha256}?expires=3600"
                        return self._send(302, b"", headers)
            cut = fault.cut_after if fault is not None and fault.kind == "cut" else None
            rng = self.req.range
            if rng is None or (fault is not None and fault.kind == "ignore_range"):
                return self._send(200, blob.data, headers, cut=cut)
            m = _RANGE.match(rng.strip())
            if not m or (m.group(1) == "" and m.group(2) == ""):
                return self._send(200, blob.data, headers, cut=cut)
            if m.group(1) == "":  # suffix range: last n bytes
                start, end = max(0, size - int(m.group(2))), size - 1
            else:
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            if start >= size or start > end:
                headers["Content-Range"] = f"bytes */{size}"
                return self._send(416, b"", headers)
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return self._send(206, blob.data[start:end + 1], headers, cut=cut)

    return Handler


if __name__ == "__main__":  # pragma: no cover - manual use: serve a directory tree of repos
    import argparse
    import os
    ap = argparse.ArgumentParser(description="Serve DIR/<org>/<name>/<revision>/<files> as a Hub stand-in.")
    ap.add_argument("--serve", required=True, metavar="DIR")
    ap.add_argument("--cdn", action="store_true")
    a = ap.parse_args()
    hub = FakeHub(cdn=a.cdn)
    for org in sorted(os.listdir(a.serve)):
        for name in sorted(os.listdir(os.path.join(a.serve, org))):
            base = os.path.join(a.serve, org, name)
            for rev in sorted(os.listdir(base)):
                d = os.path.join(base, rev)
                files = {}
                for dp, _, fns in os.walk(d):
                    for fn in fns:
                        full = os.path.join(dp, fn)
                        files[os.path.relpath(full, d)] = open(full, "rb").read()
                hub.add_revision(f"{org}/{name}", rev, files)
    with hub:
        print(f"HF_ENDPOINT={hub.url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
