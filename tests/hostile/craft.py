# SPDX-License-Identifier: MIT
"""Hand-made hostile checkpoint files (issue 10: items 1, 2, 5, 6, 9, 12), written byte by byte.

Nothing here uses embdim: the pickles are written opcode by opcode (protocol 2, as ``torch.save``
writes them), the zips by :func:`tests.fixtures.zip_stored` or by hand, the safetensors headers as
raw JSON. :data:`CASES` maps a case name to a builder returning a :class:`Case`; the tests and the
before/after measurement (``python -m tests.hostile.craft``) both run them through the real CLI.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

from tests.fixtures import EMBED_IN, zip_stored

TOKEN = "hf_hostileSECRETtoken13579"


# -- pickle opcodes (protocol 2) ---------------------------------------------------------------------
def p_str(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def p_int(n: int) -> bytes:
    if -2**31 <= n < 2**31:
        return b"J" + struct.pack("<i", n)
    nb = (n.bit_length() + 8) // 8  # LONG1: little-endian two's complement
    return b"\x8a" + bytes([nb]) + n.to_bytes(nb, "little", signed=True)


def p_tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def p_global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def p_ordered_dict() -> bytes:
    return p_global("collections", "OrderedDict") + b")R"


def p_storage(dtype_cls: str, key: str, numel: int) -> bytes:
    """A persistent storage reference as torch writes it: ('storage', cls, key, location, numel)."""
    return p_tuple([p_str("storage"), p_global("torch", dtype_cls), p_str(key), p_str("cpu"), p_int(numel)]) + b"Q"


def p_tensor(storage: bytes, offset: int, size, stride) -> bytes:
    """``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())``."""
    return (p_global("torch._utils", "_rebuild_tensor_v2")
            + p_tuple([storage, p_int(offset), p_tuple([p_int(s) for s in size]),
                       p_tuple([p_int(s) for s in stride]), b"\x89", p_ordered_dict()]) + b"R")


def state_dict_pickle(entries: list[tuple[str, bytes]]) -> bytes:
    """``OrderedDict`` of (name, pickled value) pairs."""
    body = b"".join(p_str(k) + v for k, v in entries)
    return b"\x80\x02" + p_ordered_dict() + b"(" + body + b"u."


def torch_zip(pkl: bytes, storages: dict[str, bytes] | None = None, prefix: str = "archive") -> bytes:
    entries = [(f"{prefix}/data.pkl", pkl)]
    entries += [(f"{prefix}/data/{k}", v) for k, v in (storages or {}).items()]
    entries.append((f"{prefix}/version", b"3\n"))
    return zip_stored(entries, zip64=False)


def view_bin(size, stride, offset: int = 0, numel: int = 256, dtype_cls: str = "ByteStorage",
             itemsize: int = 1) -> bytes:
    """A ``.bin`` whose embedding is a view (offset, size, stride) of one ``numel``-element storage."""
    pkl = state_dict_pickle([(EMBED_IN, p_tensor(p_storage(dtype_cls, "0", numel), offset, size, stride))])
    return torch_zip(pkl, {"0": bytes(range(256)) * (numel * itemsize // 256) + b"\x07" * (numel * itemsize % 256)})


def reference_bomb(levels: int = 12, fanout: int = 10) -> bytes:
    """``d_i = {k_j: d_{i-1} for j < fanout}`` through the memo: a 1.7 kB pickle, fanout**levels paths."""
    out = b"\x80\x02}q\x00"  # d_0 = {} memoised as 0
    for i in range(1, levels + 1):
        out += b"}(" + b"".join(p_str(f"k{j}") + b"h" + bytes([i - 1]) for j in range(fanout)) + b"u"
        out += b"q" + bytes([i])
    return out + b"."


def nested_dicts_pickle(depth: int = 100_000) -> bytes:
    """``{'a': {'a': ... {} }}`` nested ``depth`` deep, built iteratively (EMPTY_DICT/SETITEM)."""
    return b"\x80\x02" + b"}" + (p_str("a") + b"}") * depth + b"s" * depth + b"."


def build_on_allowlisted_global() -> bytes:
    """``GLOBAL torch HalfStorage`` + ``{dtype: 'BF16'}`` + BUILD, then an F16 tensor on a HalfStorage.

    If BUILD reaches the allow-list entry, the same process reads every later HalfStorage as BF16.
    """
    mutate = p_global("torch", "HalfStorage") + b"}" + p_str("dtype") + p_str("BF16") + b"sb"
    tensor = p_tensor(p_storage("HalfStorage", "0", 128), 0, (8, 16), (16, 1))
    return torch_zip(state_dict_pickle([("junk", mutate), (EMBED_IN, tensor)]), {"0": bytes(256)})


def marker_pickle(marker: str) -> bytes:
    """A state dict whose value is ``builtins.exec("open(marker,'w')")``: would create ``marker``."""
    code = f"open({marker!r}, 'w').close()"
    return state_dict_pickle([(EMBED_IN, p_global("builtins", "exec") + p_tuple([p_str(code)]) + b"R")])


# -- safetensors --------------------------------------------------------------------------------------
def safetensors_raw(header: bytes | dict, data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def st_entry(dtype, shape, offsets, data: bytes = b"") -> bytes:
    return safetensors_raw({EMBED_IN: {"dtype": dtype, "shape": shape, "data_offsets": offsets}}, data)


def index_json(weight_map_raw: bytes) -> bytes:
    return b'{"metadata": {}, "weight_map": ' + weight_map_raw + b"}"


# -- zip structure -------------------------------------------------------------------------------------
def zip64_extra_bin(extra: bytes, lho: int = 0) -> bytes:
    """A one-entry archive whose central directory entry has sizes 0xFFFFFFFF and this extra field."""
    name = b"archive/data.pkl"
    data = b"\x80\x02}."
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, 0, len(data), len(data), len(name), 0)
    cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF,
                     len(name), len(extra), 0, 0, 0, 0, lho) + name + extra
    body = local + name + data
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd), len(body), 0)
    return body + cd + eocd


def local_header_past_eof() -> bytes:
    """A valid torch zip whose central directory points data.pkl's local header past the end of file."""
    good = torch_zip(state_dict_pickle([]))
    cd_pos = good.index(struct.pack("<I", 0x02014B50))
    patched = bytearray(good)
    struct.pack_into("<I", patched, cd_pos + 42, len(good) + 10_000)  # relative offset of local header
    return bytes(patched)


