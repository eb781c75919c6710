# SPDX-License-Identifier: MIT
"""Hostile checkpoint files through the real CLI (issue 10, items 1, 2, 5, 6, 9, 12).

Each case in :data:`tests.hostile.craft.CASES` is a tiny file made here by hand. Hub cases are
served by the loopback stand-in (which demands ``HF_TOKEN``) to ``embdim fetch``; local cases go to
``embdim estimate`` and ``embdim geometry``. Every run must end with the documented exit code, one
line on stderr and no traceback, nothing in the output directory, no token anywhere, nothing
executed, within the case's time bound. The in-process tests below pin the layers underneath.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import struct
from types import MappingProxyType

import numpy as np
import pytest

from embdim.errors import CheckpointError, InputError
from embdim.formats import unpickle
from embdim.formats.layout import load_matrix, locate_tensor, read_tensor_bytes
from embdim.formats.view import view_extent
from embdim.io import atomic_write
from tests.fixtures import EMBED_IN
from tests.hostile import craft
from tests.hostile.craft import CASES, run_case


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_file_through_cli(name, tmp_path):
    case = CASES[name]()
    for o in run_case(name, tmp_path):
        assert o.exit == case.exit, (o.cmd, o.exit, o.stderr[-2000:])
        lines = o.stderr.strip().splitlines()
        assert "Traceback" not in o.stderr and len(lines) == 1, o.stderr[-2000:]
        assert lines[0].startswith(f"embdim {o.cmd}: error:")
        assert json.loads(o.stdout)["error"]["exit_code"] == case.exit
        assert o.left == [], o.left  # nothing at --out, no temporary file beside it
        assert not o.token_leaked
        assert not o.marker_created
        assert o.seconds < case.limit_s, o.seconds


def test_marker_payload_would_really_run(tmp_path):
    """Guard for the marker case: plain pickle DOES create the marker, so 'absent' means refused."""
    marker = tmp_path / "ran"
    pickle.loads(craft.marker_pickle(str(marker)))
    assert marker.exists()


def test_bomb_and_nesting_guards_are_real():
    """The reference bomb really has 10**12 paths; the nested pickle really nests 10**5 deep."""
    bomb = pickle.loads(craft.reference_bomb())
    fan, depth = bomb, 0
    while fan:
        assert len(fan) == 10 and all(v is fan["k0"] for v in fan.values())
        fan, depth = fan["k0"], depth + 1
    assert depth == 12
    deep, depth = pickle.loads(craft.nested_dicts_pickle(2000)), 0
    while deep:
        deep, depth = deep["a"], depth + 1
    assert depth == 2000


# -- in-process: the layers underneath -----------------------------------------------------------------
def _locate(data: bytes, tensor: str = "embed_in"):
    return locate_tensor(lambda s, e: data[s:e], len(data), "pytorch_model.bin", tensor)


def test_build_cannot_mutate_the_allow_list():
    """Item 5: after the hostile file, a benign F16 checkpoint in the same process is still F16."""
    with pytest.raises(CheckpointError, match="BUILD"):
        _locate(craft.build_on_allowlisted_global())
    assert isinstance(unpickle.SAFE_GLOBALS, MappingProxyType)
    with pytest.raises(TypeError):
        unpickle.SAFE_GLOBALS[("os", "system")] = print
    half = unpickle.SAFE_GLOBALS[("torch", "HalfStorage")]
    with pytest.raises(AttributeError):  # frozen, slots: no attribute can be set, even by BUILD
        half.dtype = "BF16"
    assert half.dtype == "F16"
    good = craft.torch_zip(craft.state_dict_pickle(
        [(EMBED_IN, craft.p_tensor(craft.p_storage("HalfStorage", "0", 128), 0, (8, 16), (16, 1)))]), {"0": bytes(256)})
    assert _locate(good).dtype == "F16"


@pytest.mark.parametrize("op,payload", [
    ("SETITEM on a storage type", craft.p_global("torch", "HalfStorage") + craft.p_str("dtype") + craft.p_str("BF16") + b"s"),
    ("APPEND on a function", craft.p_global("torch._utils", "_rebuild_tensor_v2") + b"N" + b"a"),
    ("BUILD on a function", craft.p_global("torch._utils", "_rebuild_tensor_v2") + b"}" + b"b"),
    ("NEWOBJ", craft.p_global("torch", "Size") + b")\x81"),
    ("tuple key", b"}" + craft.p_tuple([craft.p_int(1)]) + b"N" + b"s"),
])
def test_container_opcodes_only_on_plain_containers(op, payload):
    data = craft.torch_zip(craft.state_dict_pickle([("x", payload)]))
    with pytest.raises(CheckpointError):
        _locate(data)


def test_real_state_dict_with_metadata_still_loads():
    """torch pickles ``state_dict()._metadata`` with BUILD on the OrderedDict: that stays allowed."""
    torch = pytest.importorskip("torch")
    emb = torch.nn.Embedding(12, 4)
    sd = emb.state_dict()
    assert hasattr(sd, "_metadata")
    buf = io.BytesIO()
    torch.save(sd, buf)
    data = buf.getvalue()
    info = _locate(data, "weight")
    assert read_tensor_bytes(lambda s, e: data[s:e], info) == emb.weight.detach().numpy().tobytes()


@pytest.mark.parametrize("view", ["t", "cols", "rows", "offset", "permute3", "scalar", "empty"])
def test_non_contiguous_views_are_gathered_from_read_bytes(view):
    torch = pytest.importorskip("torch")
    base = torch.arange(6 * 10 * 4, dtype=torch.float32)
    t = {"t": lambda: base.reshape(24, 10).t(), "cols": lambda: base.reshape(24, 10)[:, ::3],
         "rows": lambda: base.reshape(24, 10)[5:9], "offset": lambda: base.reshape(24, 10)[3:, 2:7],
         "permute3": lambda: base.reshape(6, 10, 4).permute(2, 0, 1)[:, 1:, ::2],
         "scalar": lambda: base[17], "empty": lambda: base.reshape(24, 10)[:, 4:4]}[view]()
    buf = io.BytesIO()
    torch.save({"w": t}, buf)
    data = buf.getvalue()
    info = _locate(data, "w")
    assert info.shape == tuple(t.shape)
    assert read_tensor_bytes(lambda s, e: data[s:e], info) == t.contiguous().numpy().tobytes()


@pytest.mark.parametrize("offset,shape,stride,numel,ok", [
    (0, (4, 4), (4, 1), 16, True), (0, (4, 4), (1, 4), 16, True), (1, (2, 2), (8, 2), 16, True),
    (0, (4, 4), (4, 1), 15, False), (0, (2, 65792), (-65536, 1), 256, False), (0, (4,), (-1,), 16, False),
    (-1, (4,), (1,), 16, False), (0, (16, 16), (1, 1), 256, False), (0, (3, 2), (1, 2), 16, False),
    (0, (1000, 16), (0, 1), 256, False), (0, (-2, -2), (1, 1), 256, False), (0, (0, -5), (1, 1), 256, False),
    (300, (0, 5), (5, 1), 256, False), (256, (0, 5), (5, 1), 256, True), (0, (1, 5), (0, 1), 5, True),
    (0, (2**32, 2**32), (2**32, 1), 256, False), (0, (2**70,), (1,), 256, False), (0, (2,), (1.0, ), 4, False),
])
def test_view_extent(offset, shape, stride, numel, ok):
    if ok:
        first, end, _ = view_extent(offset, shape, stride, numel, "t")
        assert 0 <= first <= end <= numel
    else:
        with pytest.raises(CheckpointError):
            view_extent(offset, shape, stride, numel, "t")


def test_safetensors_zero_size_and_bracket_names_are_fine(tmp_path):
    name = "w[[[[" * 50  # brackets inside strings do not count as nesting
    p = tmp_path / "z.safetensors"
    p.write_bytes(craft.safetensors_raw({name: {"dtype": "F32", "shape": [0, 16], "data_offsets": [0, 0]},
                                         EMBED_IN: {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}},
                                        bytes(16)))
    arr, meta = load_matrix(p, name)
    assert arr.shape == (0, 16) and meta["tensor"] == name


def test_npy_header_checked_against_file(tmp_path):
    x = np.asfortranarray(np.arange(12, dtype="<f4").reshape(3, 4))
    np.save(tmp_path / "f.npy", x)
    assert np.array_equal(load_matrix(tmp_path / "f.npy")[0], x)
    raw = (tmp_path / "f.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[:-4])
    with pytest.raises(CheckpointError, match="claims"):
        load_matrix(tmp_path / "t.npy")
    (tmp_path / "j.npy").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a .npy"):
        load_matrix(tmp_path / "j.npy")


# -- item 12: atomic_write -------------------------------------------------------------------------------
def test_atomic_write_does_not_follow_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    out = tmp_path / "e.safetensors"
    os.symlink(victim, tmp_path / f".{out.name}.tmp{os.getpid()}")  # the old, predictable name
    atomic_write(out, [b"new"])
    assert victim.read_bytes() == b"precious" and out.read_bytes() == b"new"
    assert not out.is_symlink() and (out.stat().st_mode & 0o777) == 0o666 & ~_umask()
    assert sorted(os.listdir(tmp_path)) == sorted([".e.safetensors.tmp%d" % os.getpid(), "e.safetensors", "victim"])


def test_atomic_write_removes_its_temporary_file_on_failure(tmp_path):
    def chunks():
        yield b"half"
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "e.npy", chunks())
    assert os.listdir(tmp_path) == []


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_one_line_messages_do_not_echo_huge_fields():
    """A hostile header's fields are quoted short in the message, not echoed whole."""
    bad = craft.st_entry("X" * 100_000, [2], [0, 8], bytes(8))
    with pytest.raises(CheckpointError) as e:
        locate_tensor(lambda s, e: bad[s:e], len(bad), "model.safetensors", "embed_in")
    assert len(str(e.value)) < 400
    assert struct.unpack("<Q", bad[:8])[0] > 100_000
