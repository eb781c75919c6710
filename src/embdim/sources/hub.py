# SPDX-License-Identifier: MIT
"""Hub access: list revisions, resolve files, and read ONE tensor with HTTP range requests.

``huggingface_hub`` does the endpoint (``HF_ENDPOINT``), auth (``HF_TOKEN`` or a stored login), headers,
URLs and error typing (``hf_raise_for_status``). The four API calls (the ones behind ``list_repo_refs``,
``model_info``, ``get_paths_info``, ``list_repo_tree``) are sent through the reader's own client
(:mod:`embdim.sources.http`) and parsed by us
(:mod:`embdim.sources.answers`), leniently: ``HfApi``'s parsers raise ``KeyError`` on answers that lack fields we do
not need (``converts``, ``pointerSize``, ``id``), and ``list_repo_tree`` retries inside on its own schedule.
We add what it lacks:

- retries of those API calls on 408/429/5xx and network errors, honouring ``Retry-After``
  (:mod:`embdim.sources.retry`, the same policy as the ranged reads);
- ranged GETs that retry, resume, follow CDN redirects and check every answer, with exact byte
  accounting (the client holds a :class:`embdim.sources.rangeread.RangeReader`);
- locating the tensor: the index json of sharded checkpoints, then the safetensors header or the
  torch-zip directory + ``data.pkl`` (:mod:`embdim.formats`).

Revisions are addressed by the name the user gave (a stand-in or mirror may not resolve commit shas in
URLs); every file answer's ``X-Repo-Commit`` is checked against the commit resolved first, so a branch
that moves mid-fetch is an error, not a silent mix of two checkpoints.

Every server string that is kept or shown is validated first: commits are 40 lowercase hex, branch
names and file paths carry no control characters (git allows none in ref names), sha256 values are 64
hex; anything else appears in messages only through :func:`embdim.sources.names.shown`. API answers are
read up to ``MAX_API_BYTES`` and index json files up to ``MAX_INDEX_BYTES``.

The token is only ever put in request headers; no message, log line or file written contains it.
"""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Callable
from urllib.parse import quote, urljoin

import httpx2
from huggingface_hub import hf_hub_url
from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError, HFValidationError,
                                    OfflineModeIsEnabled, RepositoryNotFoundError, RevisionNotFoundError)
from huggingface_hub.utils import hf_raise_for_status, validate_repo_id

from ..errors import CheckpointError, HubError, InputError, NotFoundError, TensorNotFoundError
from ..formats.layout import (MAX_INDEX_BYTES, TENSOR_ALIASES, WEIGHT_FILES, is_tied, is_weight_file,
                              locate_tensor, parse_weight_index, pick_weight_file, read_tensor_bytes)
from ..revnames import compile_patterns, parse_revision
from .answers import COMMIT, BadAnswer, Branch, HubFile, file_entries, ref_commit
from .http import FINAL_ERRORS, MAX_API_BYTES, NETWORK_ERRORS, deadline, http_error, request_capped
from .names import shown, unsafe_name
from .rangeread import RangeReader, git_blob_sha1
from .records import FetchResult, found, revision_row, shard_of, sort_rows
from .retry import RETRY_STATUS, Attempts, log, retry_after

_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
MAX_TREE_PAGES = 1000  # a Link header that never ends is a server bug, not a reason to loop forever


# -- helpers ----------------------------------------------------------------------------------------
def quiet_hub_logs() -> None:
    """Prepare huggingface_hub for a CLI run: silence its own retry warnings, and skip the telemetry
    part of its user agent, whose agent detection sends an extra GET ``{HF_ENDPOINT}/api/agent-harnesses``
    (a request, and bytes, that no fetch needs)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    constants.HF_HUB_DISABLE_TELEMETRY = True


# huggingface_hub's typed errors that no retry cures -> (embdim error, message), in except-clause order:
# subclasses first (GatedRepoError is a RepositoryNotFoundError; all but the first two are HfHubHTTPError).
_FINAL = (
    (HFValidationError, InputError, "{repo!r} is neither a directory nor a valid Hub repo id (namespace/name)"),
    (OfflineModeIsEnabled, HubError, "{what}: HF_HUB_OFFLINE is set; unset it to reach the Hub"),
    (GatedRepoError, HubError, "{repo} is gated: accept its terms on the Hub and set HF_TOKEN"),
    (RepositoryNotFoundError, NotFoundError,
     "{repo}: repository not found (check the id; private repos need HF_TOKEN)"),
    (RevisionNotFoundError, NotFoundError, "{repo}: revision {revision!r} not found"),
    (EntryNotFoundError, NotFoundError, "{repo}@{revision}: {filename} not found"),
)
_FINAL_TYPES = tuple(t for t, _, _ in _FINAL)


class _BareNotFound(NotFoundError):
    """A 404 without the Hub's ``X-Error-Code``: a missing thing, or an endpoint the server lacks."""