def negative_read_length() -> bytes:
    """A ZIP64 extra field that puts data.pkl's local header at 2**63: reading it means start > end."""
    return zip64_extra_bin(struct.pack("<HHQQQ", 1, 24, 4, 4, 2**63), lho=0xFFFFFFFF)


# -- .npy ----------------------------------------------------------------------------------------------
def npy_claiming(n: int = 10**15) -> bytes:
    hdr = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, 1), }}".encode()
    hdr += b" " * (-(10 + len(hdr) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + b"\0" * 64


# -- the case table -----------------------------------------------------------------------------------
@dataclass
class Case:
    """One hostile input: ``files`` served as one Hub revision (``fetch``) or ``local`` for
    ``estimate``/``geometry`` on a local file named ``local``."""

    item: str
    files: dict[str, bytes] = field(default_factory=dict)
    local: str | None = None
    exit: int = 5  # documented exit code after the fix
    limit_s: float = 60.0
    marker: bool = False  # the payload would create a marker file


def _bin(data: bytes) -> dict[str, bytes]:
    return {"pytorch_model.bin": data}


def _st(data: bytes) -> dict[str, bytes]:
    return {"model.safetensors": data}


DEEP = 100_000
CASES = {
    # item 1: negative strides reach bytes outside the storage (heap disclosure, then a segfault)
    "bin-negative-stride": lambda: Case("1", _bin(view_bin((2, 65792), (-65536, 1)))),
    "bin-negative-stride-1M": lambda: Case("1", _bin(view_bin((2, 1048832), (-1048576, 1)))),
    "bin-negative-stride-segv": lambda: Case("1", _bin(view_bin((2, 2**26 + 256), (-2**26, 1)))),
    "bin-overlapping-view": lambda: Case("1", _bin(view_bin((16, 16), (1, 1)))),
    "bin-broadcast-stride0": lambda: Case("1", _bin(view_bin((1000, 16), (0, 1)))),
    "bin-view-past-storage": lambda: Case("1", _bin(view_bin((16, 16), (16, 1), offset=8))),
    "bin-negative-offset": lambda: Case("1", _bin(view_bin((4, 4), (4, 1), offset=-16))),
    # item 2: a 1.7 kB reference bomb (10**12 paths)
    "pickle-reference-bomb": lambda: Case("2", _bin(torch_zip(reference_bomb())), exit=3, limit_s=10),
    # the restricted unpickler is pure Python: its input is capped, and what is under the cap is quick
    "pickle-over-size-cap": lambda: Case("2", _bin(torch_zip(b"\x80\x02}" + b"N0" * (2**21 + 1) + b"."))),
    "pickle-opcode-flood": lambda: Case("2", _bin(torch_zip(b"\x80\x02}" + b"N0" * (3 * 2**19) + b".")),
                                        exit=3, limit_s=30),
    # item 5: BUILD on an allow-listed global
    "pickle-build-allowlist": lambda: Case("5", _bin(build_on_allowlisted_global())),
    "pickle-exec-marker": lambda: Case("5", exit=5, marker=True),  # files made by the test (needs a path)
    # item 6: invalid tensors that used to be written as valid files
    "st-negative-shape": lambda: Case("6", _st(st_entry("F16", [-64, -16], [0, 2048], bytes(2048)))),
    "st-int64-wrap-shape": lambda: Case("6", _st(st_entry("F16", [2**32, 2**32], [0, 0]))),
    "bin-negative-size": lambda: Case("6", _bin(view_bin((-2, -2), (1, 1)))),
    "bin-zero-negative-size": lambda: Case("6", _bin(view_bin((0, -5), (1, 1)))),
    # item 9: tracebacks
    "st-header-nested": lambda: Case("9", _st(safetensors_raw(b"[" * DEEP + b"]" * DEEP))),
    "index-nested": lambda: Case("9", {"model.safetensors.index.json": index_json(b"[" * DEEP + b"]" * DEEP),
                                       "model-00001-of-00001.safetensors": st_entry("F16", [2, 2], [0, 8], bytes(8))}),
    "pickle-nested-dicts": lambda: Case("9", _bin(torch_zip(nested_dicts_pickle()))),
    "st-dtype-list": lambda: Case("9", _st(st_entry(["F32"], [2, 2], [0, 16], bytes(16)))),
    "st-offsets-string": lambda: Case("9", _st(st_entry("F32", [2, 2], "ab", bytes(16)))),
    "st-shape-2**70": lambda: Case("9", _st(st_entry("F32", [2**70, 2], [0, 16], bytes(16)))),
    "npy-1e15-elements": lambda: Case("9", local="e.npy"),
    "zip64-extra-len0": lambda: Case("9", _bin(zip64_extra_bin(struct.pack("<HH", 1, 0)))),
    "zip64-extra-truncated": lambda: Case("9", _bin(zip64_extra_bin(struct.pack("<HH", 1, 24) + b"\0" * 4))),
    "zip-local-header-past-eof": lambda: Case("9", _bin(local_header_past_eof())),
    "zip-negative-read-length": lambda: Case("9", _bin(negative_read_length())),
    # the same corrupt safetensors file through estimate: exit 5 everywhere (issue 11)
    "st-local-offsets-string": lambda: Case("9", local="e.safetensors"),
}


def local_bytes(name: str) -> bytes:
    """The file a local case (``estimate``/``geometry``) reads."""
    if name == "npy-1e15-elements":
        return npy_claiming()
    if name == "st-local-offsets-string":
        return st_entry("F32", [2, 2], "ab", bytes(16))
    raise KeyError(name)


# -- running a case through the real CLI ---------------------------------------------------------------
REPO = "hostile/model"
CLI = ["-c", "import sys; from embdim.cli import main; sys.exit(main())"]


@dataclass
class Outcome:
    """What one CLI run did: exit code, wall time, stderr, leftovers and leaks."""

    cmd: str
    exit: int | None  # None: killed at the time limit
    seconds: float
    stdout: str
    stderr: str
    left: list[str]  # files in the output directory after the run
    token_leaked: bool
    marker_created: bool


def _embdim(args: list[str], env: dict, timeout: float) -> tuple[int | None, float, str, str]:
    import subprocess
    import sys
    import time
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, *CLI, *args], env=env, capture_output=True, text=True,
                           timeout=timeout)
        return p.returncode, time.monotonic() - t0, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:  # the child is killed by subprocess.run
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return None, time.monotonic() - t0, out, err


