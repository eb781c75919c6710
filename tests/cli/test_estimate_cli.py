# SPDX-License-Identifier: MIT
"""`embdim estimate` through a real subprocess: JSON contract, --out, dtypes, every bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from embdim.formats.safetensors import safetensors_bytes_header
from embdim.io import atomic_write
from tests import reference as ref

KEYS = {"estimator", "k", "id", "ed", "redundancy", "n", "n_unique", "input", "tensor", "dtype",
        "shape", "version"}


def embdim(*args):
    return subprocess.run([sys.executable, "-c", "import sys; from embdim.cli import main; sys.exit(main())",
                           *map(str, args)], capture_output=True, text=True, timeout=300)


def write_st(path, tensors: dict[str, tuple[str, np.ndarray]]):
    """safetensors with given dtype tags; BF16 from float32 by truncating to the top 16 bits."""
    spec, blobs = {}, []
    for name, (tag, arr) in tensors.items():
        if tag == "BF16":
            raw = (np.ascontiguousarray(arr, dtype="<f4").view("<u4") >> 16).astype("<u2").tobytes()
        else:
            raw = np.ascontiguousarray(arr, dtype={"F16": "<f2", "F32": "<f4"}[tag]).tobytes()
        spec[name] = (tag, arr.shape, len(raw))
        blobs.append(raw)
    atomic_write(path, [safetensors_bytes_header(spec)] + blobs)


@pytest.fixture(scope="module")
def data():
    X = ref.sphere(400, 3, 24, np.random.default_rng(0)).astype(np.float32)
    X[-5:] = 0.0  # padding rows, identical
    return X


def test_json_contract_and_out_file(tmp_path, data):
    np.save(tmp_path / "x.npy", data.astype(np.float16))
    out = tmp_path / "id.json"
    p = embdim("estimate", tmp_path / "x.npy", "--estimator", "mle", "--k", "10", "--device", "cpu",
               "--json", "--out", out)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)  # exactly one JSON object
    assert KEYS | {"id_harmonic", "id_mean", "id_median"} <= set(res)
    assert res["n"] == 400 and res["n_unique"] == 396 and res["ed"] == 24 and res["k"] == 10
    assert res["dtype"] == "float16" and res["shape"] == [400, 24]
    assert res["redundancy"] == pytest.approx((24 - res["id"]) / 24)
    assert json.loads(out.read_text()) == res
    U = ref.unique_rows(data.astype(np.float16).astype(np.float64))
    assert res["id"] == pytest.approx(ref.mle_reference(ref.brute_knn(U, 10)[0])["harmonic"], rel=1e-9)
    assert p.stderr == ""  # not a terminal: no progress bar


def test_twonn_reports_k2_and_human_output(tmp_path, data):
    np.save(tmp_path / "x.npy", data)
    p = embdim("estimate", tmp_path / "x.npy", "--estimator", "twonn", "--k", "7", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["k"] == 2 and res["estimator"] == "twonn"
    h = embdim("estimate", tmp_path / "x.npy", "--estimator", "twonn")
    assert h.returncode == 0 and "twonn" in h.stdout and "redundancy" in h.stdout


@pytest.mark.parametrize("tag", ["F16", "BF16", "F32"])
def test_safetensors_dtypes_and_default_tensor(tmp_path, data, tag):
    path = tmp_path / "e.safetensors"
    write_st(path, {"gpt_neox.embed_in.weight": (tag, data), "embed_out.weight": (tag, data[::-1] * 2),
                    "bias": ("F32", np.zeros(3, np.float32))})
    p = embdim("estimate", path, "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["tensor"] == "gpt_neox.embed_in.weight" and res["dtype"] == tag
    q = embdim("estimate", path, "--tensor", "embed_out", "--json")
    assert json.loads(q.stdout)["tensor"] == "embed_out.weight"
    # scaling every row by 2 leaves the ID unchanged (bf16 scales exactly by powers of two)
    assert json.loads(q.stdout)["id"] == pytest.approx(res["id"], rel=1e-9)


def test_only_2d_tensor_is_the_default(tmp_path, data):
    path = tmp_path / "one.safetensors"
    write_st(path, {"whatever.weight": ("F32", data), "v": ("F32", np.ones(4, np.float32))})
    p = embdim("estimate", path, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["tensor"] == "whatever.weight"


def _bad_inputs(tmp):
    rng = np.random.default_rng(1)
    good = rng.standard_normal((50, 6)).astype(np.float32)
    nan = good.copy()
    nan[3, 1] = np.nan
    inf = good.copy()
    inf[7, 0] = np.inf
    np.save(tmp / "nan.npy", nan)
    np.save(tmp / "inf.npy", inf)
    np.save(tmp / "vec.npy", good[0])
    np.save(tmp / "cube.npy", good.reshape(5, 10, 6))
    np.save(tmp / "few.npy", np.repeat(good[:5], 10, axis=0))  # 5 unique rows < k + 1 = 11
    (tmp / "garbage.npy").write_bytes(b"not a numpy file at all")
    (tmp / "trunc.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    (tmp / "dir.npy").mkdir()
    (tmp / "x.txt").write_text("1 2 3\n")
    write_st(tmp / "st.safetensors", {"gpt_neox.embed_in.weight": ("F16", good)})
    np.save(tmp / "good.npy", good)
    return {
        "missing file": [tmp / "nope.npy"],
        "unreadable npy": [tmp / "garbage.npy"],
        "truncated safetensors": [tmp / "trunc.safetensors"],
        "directory": [tmp / "dir.npy"],
        "unknown extension": [tmp / "x.txt"],
        "not 2-D (1-D)": [tmp / "vec.npy"],
        "not 2-D (3-D)": [tmp / "cube.npy"],
        "NaN": [tmp / "nan.npy"],
        "inf": [tmp / "inf.npy"],
        "fewer than k+1 unique rows": [tmp / "few.npy", "--k", "10"],
        "k below 2": [tmp / "good.npy", "--k", "1"],
        "unknown tensor": [tmp / "st.safetensors", "--tensor", "no.such.tensor"],
    }


CASES = ["missing file", "unreadable npy", "directory", "unknown extension",
         "not 2-D (1-D)", "not 2-D (3-D)", "NaN", "inf", "fewer than k+1 unique rows", "k below 2",
         "unknown tensor"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("as_json", [False, True])
def test_bad_input_exits_2_with_one_line(tmp_path, case, as_json):
    args = _bad_inputs(tmp_path)[case]
    p = embdim("estimate", *args, "--device", "cpu", *(["--json"] if as_json else []))
    assert p.returncode == 2, (case, p.returncode, p.stderr)
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embdim estimate: error:"), p.stderr
    if as_json:
        err = json.loads(p.stdout)["error"]
        assert err["exit_code"] == 2
    else:
        assert p.stdout == ""
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("as_json", [False, True])
def test_corrupt_file_exits_5_as_from_fetch(tmp_path, as_json):
    """A corrupt checkpoint is exit 5 (CheckpointError) from every command, not 2 (issue 11)."""
    args = _bad_inputs(tmp_path)["truncated safetensors"]
    p = embdim("estimate", *args, "--device", "cpu", *(["--json"] if as_json else []))
    assert p.returncode == 5, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embdim estimate: error:") and "Traceback" not in p.stderr
    if as_json:
        assert json.loads(p.stdout)["error"]["exit_code"] == 5


def test_failure_leaves_no_out_file(tmp_path):
    np.save(tmp_path / "v.npy", np.ones(5))
    p = embdim("estimate", tmp_path / "v.npy", "--out", tmp_path / "out.json")
    assert p.returncode == 2
    assert list(tmp_path.iterdir()) == [tmp_path / "v.npy"]


def test_cuda_without_gpu_is_bad_input(tmp_path, data):
    import torch

    np.save(tmp_path / "x.npy", data)
    p = embdim("estimate", tmp_path / "x.npy", "--device", "cuda", "--json")
    if torch.cuda.is_available():
        assert p.returncode == 0 and json.loads(p.stdout)["device"] == "cuda"
    else:
        assert p.returncode == 2 and "CUDA" in p.stderr


def test_help_has_example():
    p = embdim("estimate", "--help")
    assert p.returncode == 0 and "examples:" in p.stdout and "embdim estimate" in p.stdout


def test_junk_npy_says_not_npy(tmp_path):
    """A file named .npy without NumPy's magic is reported as such, not as 'pickled data'."""
    bad = tmp_path / "junk.npy"
    bad.write_bytes(b"garbage\n")
    r = embdim("estimate", bad)
    assert r.returncode == 2
    assert "not a .npy file" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_normalization_and_aggregate_flags(tmp_path, data):
    import embdim as api

    np.save(tmp_path / "x.npy", data)
    p = embdim("estimate", tmp_path / "x.npy", "--k", "8", "--normalization", "k", "--aggregate",
               "mean", "--device", "cpu", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert (res["normalization"], res["aggregate"]) == ("k", "mean")
    want = api.estimate(data, "mle", k=8, device="cpu", normalization="k", aggregate="mean")
    assert res["id"] == pytest.approx(want.id, rel=1e-12) and res["id"] == res["id_mean"]
    default = json.loads(embdim("estimate", tmp_path / "x.npy", "--k", "8", "--device", "cpu",
                                "--json").stdout)
    assert res["id_mean"] == pytest.approx(default["id_mean"] * 8 / 7, rel=1e-12)  # k/(k-1)
    bad = embdim("estimate", tmp_path / "x.npy", "--k", "2", "--normalization", "k-2", "--device", "cpu")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
