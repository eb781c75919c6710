# SPDX-License-Identifier: MIT
"""A second, independent Hub stand-in that behaves like huggingface.co where a friendly one may not.

Written apart from ``tests/hubs/hubserver.py`` to catch what that one is too kind about. Like the real Hub:

- LFS files: ``GET``/``HEAD /{repo}/resolve/{rev}/{path}`` answer **302** with an absolute ``Location``
  on another origin (the CDN, a second port) and a short text body, plus ``X-Repo-Commit``,
  ``X-Linked-Size``, ``X-Linked-Etag`` (quoted), a weak ``ETag``, ``X-Xet-Hash`` and a ``Link`` header.
  The CDN serves Range requests, sends no Hub headers and answers 400 to any ``Authorization`` header
  (a presigned S3 URL refuses a second auth mechanism), so a client that forwards the token fails.
- Non-LFS files: a **relative** 307 to ``/api/resolve-cache/...`` (what the Hub does today), which
  serves the bytes with a weak ``ETag``.
- API: ``refs`` with ``branches``/``converts``/``tags``; ``revision/{rev}`` ignores ``expand`` (full
  answer); ``tree`` pages of ``page_size`` entries linked by ``Link: <absolute url>; rel="next"``;
  ``paths-info`` takes the form body the real client sends; JSON answers are gzip-compressed when the
  client accepts it.
- Errors: a missing repo is **401** + ``X-Error-Code: RepoNotFound`` without a token (404 with one), a
  missing revision 404 ``RevisionNotFound``, a missing file 404 ``EntryNotFound``.
- ``renamed={"old/id": "new/id"}``: requests for the old id get a relative 307 to the new one.
- ``http10=True``: HTTP/1.0 without Content-Length, so a cut body looks complete to the HTTP layer.
- ``lacking=("revision", "paths-info")`` answers those endpoints with a bare 404, like a minimal server.
- ``commit_urls=False`` (default): a 40-hex commit in a URL is NOT resolved (a stand-in may only know
  branch names), so a client must address files by the name it was given.

Every body byte written is counted (``bytes_sent``), per request (``requests``). Faults (``fault``)
match a server (``hub``/``cdn``) and a path substring: ``status`` (e.g. 429 + Retry-After, 503),
``cut`` (full Content-Length, ``n`` bytes, then the connection drops), ``full`` (200 + the whole body to
a Range request), ``bare206`` (206 without Content-Range), ``slice200`` (the range, sent as a 200).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".gguf")


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Req:
    server: str
    method: str
    path: str
    query: str
    headers: dict
    t: float
    status: int = 0
    sent: int = 0

    @property
    def range(self) -> str | None:
        return self.headers.get("range")


@dataclass
class Fault:
    server: str
    path: str
    kind: str            # "status" | "cut" | "full"
    times: int = 1
    skip: int = 0
    status: int = 503
    headers: dict = field(default_factory=dict)
    n: int = 0


class StrictHub:
    """Loopback Hub (+ CDN on another port); ``with StrictHub() as hub: hub.url``."""

    def __init__(self, *, page_size: int = 2, commit_urls: bool = False, token: str | None = None,
                 lacking: tuple = (), http10: bool = False, latency: float = 0.0, renamed: dict | None = None):
        self.page_size, self.commit_urls, self.token = page_size, commit_urls, token
        self.http10 = http10  # HTTP/1.0, no Content-Length: bodies end when the connection closes
        self.latency = latency  # seconds before each answer (a round trip)
        self.renamed = dict(renamed or {})  # old repo id -> new one: answered with a relative 307
        self.lacking = set(lacking)  # API endpoints answered with a bare 404 ("revision", "paths-info")
        self.repos: dict[str, dict[str, tuple[str, dict[str, bytes]]]] = {}
        self.requests: list[Req] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self._srv: list[ThreadingHTTPServer] = []
        self.url = self.cdn_url = ""

    def __enter__(self) -> "StrictHub":
        for kind in ("hub", "cdn"):
            handler = _handler(self, kind)
            if self.http10:
                handler.protocol_version = "HTTP/1.0"
            srv = _Server(("127.0.0.1", 0), handler)
            srv.daemon_threads = True
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self._srv.append(srv)
            setattr(self, "url" if kind == "hub" else "cdn_url", f"http://127.0.0.1:{srv.server_address[1]}")
        return self

    def __exit__(self, *exc) -> None:
        for srv in self._srv:
            srv.shutdown()
            srv.server_close()

    # -- content / bookkeeping --------------------------------------------------------------------
    def add_revision(self, repo: str, rev: str, files: dict[str, bytes]) -> str:
        commit = hashlib.sha1(repr((repo, rev, sorted((p, git_oid(d)) for p, d in files.items()))).encode()).hexdigest()
        with self.lock:
            self.repos.setdefault(repo, {})[rev] = (commit, {p: bytes(d) for p, d in files.items()})
        return commit

    def fault(self, server: str, path: str, kind: str, **kw) -> None:
        with self.lock:
            self.faults.append(Fault(server, path, kind, **kw))

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()

    @property
    def bytes_sent(self) -> int:
        with self.lock:
            return sum(r.sent for r in self.requests)

    def _take(self, server: str, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.times > 0 and f.server == server and f.path in path:
                    if f.skip:
                        f.skip -= 1
                        continue
                    f.times -= 1
                    return f
        return None

    def _rev(self, repo: str, rev: str):
        revs = self.repos[repo]
        if rev in revs:
            return revs[rev]
        if self.commit_urls:
            return next((v for v in revs.values() if v[0] == rev), None)
        return None

    def _blob(self, sha: str) -> bytes | None:
        for revs in self.repos.values():
            for _, files in revs.values():
                for d in files.values():
                    if hashlib.sha256(d).hexdigest() == sha:
                        return d
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client dropping a connection (e.g. after a 200 to a Range) is not a server failure


def _entry(path: str, data: bytes) -> dict:
    if not path.endswith(LFS):
        return {"type": "file", "oid": git_oid(data), "size": len(data), "path": path}
    sha = hashlib.sha256(data).hexdigest()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()
    return {"type": "file", "oid": git_oid(pointer), "size": len(data), "path": path,
            "xetHash": hashlib.sha256(b"xet" + data).hexdigest(),
            "lfs": {"oid": sha, "size": len(data), "pointerSize": len(pointer)}}


def _handler(hub: StrictHub, server: str):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self._go()

        def do_HEAD(self) -> None:
            self._go()

        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(n) if n else b""
            self._go()

        # -- sending ------------------------------------------------------------------------------
        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, cut: int | None = None) -> None:
            self.req.status = status
            self.send_response(status)
            length = {} if hub.http10 else {"Content-Length": str(len(body))}
            for k, v in (length | (headers or {})).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command == "HEAD":
                return
            out = body if cut is None else body[:cut]
            try:
                for i in range(0, len(out), 1 << 16):
                    self.wfile.write(out[i:i + (1 << 16)])
                    with hub.lock:
                        self.req.sent += len(out[i:i + (1 << 16)])
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                return
            if cut is not None:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        def _json(self, obj, status: int = 200, headers: dict | None = None) -> None:
            body = json.dumps(obj).encode()
            h = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
            if "gzip" in (self.headers.get("Accept-Encoding") or "") and status < 300:
                body, h["Content-Encoding"], h["Vary"] = gzip.compress(body), "gzip", "Accept-Encoding"
            cut = self.fault.n if getattr(self, "fault", None) is not None and self.fault.kind == "cut" else None
            self._send(status, body, h, cut)

        def _err(self, status: int, code: str | None, msg: str) -> None:
            self._json({"error": msg}, status, {"X-Error-Code": code, "X-Error-Message": msg} if code else {})

        # -- routing ------------------------------------------------------------------------------
        def _go(self) -> None:
            u = urlsplit(self.path)
            self.req = Req(server, self.command, unquote(u.path), u.query,
                           {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
            with hub.lock:
                hub.requests.append(self.req)
            if hub.latency:
                time.sleep(hub.latency)
            self.fault = hub._take(server, self.req.path)
            if self.fault is not None and self.fault.kind == "status":
                return self._json({"error": "injected"}, self.fault.status, self.fault.headers)
            if server == "cdn":
                return self._cdn()
            auth = self.req.headers.get("authorization")
            if hub.token and auth not in (None, f"Bearer {hub.token}"):
                return self._json({"error": "Invalid credentials"}, 401,
                                  {"X-Error-Message": "Invalid credentials in Authorization header"})
            p = self.req.path
            m = re.fullmatch(r"/api/resolve-cache/models/(.+?/[^/]+)/([0-9a-f]{40})/(.+)", p)
            if m:
                return self._cached(*m.groups())
            api = p.startswith("/api/models/")
            rest = p[len("/api/models/"):] if api else p.lstrip("/")
            old = next((o for o in hub.renamed if rest.startswith(o + "/")), None)
            if old is not None:  # a renamed repo: the Hub redirects, relative to itself, keeping the query
                loc = ("/api/models/" if api else "/") + quote(hub.renamed[old] + rest[len(old):])
                loc += "?" + self.req.query if self.req.query else ""
                return self._send(307, b"", {"Location": loc})
            repo = next((r for r in sorted(hub.repos, key=len, reverse=True) if rest.startswith(r + "/")), None)
            if repo is None or (hub.token and auth is None):  # private repos look missing without a token
                code = 404 if auth else 401
                return self._err(code, "RepoNotFound", "Repository not found")
            tail = rest[len(repo) + 1:]
            if api:
                return self._api(repo, tail)
            m = re.fullmatch(r"resolve/([^/]+)/(.+)", tail)
            if not m:
                return self._err(404, None, "Not Found")
            return self._resolve(repo, *m.groups())

        def _api(self, repo: str, tail: str) -> None:
            q = parse_qs(self.req.query)
            if tail == "refs":
                br = [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": c} for n, (c, _) in hub.repos[repo].items()]
                return self._json({"branches": br, "converts": [], "tags": []})
            m = re.fullmatch(r"(revision|tree|paths-info)/([^/]+)(?:/(.*))?", tail)
            if not m:
                return self._err(404, None, "Not Found")
            kind, rev_name, sub = m.group(1), m.group(2), (m.group(3) or "").strip("/")
            if kind in hub.lacking:
                return self._err(404, None, "Not Found")
            rev = hub._rev(repo, rev_name)
            if rev is None:
                return self._err(404, "RevisionNotFound", f"Invalid rev id: {rev_name}")
            commit, files = rev
            if kind == "revision":
                return self._json({"_id": hashlib.md5(repo.encode()).hexdigest()[:24], "id": repo, "modelId": repo,
                                   "author": repo.split("/")[0], "sha": commit, "private": bool(hub.token),
                                   "disabled": False, "gated": False, "downloads": 0, "likes": 0,
                                   "library_name": "transformers", "tags": ["pytorch", "gpt_neox"],
                                   "lastModified": "2023-01-01T00:00:00.000Z",
                                   "siblings": [{"rfilename": f} for f in sorted(files)]})
            if kind == "paths-info":
                form = parse_qs(self.body.decode())
                paths = form.get("paths", [])
                return self._json([_entry(f, files[f]) for f in paths if f in files])
            recursive = q.get("recursive", ["false"])[0].lower() in ("1", "true")
            prefix = sub + "/" if sub else ""
            items, dirs = [], set()
            for f in sorted(files):
                if not f.startswith(prefix):
                    continue
                rest = f[len(prefix):]
                if "/" in rest and not recursive:
                    d = prefix + rest.split("/")[0]
                    if d not in dirs:
                        dirs.add(d)
                        items.append({"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0,
                                      "path": d})
                    continue
                items.append(_entry(f, files[f]))
            if sub and not items:
                return self._err(404, "EntryNotFound", f"{sub} does not exist on {rev_name}")
            start = int(q.get("cursor", ["0"])[0])
            page = items[start:start + hub.page_size]
            h = {}
            if start + hub.page_size < len(items):
                nq = {k: v[0] for k, v in q.items()}
                nq.update(cursor=str(start + hub.page_size), limit=str(hub.page_size))
                nxt = f"{hub.url}{quote(self.req.path)}?" + "&".join(f"{k}={quote(v)}" for k, v in nq.items())
                h["Link"] = f'<{nxt}>; rel="next"'
            return self._json(page, 200, h)

        def _resolve(self, repo: str, rev_name: str, path: str) -> None:
            if self.command == "POST":
                return self._err(405, None, "Method Not Allowed")
            rev = hub._rev(repo, rev_name)
            if rev is None:
                return self._err(404, "RevisionNotFound", f"Invalid rev id: {rev_name}")
            commit, files = rev
            if path not in files:
                return self._err(404, "EntryNotFound", "Entry not found")
            data = files[path]
            if not path.endswith(LFS):
                loc = f"/api/resolve-cache/models/{repo}/{commit}/{quote(path)}?etag=%22{git_oid(data)}%22"
                return self._send(307, f"Temporary Redirect. Redirecting to {loc}".encode(),
                                  {"Location": loc, "X-Repo-Commit": commit, "ETag": f'"{git_oid(data)}"',
                                   "Content-Type": "text/plain; charset=utf-8"})
            sha = hashlib.sha256(data).hexdigest()
            sig = hashlib.sha256(f"{sha}{time.time()}".encode()).hexdigest()
            loc = (f"{hub.cdn_url}/xet-bridge-us/{hashlib.md5(repo.encode()).hexdigest()[:24]}/{sha}"
                   f"?X-Amz-Expires=3600&X-Amz-Signature={sig}&X-Amz-SignedHeaders=host")
            return self._send(302, f"Found. Redirecting to {loc}".encode(), {
                "Location": loc, "Content-Type": "text/plain; charset=utf-8", "X-Repo-Commit": commit,
                "ETag": f'W/"{sha}"', "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(len(data)),
                "X-Xet-Hash": hashlib.sha256(b"xet" + data).hexdigest(), "Accept-Ranges": "bytes",
                "Link": f'<{hub.url}/api/models/{repo}/xet-read-token/{commit}>; rel="xet-auth"'})

        def _cached(self, repo: str, commit: str, path: str) -> None:
            files = next((f for c, f in hub.repos.get(repo, {}).values() if c == commit), None)
            if files is None or path not in files:
                return self._err(404, "EntryNotFound", "Entry not found")
            self._bytes(files[path], {"ETag": f'W/"{git_oid(files[path])}"', "X-Repo-Commit": commit})

        def _cdn(self) -> None:
            if "authorization" in self.req.headers:
                return self._send(400, b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism "
                                       b"allowed</Message></Error>", {"Content-Type": "application/xml"})
            m = re.fullmatch(r"/xet-bridge-us/[0-9a-f]+/([0-9a-f]{64})", self.req.path)
            data = hub._blob(m.group(1)) if m else None
            if data is None:
                return self._send(403, b"<Error><Code>AccessDenied</Code></Error>", {"Content-Type": "application/xml"})
            self._bytes(data, {"ETag": f'"{hashlib.md5(data).hexdigest()}"',
                               "Content-Type": "application/octet-stream"})

        def _bytes(self, data: bytes, headers: dict) -> None:
            h = {"Accept-Ranges": "bytes", **headers}
            cut = self.fault.n if self.fault is not None and self.fault.kind == "cut" else None
            rng = self.req.range
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", (rng or "").strip())
            if not m or (self.fault is not None and self.fault.kind == "full"):
                return self._send(200, data, h, cut)
            size = len(data)
            if m.group(1) == "":
                start, end = max(0, size - int(m.group(2))), size - 1
            else:
                start, end = int(m.group(1)), min(int(m.group(2) or size - 1), size - 1)
            if start >= size or start > end:
                return self._send(416, b"", {**h, "Content-Range": f"bytes */{size}"})
            kind = self.fault.kind if self.fault is not None else ""
            if kind in ("bare206", "slice200"):  # what simple servers do: no Content-Range / wrong status
                return self._send(206 if kind == "bare206" else 200, data[start:end + 1], h)
            return self._send(206, data[start:end + 1], {**h, "Content-Range": f"bytes {start}-{end}/{size}"}, cut)

    return H