def _env(tmp, hub=None) -> dict:
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_HUB_DISABLE_TELEMETRY="1", EMBDIM_BACKOFF_BASE="0.01", EMBDIM_MAX_RETRIES="1",
               HF_HOME=str(tmp / "hf_home"), HF_TOKEN=TOKEN)
    if hub is not None:
        env["HF_ENDPOINT"] = hub.url
    if os.environ.get("EMBDIM_HOSTILE_PYTHONPATH"):  # run the cases against another copy of embdim
        env["PYTHONPATH"] = os.environ["EMBDIM_HOSTILE_PYTHONPATH"]
    return env


def _outcome(cmd, res, out_dir, marker) -> Outcome:
    code, secs, stdout, stderr = res
    left = sorted(p.name for p in out_dir.iterdir())
    leaked = TOKEN in stdout or TOKEN in stderr or any(
        TOKEN.encode() in (out_dir / n).read_bytes() for n in left if (out_dir / n).is_file())
    return Outcome(cmd, code, secs, stdout, stderr, left, leaked, marker.exists())


def run_case(name: str, tmp, timeout: float | None = None) -> list[Outcome]:
    """Run case ``name`` through the CLI in the fresh directory ``tmp``: ``fetch`` from a loopback Hub
    (which demands the token) for Hub cases, ``estimate`` and ``geometry`` for local files."""
    from pathlib import Path

    from tests.hubs.hubserver import FakeHub
    tmp = Path(tmp)
    case = CASES[name]()
    timeout = timeout or case.limit_s
    marker = tmp / "MARKER"
    out_dir = tmp / "out"
    out_dir.mkdir()
    if name == "pickle-exec-marker":
        case.files = {"pytorch_model.bin": torch_zip(marker_pickle(str(marker)))}
    if case.local:
        src = tmp / case.local
        src.write_bytes(local_bytes(name))
        outs = []
        for cmd in ("estimate", "geometry"):
            res = _embdim([cmd, str(src), "--out", str(out_dir / f"{cmd}.json"), "--json"], _env(tmp), timeout)
            outs.append(_outcome(cmd, res, out_dir, marker))
        return outs
    with FakeHub(token=TOKEN) as hub:
        hub.add_revision(REPO, "main", case.files)
        res = _embdim(["fetch", REPO, "--revision", "main", "--out", str(out_dir / "e.safetensors"), "--json"],
                      _env(tmp, hub), timeout)
    return [_outcome("fetch", res, out_dir, marker)]


def main(argv=None) -> None:
    """Print one TSV row per case and command: name, item, command, exit, seconds, leaked, left."""
    import argparse
    import tempfile
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("cases", nargs="*", default=list(CASES))
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args(argv)
    print("case\titem\tcmd\texit\tseconds\ttoken_leaked\tmarker\tleft\tstderr")
    for name in args.cases:
        with tempfile.TemporaryDirectory() as d:
            for o in run_case(name, d, args.timeout):
                err = o.stderr.strip().splitlines()
                last = err[-1][:110] if err else ""
                print(f"{name}\t{CASES[name]().item}\t{o.cmd}\t{'timeout' if o.exit is None else o.exit}\t"
                      f"{o.seconds:.2f}\t{o.token_leaked}\t{o.marker_created}\t{','.join(o.left)}\t"
                      f"{'TB ' if 'Traceback' in o.stderr else ''}{last}", flush=True)


if __name__ == "__main__":
    main()
