# SPDX-License-Identifier: MIT
"""A full checkpoint (every tensor but ``embed_out``) for the forward pass, as a local directory.

From the Hub, :func:`fetch_checkpoint` reads the weight file(s) through the same
:class:`embdim.sources.hub.HubClient` as ``embdim fetch`` — the same retries, resumption, length,
``X-Repo-Commit`` and LFS-etag checks, and the same bounds-checked header, index and torch-zip
parsers — with one range request per run of adjacent tensors, and ``config.json`` checked against
its git blob id. It writes ``model.safetensors`` (the tensors in their stored dtype) and
``config.json``, atomically. The output matrix is skipped: the hidden states never use it, and
for Pythia it is as large as the input embedding. A local model directory is used in place.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, InputError, NotFoundError
from ..formats.layout import TENSOR_ALIASES, WEIGHT_FILES, locate_tensor, pick_weight_file
from ..formats.safe import checked_reader, load_json
from ..formats.safetensors import read_safetensors_table, safetensors_bytes_header
from ..formats.torchzip import locate_bin_tensor
from ..io import atomic_write, sha256_file

# Tensors never copied: the output matrix (not used by the hidden states) and the buffers old
# GPT-NeoX .bin checkpoints carry (causal mask, masked_bias = -inf, rotary inv_freq), which
# transformers rebuilds itself.
SKIP_TENSORS = frozenset(TENSOR_ALIASES["embed_out"])
SKIP_SUFFIXES = (".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq")
# config.json of any causal LM is a few kB; more is not a config.
MAX_CONFIG_BYTES = 1 << 20


@dataclass
class ModelDir:
    """A model directory ready for :func:`embdim.hidden.forward.load_model`."""

    path: Path
    commit: str | None
    bytes_downloaded: int = 0


def skipped(name: str) -> bool:
    return name in SKIP_TENSORS or name.endswith(SKIP_SUFFIXES)


def _merged(infos: list) -> list[tuple[int, int]]:
    """Byte ranges covering ``infos`` (contiguous tensors), adjacent ones merged into one."""
    spans: list[list[int]] = []
    for t in sorted(infos, key=lambda t: t.start):
        if spans and t.start == spans[-1][1]:
            spans[-1][1] = t.end
        else:
            spans.append([t.start, t.end])
    return [tuple(s) for s in spans]


def _tensors_of(read_range, size: int, path: str) -> tuple[list, list[str]]:
    """(TensorInfo of every tensor of one weight file that is not :func:`skipped`, the names
    skipped)."""
    read_range = checked_reader(read_range, size, path)
    if path.endswith(".safetensors"):
        names = list(read_safetensors_table(read_range, size, path).items())
        return [t for n, t in names if not skipped(n)], [n for n, _ in names if skipped(n)]
    names: list[str] = []

    def collect(available: list[str]) -> str:
        names.extend(available)
        return available[0]
    locate_bin_tensor(read_range, size, collect)  # one read of the directory and pickle
    return ([locate_tensor(read_range, size, path, n) for n in names if not skipped(n)],
            [n for n in names if skipped(n)])


def _read_all(read_range, infos: list) -> dict[str, bytes]:
    """Raw bytes of each tensor, one request per merged run (strided .bin views read alone)."""
    from ..formats.layout import read_tensor_bytes
    out: dict[str, bytes] = {}
    plain = [t for t in infos if t.stride is None and t.span == t.nbytes]
    for s, e in _merged(plain):
        buf = memoryview(read_range(s, e))
        for t in plain:
            if s <= t.start and t.end <= e:
                out[t.name] = bytes(buf[t.start - s:t.end - s])
    for t in infos:
        if t.name not in out:
            out[t.name] = read_tensor_bytes(read_range, t)
    return out


def fetch_checkpoint(repo: str, revision: str, out_dir: str | os.PathLike, client=None) -> dict:
    """Fetch every tensor of ``repo@revision`` but ``embed_out`` into ``out_dir``.

    Returns
    -------
    dict
        ``repo, revision, commit, files, tensors, skipped, dtype, bytes_downloaded,
        bytes_written, weight_file_bytes, seconds``.

    Raises
    ------
    NotFoundError, HubError, IntegrityError, CheckpointError
    """
    from ..sources.hub import HubClient, _BareNotFound, quiet_hub_logs

    t0 = time.perf_counter()
    quiet_hub_logs()
    client = client or HubClient()
    ctx = {"repo_id": repo, "revision": revision}
    commit = client.resolve_commit(repo, revision)
    try:
        infos = client.paths_info(repo, revision, list(WEIGHT_FILES) + ["config.json"])
    except _BareNotFound:
        infos = {}
    entry = pick_weight_file(p for p in infos if p != "config.json")
    if entry is None or "config.json" not in infos:
        infos = client.list_files(repo, revision)
        entry = pick_weight_file(p for p in infos if p != "config.json")
    if entry is None:
        raise NotFoundError(f"{repo}@{revision}: no weight file", **ctx)
    if "config.json" not in infos:
        raise NotFoundError(f"{repo}@{revision}: no config.json", **ctx)
    files = [entry]
    if entry.endswith(".index.json"):
        wm = client._read_index(repo, revision, commit, infos[entry])
        base = posixpath_dir(entry)
        files = sorted({f"{base}{f}" for f in wm.values()})
    tensors: dict[str, tuple] = {}
    raw: dict[str, bytes] = {}
    weight_bytes = 0
    dropped: list[str] = []
    for path in files:
        info = infos.get(path)
        if info is None:
            raise NotFoundError(f"{repo}@{revision}: shard {path} is missing", **ctx)
        weight_bytes += info.size
        url = client.url(repo, path, revision)

        def read_range(s, e, url=url, info=info):
            return client.get_range(url, s, e, size=info.size, sha256=info.sha256, commit=commit)
        found, left = _tensors_of(read_range, info.size, path)
        dropped += left
        for t in found:
            if t.name in tensors:
                raise CheckpointError(f"{repo}@{revision}: tensor {t.name!r} is in two shards", **ctx)
            tensors[t.name] = (t.dtype, tuple(t.shape), t.nbytes)
        raw.update(_read_all(read_range, found))
    cfg_info = infos["config.json"]
    if cfg_info.size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{repo}@{revision}: config.json of {cfg_info.size} bytes", **ctx)
    cfg_raw = bytes(client.get_file(client.url(repo, "config.json", revision), cfg_info.size,
                                    sha256=cfg_info.sha256, git_oid=cfg_info.oid, commit=commit))
    cfg = load_json(cfg_raw, "config.json")
    if not isinstance(cfg, dict) or "auto_map" in cfg:
        raise CheckpointError(f"{repo}@{revision}: config.json is not a plain model config", **ctx)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"format": "pt", "repo": repo, "revision": revision, "commit": commit}
    header = safetensors_bytes_header(tensors, meta)
    atomic_write(out / "model.safetensors", [header] + [raw[n] for n in tensors])
    atomic_write(out / "config.json", [cfg_raw])
    return {"repo": repo, "revision": revision, "commit": commit, "files": files,
            "tensors": len(tensors), "skipped": sorted(dropped),
            "dtype": sorted({t[0] for t in tensors.values()}),
            "bytes_downloaded": client.bytes_downloaded,
            "bytes_written": len(header) + sum(t[2] for t in tensors.values()),
            "weight_file_bytes": weight_bytes, "seconds": time.perf_counter() - t0}


def posixpath_dir(entry: str) -> str:
    """Directory prefix (with slash) of an index json's path, '' at the top."""
    return entry.rsplit("/", 1)[0] + "/" if "/" in entry else ""


