# SPDX-License-Identifier: MIT
"""Builders for test checkpoints in every layout the Hub uses, written independently of embdim.

Layouts (``LAYOUTS``): ``safetensors`` (model.safetensors), ``sharded-safetensors``
(model-0000i-of-0000N.safetensors + model.safetensors.index.json), ``bin`` (torch-zip
pytorch_model.bin from ``torch.save``), ``bin-zip64`` (the same entries re-packed with ZIP64 records and
a ``pytorch_model/`` prefix, as large files have), ``sharded-bin`` (pytorch_model-0000i-of-0000N.bin +
pytorch_model.bin.index.json). dtypes: ``F16``, ``BF16``, ``F32``.

The main entry point for workflow tests is :func:`make_pythia_like_repo`.
"""
from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

LAYOUTS = ("safetensors", "sharded-safetensors", "bin", "bin-zip64", "sharded-bin")
DTYPES = ("F16", "BF16", "F32")
_DTYPE_ALIASES = {"float16": "F16", "fp16": "F16", "f16": "F16", "bfloat16": "BF16", "bf16": "BF16",
                  "float32": "F32", "fp32": "F32", "f32": "F32"}
_ITEMSIZE = {"F16": 2, "BF16": 2, "F32": 4, "BOOL": 1}
EMBED_IN = "gpt_neox.embed_in.weight"
EMBED_OUT = "embed_out.weight"


def norm_dtype(dtype: str) -> str:
    d = _DTYPE_ALIASES.get(dtype.lower(), dtype.upper())
    if d not in _ITEMSIZE:
        raise ValueError(f"unknown dtype {dtype!r}")
    return d


@dataclass(frozen=True)
class RawTensor:
    """A tensor as raw little-endian bytes plus its safetensors dtype tag and shape."""

    dtype: str
    shape: tuple
    data: bytes

    @property
    def nbytes(self) -> int:
        return len(self.data)

    def array(self) -> np.ndarray:
        """Decode to numpy; bf16 is widened exactly to float32."""
        if self.dtype == "BF16":
            u = np.frombuffer(self.data, "<u2").astype(np.uint32) << 16
            return u.view(np.float32).reshape(self.shape)
        np_dt = {"F16": "<f2", "F32": "<f4", "BOOL": "?"}[self.dtype]
        return np.frombuffer(self.data, np_dt).reshape(self.shape)


def raw_from_float32(x: np.ndarray, dtype: str) -> RawTensor:
    """Round a float32 array to ``dtype`` (bf16: round to nearest even) and keep the bytes."""
    dtype = norm_dtype(dtype)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if dtype == "BF16":
        u = x.view(np.uint32).astype(np.uint64)
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        data = u.astype("<u2").tobytes()
    else:
        data = x.astype("<f2" if dtype == "F16" else "<f4").tobytes()
    return RawTensor(dtype, tuple(x.shape), data)


