# SPDX-License-Identifier: MIT
"""Offline tests of the tensor locators: every layout and dtype, ZIP64, the restricted unpickler."""
from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

from embdim.errors import CheckpointError, InputError, TensorNotFoundError, UnsafeCheckpointError
from embdim.formats.layout import (locate_tensor, parse_weight_index, pick_weight_file, read_tensor_bytes,
                                   resolve_tensor_name, write_tensor)
from embdim.formats.safe import LocalFile
from embdim.formats.safetensors import read_safetensors_table
from tests.fixtures import (DTYPES, EMBED_IN, EMBED_OUT, LAYOUTS, checkpoint_files, evil_bin, evil_pickle,
                            pythia_like_tensors, safetensors_file, torch_bin_file, zip_stored)


class Reader:
    """In-memory ``read_range`` that records the ranges asked for."""

    def __init__(self, data: bytes):
        self.data, self.calls = data, []

    def __call__(self, start: int, end: int) -> bytes:
        assert 0 <= start <= end <= len(self.data), (start, end, len(self.data))
        self.calls.append((start, end))
        return self.data[start:end]

    @property
    def nbytes(self) -> int:
        return sum(e - s for s, e in self.calls)


def _holder(files: dict[str, bytes], tensor: str) -> str:
    idx = [f for f in files if f.endswith(".index.json")]
    if not idx:
        return next(f for f in files if f.endswith((".safetensors", ".bin")))
    wm = json.loads(files[idx[0]])["weight_map"]
    return wm[resolve_tensor_name(wm, tensor)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_locate_every_layout_and_dtype_is_byte_exact(layout, dtype):
    tensors = pythia_like_tensors(vocab=96, dim=24, dtype=dtype, seed=3)
    files = checkpoint_files(tensors, layout)
    for want, full in (("embed_in", EMBED_IN), ("embed_out", EMBED_OUT),
                       ("gpt_neox.layers.0.attention.masked_bias", "gpt_neox.layers.0.attention.masked_bias")):
        fname = _holder(files, want)
        rd = Reader(files[fname])
        info = locate_tensor(rd, len(rd.data), fname, want)
        assert info.name == full and info.dtype == tensors[full].dtype
        assert info.shape == tensors[full].shape
        assert read_tensor_bytes(rd, info) == tensors[full].data
    # sharded layouts: the input embedding sits in shard 1, the output embedding in the last one
    if layout.startswith("sharded"):
        assert _holder(files, "embed_in").startswith(("model-00001", "pytorch_model-00001"))
        assert _holder(files, "embed_out").startswith(("model-00002", "pytorch_model-00002"))


def test_bf16_decodes_like_torch(tmp_path):
    torch = pytest.importorskip("torch")
    tensors = pythia_like_tensors(vocab=32, dim=8, dtype="BF16")
    p = tmp_path / "e.safetensors"
    p.write_bytes(safetensors_file(tensors))
    from embdim.formats.layout import load_safetensors_tensor
    arr, info = load_safetensors_tensor(p, "embed_in")
    ref = torch.frombuffer(bytearray(tensors[EMBED_IN].data), dtype=torch.bfloat16).float().reshape(32, 8)
    assert arr.dtype == np.float32 and np.array_equal(arr, ref.numpy())


def test_zip64_fixture_is_real_zip64_and_parses():
    torch = pytest.importorskip("torch")
    tensors = pythia_like_tensors(vocab=40, dim=8, dtype="F16")
    data = checkpoint_files(tensors, "bin-zip64")["pytorch_model.bin"]
    # the fixture itself: ZIP64 end record + locator present, readable by zipfile and torch
    assert struct.pack("<I", 0x06064B50) in data[-200:] and struct.pack("<I", 0x07064B50) in data[-100:]
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "pytorch_model/data.pkl" in names
    sd = torch.load(io.BytesIO(data), weights_only=True)
    assert sd[EMBED_IN].numpy().tobytes() == tensors[EMBED_IN].data
    rd = Reader(data)
    info = locate_tensor(rd, len(data), "pytorch_model.bin", "embed_in")
    assert read_tensor_bytes(rd, info) == tensors[EMBED_IN].data
    # the data offset came from the LOCAL header: 64-byte aligned as torch writes it
    assert info.start % 64 == 0


def test_bin_reads_are_small_and_tensor_exact():
    tensors = pythia_like_tensors(vocab=1024, dim=64, dtype="F16")
    data = checkpoint_files(tensors, "bin")["pytorch_model.bin"]
    rd = Reader(data)
    info = locate_tensor(rd, len(data), "pytorch_model.bin", "embed_in")
    read_tensor_bytes(rd, info)
    assert rd.nbytes <= tensors[EMBED_IN].nbytes + 8192
    assert len(rd.calls) <= 5


def test_non_contiguous_bin_tensor_is_gathered():
    torch = pytest.importorskip("torch")
    base = torch.arange(12 * 5, dtype=torch.float32).reshape(12, 5)
    buf = io.BytesIO()
    torch.save({"w": base.t()}, buf)  # a transposed view: stride (1, 5)
    data = buf.getvalue()
    rd = Reader(data)
    info = locate_tensor(rd, len(data), "pytorch_model.bin", "w")
    assert info.shape == (5, 12) and info.stride == (1, 5)
    assert read_tensor_bytes(rd, info) == base.t().contiguous().numpy().tobytes()


@pytest.mark.parametrize("module,func", [("os", "system"), ("builtins", "eval"), ("posix", "system"),
                                         ("subprocess", "call")])
def test_unsafe_pickle_is_refused_and_runs_nothing(tmp_path, module, func):
    sentinel = tmp_path / "pwned"
    cmd = f"touch {sentinel}" if func != "eval" else f"open({str(sentinel)!r}, 'w')"
    if func == "call":
        cmd = ["touch", str(sentinel)]  # subprocess.call takes a list
        data = zip_stored([("archive/data.pkl", pickle.dumps(_Evil(str(sentinel)), protocol=2)),
                           ("archive/version", b"3\n")], zip64=False)
    else:
        data = evil_bin(cmd, module, func)
    rd = Reader(data)
    with pytest.raises(UnsafeCheckpointError, match=rf"\.{func}\b"):
        locate_tensor(rd, len(data), "pytorch_model.bin", "embed_in")
    assert not sentinel.exists()


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import subprocess
        return subprocess.call, (["touch", self.path],)


def test_evil_pickle_fixture_really_would_execute(tmp_path):
    """Guard for the test above: plain pickle DOES run the payload, so 'not run' means refused."""
    sentinel = tmp_path / "ran"
    pickle.loads(evil_pickle(f"touch {sentinel}"))
    assert sentinel.exists()


def test_unknown_tensor_and_aliases():
    tensors = pythia_like_tensors(vocab=16, dim=4)
    data = safetensors_file(tensors)
    with pytest.raises(TensorNotFoundError, match="nope"):
        locate_tensor(Reader(data), len(data), "model.safetensors", "nope")
    other = {"model.embed_tokens.weight": tensors[EMBED_IN]}
    data = safetensors_file(other)
    info = locate_tensor(Reader(data), len(data), "model.safetensors", "embed_in")
    assert info.name == "model.embed_tokens.weight"


def test_malformed_files_raise_checkpoint_error():
    good = safetensors_file(pythia_like_tensors(vocab=16, dim=4))
    for bad in (good[:4], struct.pack("<Q", 10**12) + good[8:], good[:-10], b"\x10" + b"\0" * 7 + b"not json!!"):
        with pytest.raises(CheckpointError):
            read_safetensors_table(Reader(bad), len(bad))
    with pytest.raises(CheckpointError, match="zip"):
        locate_tensor(Reader(b"garbage" * 10), 70, "pytorch_model.bin", "embed_in")
    # a deflated entry cannot be range-read: refuse it
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", pickle.dumps({}, protocol=2))
    with pytest.raises(CheckpointError, match="compressed"):
        locate_tensor(Reader(buf.getvalue()), len(buf.getvalue()), "pytorch_model.bin", "embed_in")
    with pytest.raises(CheckpointError, match="leaves"):
        parse_weight_index(json.dumps({"weight_map": {"a": "../x.bin"}}).encode())


def test_pick_weight_file_prefers_safetensors():
    assert pick_weight_file(["pytorch_model.bin", "model.safetensors", "config.json"]) == "model.safetensors"
    assert pick_weight_file(["pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin"]) \
        == "pytorch_model.bin.index.json"
    assert pick_weight_file(["config.json", "README.md"]) is None


def test_write_tensor_keeps_dtype_and_npy_is_float32(tmp_path):
    t = pythia_like_tensors(vocab=16, dim=4, dtype="BF16")[EMBED_IN]
    st, npy = tmp_path / "e.safetensors", tmp_path / "e.npy"
    write_tensor(st, EMBED_IN, t.dtype, t.shape, t.data, {"repo": "x"})
    write_tensor(npy, EMBED_IN, t.dtype, t.shape, t.data)
    raw = st.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    assert header[EMBED_IN]["dtype"] == "BF16" and raw[8 + n:] == t.data
    arr = np.load(npy)
    assert arr.dtype == np.float32 and np.array_equal(arr, t.array())
    with pytest.raises(InputError):
        write_tensor(tmp_path / "e.txt", EMBED_IN, t.dtype, t.shape, t.data)
    assert sorted(os.listdir(tmp_path)) == ["e.npy", "e.safetensors"]  # no temporary files left


def test_local_file_reader(tmp_path):
    tensors = pythia_like_tensors(vocab=512, dim=32, dtype="F32")
    p = tmp_path / "pytorch_model.bin"
    p.write_bytes(torch_bin_file(tensors))
    with LocalFile(p) as f:
        info = locate_tensor(f.read_range, f.size, p.name, "embed_out")
        assert read_tensor_bytes(f.read_range, info) == tensors[EMBED_OUT].data
        assert f.bytes_read < tensors[EMBED_OUT].nbytes + 8192 < p.stat().st_size


def _many_tensors(n: int, dtype: str = "F16"):
    from collections import OrderedDict
    from tests.fixtures import raw_from_float32
    rng = np.random.default_rng(0)
    t = OrderedDict((f"model.layers.{i}.mlp.up_proj.weight", raw_from_float32(rng.standard_normal((2, 3)), dtype))
                    for i in range(n))
    t[EMBED_IN] = raw_from_float32(rng.standard_normal((50, 8)), dtype)
    return t


def test_long_safetensors_header_costs_one_exact_second_read():
    tensors = _many_tensors(150)
    data = safetensors_file(tensors)
    n = struct.unpack("<Q", data[:8])[0]
    assert n > 4096  # the header does not fit the speculative first read
    rd = Reader(data)
    info = locate_tensor(rd, len(data), "model.safetensors", "embed_in")
    assert rd.calls == [(0, 4096), (4096, 8 + n)]
    assert read_tensor_bytes(rd, info) == tensors[EMBED_IN].data


def test_large_zip_central_directory_is_read_exactly():
    tensors = _many_tensors(150)
    data = torch_bin_file(tensors)
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert len(zf.infolist()) > 150  # central directory ~12 KB: larger than the 4 KiB tail read
    rd = Reader(data)
    info = locate_tensor(rd, len(data), "pytorch_model.bin", "embed_in")
    assert read_tensor_bytes(rd, info) == tensors[EMBED_IN].data
    assert len(rd.calls) == 5
    # no byte read twice, except the <= 128-byte guess past a local header (formats.torchzip.LOCAL_EXTRA_GUESS)
    seen = np.zeros(len(data), np.int32)
    for s, e in rd.calls:
        seen[s:e] += 1
    assert int((seen > 1).sum()) <= 128


def _st_header(meta) -> bytes:
    raw = json.dumps({EMBED_IN: meta}).encode()
    return struct.pack("<Q", len(raw)) + raw + bytes(64)


@pytest.mark.parametrize("meta", [
    {"dtype": ["F32"], "shape": [2, 2], "data_offsets": [0, 16]},
    {"dtype": "F32", "shape": [2, 2], "data_offsets": "ab"},
    {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16, 32]},
    {"dtype": "F32", "shape": [2, 2], "data_offsets": [16, 0]},
    {"dtype": "F32", "shape": [2, 2], "data_offsets": [0.0, 16.0]},
    {"dtype": "F32", "shape": [2, 2], "data_offsets": [False, 16]},
    {"dtype": "F32", "shape": [-2, -2], "data_offsets": [0, 16]},
    {"dtype": "F32", "shape": [2**70, 2], "data_offsets": [0, 16]},
    {"dtype": "F16", "shape": [2**32, 2**32], "data_offsets": [0, 0]},
    {"dtype": "F32", "shape": "2x2", "data_offsets": [0, 16]},
    {"dtype": "F32", "shape": [2, "2"], "data_offsets": [0, 16]},
    {"dtype": "F32", "data_offsets": [0, 16]},
    [1, 2, 3],
])
def test_safetensors_header_fields_are_type_checked(meta):
    data = _st_header(meta)
    with pytest.raises(CheckpointError):
        read_safetensors_table(Reader(data), len(data))


def test_reads_outside_the_file_are_refused_before_reading(tmp_path):
    """The safe-reader layer: a range past EOF or with end < start never reaches the reader."""
    from embdim.formats.safe import checked_reader
    rd = Reader(b"x" * 100)
    safe = checked_reader(rd, 100, "f")
    for s, e in ((90, 110), (50, 40), (-1, 5), (2**63, 2**63 + 1)):
        with pytest.raises(CheckpointError, match="outside"):
            safe(s, e)
    assert rd.calls == [] and checked_reader(safe, 100) is safe
    p = tmp_path / "f.bin"
    p.write_bytes(b"y" * 10)
    with LocalFile(p) as f, pytest.raises(CheckpointError):
        f.read_range(5, 2**63)


def test_deep_index_json_is_refused():
    with pytest.raises(CheckpointError, match="nested"):
        parse_weight_index(b'{"weight_map": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    with pytest.raises(CheckpointError, match="weight_map"):
        parse_weight_index(b"[1]")