class HubClient:
    """Talks to the Hub (``HF_ENDPOINT`` or ``endpoint``): API calls with retries + ranged reads.

    It holds a :class:`embdim.sources.rangeread.RangeReader` (``reader``), whose retry policy and
    ``Retry-After`` hold its API calls share. Parameters are those of the reader (endpoint, token,
    backoff_base, max_retries, on_bytes, max_retry_after).
    """

    def __init__(self, endpoint: str | None = None, token: str | None = None, backoff_base: float | None = None,
                 max_retries: int | None = None, on_bytes: Callable[[int], None] | None = None,
                 max_retry_after: float | None = None):
        self.reader = RangeReader(endpoint, token, backoff_base, max_retries, on_bytes, max_retry_after)
        self.endpoint = self.reader.endpoint

    @property
    def bytes_downloaded(self) -> int:
        """HTTP body bytes received since this client was made (API answers included)."""
        return self.reader.bytes_downloaded

    def get_range(self, url: str, start: int, end: int, **kw) -> bytes | bytearray:
        """Bytes [start, end) of ``url``: :meth:`RangeReader.get_range`."""
        return self.reader.get_range(url, start, end, **kw)

    def get_file(self, url: str, size: int, **kw) -> bytes:
        """A whole small file, checked: :meth:`RangeReader.get_file`."""
        return self.reader.get_file(url, size, **kw)

    def _api(self, what: str, fn, *, repo_id: str, revision: str | None = None, filename: str | None = None):
        """Run one API call with retries; map huggingface_hub's typed errors to embdim's."""
        ctx = {"repo_id": repo_id, "revision": revision, "filename": filename}
        attempts = Attempts(self.reader.backoff, what, **ctx)
        while True:
            try:
                return fn()
            except _FINAL_TYPES as e:
                cls, msg = next((c, m) for t, c, m in _FINAL if isinstance(e, t))
                raise cls(msg.format(what=what, repo=repo_id, revision=revision, filename=filename or "path"),
                          **ctx) from e
            except HfHubHTTPError as e:
                status = e.response.status_code if e.response is not None else None
                if status in (401, 403):
                    raise HubError(f"{what}: access denied (HTTP {status}); check HF_TOKEN / login and the "
                                   "repo's access terms", **ctx) from e
                if status == 404:  # a 404 without the Hub's X-Error-Code: still "not there"
                    raise _BareNotFound(f"{repo_id}@{revision}: not found ({what}: HTTP 404)", **ctx) from e
                if status not in RETRY_STATUS:
                    raise HubError(f"{what} failed with HTTP {status}", **ctx) from e
                err, wait, why = e, retry_after(e.response.headers), f"HTTP {status}"
            except (*NETWORK_ERRORS, httpx2.DecodingError) as e:  # incl. a cut gzip body
                err, wait, why = e, None, f"{type(e).__name__}: {shown(e)}"
            except FINAL_ERRORS as e:  # redirect loop, ftp:// or file:// redirect, invalid port: final
                raise http_error(what, e, **ctx) from e
            except BadAnswer as e:  # a truncated or garbled answer: ask again
                err, wait, why = e, None, f"unusable answer ({e})"
            attempts.failed(why, err)
            attempts.wait(why, wait)

    def _call(self, method: str, url: str, what: str = "API call", **kw):
        """One API request through the reader's client (bytes counted with the ranges): (parsed JSON, response)."""
        self.reader.backoff.wait_hold()
        headers = self.reader.hub_headers()
        with deadline(self.reader.settings.deadline):
            r = request_capped(self.reader.client, method, url, what, MAX_API_BYTES, headers=headers, **kw)
        hf_raise_for_status(r)
        try:
            return json.loads(r.content), r
        except (UnicodeDecodeError, ValueError, RecursionError) as e:  # RecursionError: nested 10^5 deep
            raise BadAnswer(f"not JSON (HTTP {r.status_code})") from e

    def _repo_api(self, repo: str) -> str:
        validate_repo_id(repo)
        return f"{self.endpoint}/api/models/{repo}"

    # -- API ------------------------------------------------------------------------------------
    def resolve_commit(self, repo: str, revision: str) -> str:
        """The 40-hex commit a revision points at (``/revision/{rev}?expand=sha``: a tiny answer).

        A server without that endpoint (a bare 404) is asked for its refs instead."""
        def call():
            data, _ = self._call("GET", f"{self._repo_api(repo)}/revision/{quote(revision, safe='')}",
                                 "revision info", params={"expand": "sha"})
            sha = data.get("sha") if isinstance(data, dict) else None
            if not isinstance(sha, str) or not sha.strip():
                raise BadAnswer("no commit sha")
            if not COMMIT.fullmatch(sha):  # never passed on: it would reach stdout, logs and metadata
                raise HubError(f"revision info: the server's commit for {revision!r} is {shown(sha)}, "
                               "not 40 lowercase hex", repo_id=repo, revision=revision)
            return sha
        try:
            return self._api("revision info", call, repo_id=repo, revision=revision)
        except _BareNotFound:
            data = self._refs(repo)
            for ref in data.get("branches", []) + (data.get("tags") or []):
                if isinstance(ref, dict) and ref.get("name") == revision and ref_commit(ref):
                    return ref_commit(ref)
            if _HEX40.fullmatch(revision):
                return revision.lower()
            raise NotFoundError(f"{repo}: revision {revision!r} not found", repo_id=repo, revision=revision)

    def paths_info(self, repo: str, revision: str, paths: list[str]) -> dict[str, HubFile]:
        """The files among ``paths`` that exist at ``revision`` (absent ones are simply left out)."""
        def call():
            data, _ = self._call("POST", f"{self._repo_api(repo)}/paths-info/{quote(revision, safe='')}",
                                 "paths-info", data={"paths": list(paths), "expand": False})
            return file_entries(data)
        return self._api("paths-info", call, repo_id=repo, revision=revision)

    def list_files(self, repo: str, revision: str) -> dict[str, HubFile]:
        """Files at the top of the tree (weights live there), with LFS sha256; follows ``Link`` pages."""
        out: dict[str, HubFile] = {}
        url = f"{self._repo_api(repo)}/tree/{quote(revision, safe='')}"
        for _ in range(MAX_TREE_PAGES):
            def call(u=url):
                data, r = self._call("GET", u, "tree listing")
                return file_entries(data), r.links.get("next", {}).get("url")
            page, nxt = self._api("tree listing", call, repo_id=repo, revision=revision)
            out.update(page)
            if not nxt:
                return out
            url = urljoin(url, nxt)  # the Hub gives absolute URLs; a relative one is resolved
        raise HubError(f"{repo}@{revision}: tree listing has more than {MAX_TREE_PAGES} pages",
                       repo_id=repo, revision=revision)

    def _refs(self, repo: str) -> dict:
        def call():
            data, _ = self._call("GET", f"{self._repo_api(repo)}/refs", "refs")
            if not isinstance(data, dict) or not isinstance(data.get("branches"), list):
                raise BadAnswer("no branches list")
            return data
        return self._api("refs", call, repo_id=repo)

    def list_refs(self, repo: str) -> list[Branch]:
        """The repo's branches (tags and PR refs are not training checkpoints)."""
        out = []
        for b in self._refs(repo)["branches"]:
            name = b.get("name") if isinstance(b, dict) else None
            if name is None:
                raise HubError(f"{repo}: malformed branch entry in the refs answer", repo_id=repo)
            if unsafe_name(name):  # git refuses control characters in ref names: not a git server's answer
                raise HubError(f"refs answer: branch name {shown(name)} holds a control character "
                               "(git allows none); refusing the listing", repo_id=repo)
            out.append(Branch(name, ref_commit(b)))
        return out

    def url(self, repo: str, filename: str, revision: str) -> str:
        return hf_hub_url(repo, filename, revision=revision, endpoint=self.endpoint)

    def _read_index(self, repo: str, revision: str, commit: str | None, info: HubFile) -> dict[str, str]:
        if info.size > MAX_INDEX_BYTES:  # refused before a byte is read
            raise CheckpointError(f"{info.path}: index json of {info.size} bytes is larger than the "
                                  f"{MAX_INDEX_BYTES >> 20} MiB accepted (Pythia-12b's is ~30 kB)",
                                  repo_id=repo, revision=revision, filename=info.path)
        raw = self.get_file(self.url(repo, info.path, revision), info.size, sha256=info.sha256, commit=commit)
        if not info.sha256 and info.oid and git_blob_sha1(raw) != info.oid:
            # Length and JSON are still checked; some servers report another id than git's blob sha1.
            log.info("%s: git blob id %s differs from the tree's oid %s", info.path, git_blob_sha1(raw), info.oid)
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
        try:
            infos = self.paths_info(repo, revision, list(WEIGHT_FILES))
        except _BareNotFound:  # a server without paths-info: the tree listing says the same
            infos = {}
        entry = pick_weight_file(infos)
        if entry is None:  # unusual file names (or no paths-info): one listing of the tree
            infos = self.list_files(repo, revision)
            entry = pick_weight_file(infos)
        if entry is None:
            raise NotFoundError(f"{repo}@{revision}: no weight file (model.safetensors, pytorch_model.bin or a "
                                "sharded index)", **ctx)
        want, info = tensor, infos[entry]
        if entry.endswith(".index.json"):
            wm = self._read_index(repo, revision, commit, info)
            try:
                want, shard = shard_of(entry, wm, tensor)
            except TensorNotFoundError as e:
                raise TensorNotFoundError(f"{repo}@{revision}: {e}", tensor=tensor, **ctx) from e
            info = infos.get(shard)
            if info is None:
                try:
                    info = self.paths_info(repo, revision, [shard]).get(shard)
                except _BareNotFound:
                    info = self.list_files(repo, revision).get(shard)
            if info is None:
                raise NotFoundError(f"{repo}@{revision}: shard {shown(shard)} named in {entry} is missing", **ctx)
        sha = info.sha256
        url = self.url(repo, info.path, revision)

        def read_range(s: int, e: int) -> bytes:
            # Only lengths can be checked for a range: the file's sha256 covers the whole file. Each
            # response's X-Linked-Etag is compared to it (all ranges come from the same blob) and its
            # X-Repo-Commit to the commit resolved above (the branch did not move).
            return self.get_range(url, s, e, size=info.size, sha256=sha, commit=commit)

        try:
            loc = locate_tensor(read_range, info.size, info.path, want)
        except TensorNotFoundError as e:
            raise TensorNotFoundError(f"{repo}@{revision} {info.path}: {e}", tensor=tensor, filename=info.path,
                                      **ctx) from e
        raw = read_tensor_bytes(read_range, loc)
        return FetchResult(repo, revision, commit, info.path, loc.name, loc.dtype, loc.shape, raw,
                           self.bytes_downloaded, sha, is_tied(tensor, loc))

    def _holds(self, repo: str, branch: Branch, info: HubFile, tensor: str | None) -> bool | None:
        """Whether a single weight file holds ``tensor``: ``None`` if not, else whether it is tied
        (``embed_out`` served by the input embedding). Every causal LM has an input embedding, so
        ``embed_in`` costs nothing; other names cost a header (or zip directory) read."""
        if tensor in (None, "embed_in"):
            return False
        url = self.url(repo, info.path, branch.name)

        def read_range(s: int, e: int) -> bytes:
            return self.get_range(url, s, e, size=info.size, sha256=info.sha256, commit=branch.target_commit)
        try:
            return is_tied(tensor, locate_tensor(read_range, info.size, info.path, tensor))
        except (NotFoundError, CheckpointError):  # TensorNotFoundError is a NotFoundError
            return None

    def list_revisions(self, repo: str, tensor: str | None = None, workers: int = 4,
                       revision_pattern: str | None = None) -> list[dict]:
        """One row per branch: step, commit, weight files, the file holding ``tensor`` and its sha256.

        One tree listing per branch, plus the index json for sharded checkpoints (and, for a tensor other
        than ``embed_in``, a single file's header). A branch that vanished or holds no readable weights
        with that tensor is a ``no-weights`` row, never a failed listing; one whose name gives no step
        (``revision_pattern``, default :data:`embdim.revnames.DEFAULT_PATTERNS`) is ``unnumbered``.
        """
        patterns = compile_patterns(revision_pattern)
        refs = self.list_refs(repo)

        def row(branch: Branch) -> dict:
            out = revision_row(branch.name, parse_revision(branch.name, patterns), branch.target_commit)
            try:
                files = self.list_files(repo, branch.name)
            except NotFoundError:  # deleted between the refs call and now
                return out
            out["files"] = sorted(p for p in files if is_weight_file(p))
            entry = pick_weight_file(files)
            if entry is None:
                return out
            if entry.endswith(".index.json"):
                try:  # an unreadable index or a tensor it does not list: nothing to fetch there
                    wm = self._read_index(repo, branch.name, branch.target_commit, files[entry])
                    name, entry = shard_of(entry, wm, tensor)
                except (TensorNotFoundError, CheckpointError):
                    return out
                if entry not in files:
                    return out
                tied = tensor == "embed_out" and name in TENSOR_ALIASES["embed_in"]
            else:
                tied = self._holds(repo, branch, files[entry], tensor)
                if tied is None:
                    return out
            return found(out, entry, files[entry].sha256, tied=tied)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            rows = list(pool.map(row, refs))
        return sort_rows(rows)