def embedding_matrix(vocab: int, dim: int, seed: int, pad_rows: int = 4) -> np.ndarray:
    """Random float32 embedding whose last ``pad_rows`` rows are identical (like Pythia's padding rows)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((vocab, dim)) * 0.02).astype(np.float32)
    if pad_rows > 0:
        x[vocab - pad_rows:] = x[vocab - pad_rows]
    return x


def pythia_like_tensors(vocab: int = 64, dim: int = 16, dtype: str = "F16", seed: int = 0,
                        pad_rows: int = 4) -> "OrderedDict[str, RawTensor]":
    """A tiny GPT-NeoX-style state dict: embed_in, one layer (incl. a -inf masked_bias buffer), embed_out."""
    rng = np.random.default_rng(seed + 1)
    t = OrderedDict()
    t[EMBED_IN] = raw_from_float32(embedding_matrix(vocab, dim, seed, pad_rows), dtype)
    t["gpt_neox.layers.0.attention.masked_bias"] = raw_from_float32(np.array(-np.inf, np.float32), "F32")
    t["gpt_neox.layers.0.mlp.dense_h_to_4h.weight"] = raw_from_float32(
        rng.standard_normal((4 * dim, dim)).astype(np.float32) * 0.02, dtype)
    t["gpt_neox.final_layer_norm.weight"] = raw_from_float32(np.ones(dim, np.float32), dtype)
    t[EMBED_OUT] = raw_from_float32(embedding_matrix(vocab, dim, seed + 7919, pad_rows), dtype)
    return t


# -- safetensors ------------------------------------------------------------------------------------
def safetensors_file(tensors: dict[str, RawTensor], metadata: dict | None = None) -> bytes:
    header: dict = {"__metadata__": dict(metadata or {"format": "pt"})}
    off = 0
    for name, t in tensors.items():
        header[name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [off, off + t.nbytes]}
        off += t.nbytes
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(t.data for t in tensors.values())


# -- torch zip ---------------------------------------------------------------------------------------
def torch_bin_file(tensors: dict[str, RawTensor], *, zip64: bool = False, prefix: str | None = None) -> bytes:
    """``torch.save`` of the state dict; with ``zip64`` or ``prefix`` the entries are re-packed by hand."""
    import torch  # imported lazily: only the .bin layouts need it

    tdt = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "BOOL": torch.bool}
    sd = OrderedDict()
    for name, t in tensors.items():
        sd[name] = torch.frombuffer(bytearray(t.data), dtype=tdt[t.dtype]).reshape(t.shape).clone()
    buf = io.BytesIO()
    torch.save(sd, buf)
    data = buf.getvalue()
    if not zip64 and prefix is None:
        return data
    zf = zipfile.ZipFile(io.BytesIO(data))
    entries = []
    for info in zf.infolist():
        name = info.filename.split("/", 1)[1]
        entries.append((f"{prefix or 'archive'}/{name}", zf.read(info)))
    return zip_stored(entries, zip64=zip64)


def zip_stored(entries: list[tuple[str, bytes]], *, zip64: bool = True, align: int = 64) -> bytes:
    """Write an uncompressed zip like PyTorch does: data padded to ``align`` bytes via the local extra field.

    With ``zip64`` every size/offset goes through ZIP64 extra fields and the archive ends with a ZIP64
    end-of-central-directory record + locator, as archives over 4 GiB do.
    """
    out = bytearray()
    central = bytearray()
    for name, data in entries:
        nm = name.encode()
        crc = zlib.crc32(data)
        offset = len(out)
        extra = struct.pack("<HHQQ", 1, 16, len(data), len(data)) if zip64 else b""
        base = offset + 30 + len(nm) + len(extra)
        pad = -(base + 4) % align  # padding extra block ('FB' as torch writes) has a 4-byte header
        extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        size32 = 0xFFFFFFFF if zip64 else len(data)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, 0, 0, 0, 0, crc, size32, size32,
                           len(nm), len(extra)) + nm + extra + data
        cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset) if zip64 else b""
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45 if zip64 else 20, 0, 0, 0, 0, crc,
                               size32, size32, len(nm), len(cextra), 0, 0, 0, 0,
                               0xFFFFFFFF if zip64 else offset) + nm + cextra
    cd_off, cd_size, n = len(out), len(central), len(entries)
    out += central
    if zip64:
        eocd64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_size, cd_off)
        out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_off, 0)
    return bytes(out)


# -- layouts -----------------------------------------------------------------------------------------
def checkpoint_files(tensors: dict[str, RawTensor], layout: str, shards: int = 2) -> dict[str, bytes]:
    """The weight files (+ index json for sharded layouts) of one checkpoint in ``layout``.

    Sharded layouts put the input embedding in shard 1 and the output embedding in the last shard.
    """
    if layout == "safetensors":
        return {"model.safetensors": safetensors_file(tensors)}
    if layout == "bin":
        return {"pytorch_model.bin": torch_bin_file(tensors)}
    if layout == "bin-zip64":
        return {"pytorch_model.bin": torch_bin_file(tensors, zip64=True, prefix="pytorch_model")}
    if layout not in ("sharded-safetensors", "sharded-bin"):
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    names = list(tensors)
    groups = [names[i::shards] for i in range(shards)]
    for g in groups:  # pin the embeddings: embed_in -> shard 1, embed_out -> last shard
        for pinned in (EMBED_IN, EMBED_OUT):
            if pinned in g:
                g.remove(pinned)
    if EMBED_IN in tensors:
        groups[0].insert(0, EMBED_IN)
    if EMBED_OUT in tensors:
        groups[-1].append(EMBED_OUT)
    files, weight_map = {}, {}
    st = layout == "sharded-safetensors"
    for i, g in enumerate(groups, 1):
        fname = (f"model-{i:05d}-of-{shards:05d}.safetensors" if st
                 else f"pytorch_model-{i:05d}-of-{shards:05d}.bin")
        part = OrderedDict((n, tensors[n]) for n in g)
        files[fname] = safetensors_file(part) if st else torch_bin_file(part)
        weight_map.update({n: fname for n in g})
    total = sum(t.nbytes for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    files["model.safetensors.index.json" if st else "pytorch_model.bin.index.json"] = json.dumps(index, indent=2).encode()
    return files


def make_pythia_like_repo(hub, repo_id: str, steps, layout="safetensors", dtype: str = "F16",
                          vocab: int = 64, dim: int = 16, missing=(), identical=(), main: bool = True,
                          pad_rows: int = 4, seed: int = 0) -> dict[str, dict]:
    """Put a tiny Pythia-like repo on a ``FakeHub``: one branch ``step{N}`` per step (+ ``main``).

    Parameters
    ----------
    hub : tests.hubs.hubserver.FakeHub
    steps : iterable of int
    layout : str or dict
        One of ``LAYOUTS``, or ``{step: layout}`` (steps not in the dict use ``"safetensors"``).
    dtype : ``"F16"``, ``"BF16"`` or ``"F32"`` (aliases like ``"bf16"``/``"float16"`` accepted).
    missing : steps described in the result but NOT put on the Hub (a missing revision).
    identical : list of steps whose files are byte-identical copies of the previous step in ``steps``,
        or ``{step: source_step}``.
    main : add branch ``main`` holding the last step's files (as on the Hub, main = final model).

    Returns
    -------
    dict
        revision name -> ``{"step", "commit" (None if missing), "missing", "layout", "tensors"
        (name -> RawTensor), "files" (name -> bytes)}``.
    """
    steps = [int(s) for s in steps]
    dtype = norm_dtype(dtype)
    src = dict(identical) if isinstance(identical, dict) else {}
    if not isinstance(identical, dict):
        for s in identical:
            i = steps.index(int(s))
            if i == 0:
                raise ValueError(f"identical step {s} has no previous step to copy")
            src[int(s)] = steps[i - 1]
    out: dict[str, dict] = {}
    by_step: dict[int, dict] = {}
    for s in steps:
        lay = layout.get(s, "safetensors") if isinstance(layout, dict) else layout
        if s in src:
            base = by_step[int(src[s])]
            tensors, files, lay = base["tensors"], dict(base["files"]), base["layout"]
        else:
            tensors = pythia_like_tensors(vocab, dim, dtype, seed=seed * 100003 + s, pad_rows=pad_rows)
            files = checkpoint_files(tensors, lay)
            files["config.json"] = json.dumps({"architectures": ["GPTNeoXForCausalLM"], "hidden_size": dim,
                                               "vocab_size": vocab, "torch_dtype": dtype}).encode()
        rev = f"step{s}"
        miss = s in set(int(m) for m in missing)
        commit = None if miss else hub.add_revision(repo_id, rev, files)
        by_step[s] = out[rev] = {"step": s, "commit": commit, "missing": miss, "layout": lay,
                                 "tensors": tensors, "files": files}
    if main and steps:
        last = by_step[steps[-1]]
        commit = hub.add_revision(repo_id, "main", last["files"])
        out["main"] = dict(last, step=None, commit=commit, missing=False)
    return out


# -- hostile checkpoints -------------------------------------------------------------------------------
def _binunicode(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def evil_pickle(command: str, module: str = "os", func: str = "system") -> bytes:
    """A state-dict pickle, written opcode by opcode, whose value calls ``module.func(command)``.

    ``pickle.loads`` of it WOULD run the command: ``{'gpt_neox.embed_in.weight': os.system(command)}``.
    """
    return (b"\x80\x02" + b"ccollections\nOrderedDict\n" + b")R" + b"("
            + _binunicode(EMBED_IN)
            + f"c{module}\n{func}\n".encode() + b"(" + _binunicode(command) + b"tR"
            + b"u.")


def evil_bin(command: str, module: str = "os", func: str = "system", prefix: str = "archive") -> bytes:
    """A torch-zip ``pytorch_model.bin`` whose ``data.pkl`` is :func:`evil_pickle`."""
    return zip_stored([(f"{prefix}/data.pkl", evil_pickle(command, module, func)),
                       (f"{prefix}/version", b"3\n")], zip64=False)


# -- helpers for tests that run embdim / snakemake in a subprocess ------------------------------------
def hub_env(hub, home=None, token: str | None = None, base: dict | None = None) -> dict:
    """Environment for a subprocess that must talk to ``hub``: HF_ENDPOINT (read by huggingface_hub at
    import), no telemetry request, fast retries, and (with ``home``) an empty HF_HOME so no stored login
    from the machine is used. ``HF_*`` variables of ``base`` (default ``os.environ``) are dropped."""
    import os
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_TELEMETRY="1", EMBDIM_BACKOFF_BASE="0.01")
    if home is not None:
        env["HF_HOME"] = str(home)
    if token:
        env["HF_TOKEN"] = token
    return env


try:  # a ready-made pytest fixture: `from tests.fixtures import fake_hub`
    import pytest

    @pytest.fixture
    def fake_hub(tmp_path):
        """A started :class:`tests.hubs.hubserver.FakeHub`, stopped after the test."""
        from tests.hubs.hubserver import FakeHub
        with FakeHub(tmp_path) as hub:
            yield hub
except ImportError:  # pragma: no cover - fixtures used outside pytest (bench)
    pass