def _local_dir(model: str, revision: str | None) -> Path:
    root = Path(model)
    if not revision:
        return root
    if revision in (".", "..") or "/" in revision or os.sep in revision:
        raise InputError(f"--revision {revision!r}: expected a subdirectory name of {model}")
    d = root / revision
    if not d.is_dir():
        raise NotFoundError(f"{model}: revision {revision!r} not found (no directory {d})")
    if not os.path.realpath(d).startswith(os.path.realpath(root) + os.sep):
        raise InputError(f"{d}: links outside the run directory")
    return d


@contextlib.contextmanager
def model_dir_for(model: str, revision: str | None):
    """A :class:`ModelDir` for MODEL [--revision]: a local model or run directory in place
    (commit = sha256 of its model.safetensors, as the sweep records local runs), else a Hub
    checkpoint fetched into a temporary directory, removed afterwards."""
    if Path(model).is_dir():
        d = _local_dir(model, revision)
        from .forward import check_model_dir
        check_model_dir(d)
        yield ModelDir(d, sha256_file(d / "model.safetensors"))
        return
    if not revision:
        raise InputError(f"{model}: not a directory; a Hub repo needs --revision")
    with tempfile.TemporaryDirectory(prefix="embdim-ckpt-") as tmp:
        rec = fetch_checkpoint(model, revision, tmp)
        yield ModelDir(Path(tmp), rec["commit"], rec["bytes_downloaded"])


def read_fetch_record(path: str | os.PathLike) -> dict:
    """The JSON ``embdim fetch-checkpoint --json`` wrote (commit, bytes)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable fetch record: {e}") from e
