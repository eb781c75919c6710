# SPDX-License-Identifier: MIT
"""`embdim geometry` through a real subprocess: exit codes, JSON keys, --out, dtypes."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from embdim.formats.safetensors import safetensors_bytes_header, write_safetensors
from embdim.io import atomic_write

KEYS = {"n", "n_unique", "d", "mean_cosine", "top_sv_share", "top_pc_share", "mean_norm_sq",
        "variance", "q", "mean_norm_ratio", "isotropy", "pca_dim_90", "pca_dim_95", "pca_dim_99",
        "effective_rank", "input", "tensor", "dtype", "shape", "version"}


def embdim(*args):
    return subprocess.run([sys.executable, "-c", "import sys; from embdim.cli import main; sys.exit(main())",
                           *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def matrix():
    X = np.random.default_rng(0).standard_normal((400, 16)).astype(np.float32) + 0.5
    X[-3:] = X[0]  # three duplicate rows
    return X


def test_json_keys_and_values_npy(tmp_path, matrix):
    path = tmp_path / "e.npy"
    np.save(path, matrix)
    r = embdim("geometry", path, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= KEYS
    assert (out["n"], out["n_unique"], out["d"]) == (400, 397, 16)
    assert out["shape"] == [400, 16] and out["dtype"] == "float32"
    assert out["q"] == pytest.approx(out["mean_norm_sq"] + out["variance"], rel=1e-9)
    assert 0 < out["isotropy"] <= 1 and 0 < out["mean_cosine"] < 1
    assert r.stderr == ""


def test_safetensors_fp16_with_tensor_and_out(tmp_path, matrix):
    path = tmp_path / "e.safetensors"
    write_safetensors(path, {"gpt_neox.embed_in.weight": matrix.astype(np.float16),
                             "embed_out.weight": np.eye(16, dtype=np.float16)})
    out_path = tmp_path / "geometry.json"
    r = embdim("geometry", path, "--tensor", "embed_in", "--json", "--out", out_path)
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    assert json.loads(out_path.read_text()) == printed
    assert printed["tensor"] == "gpt_neox.embed_in.weight" and printed["dtype"] == "F16"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    r = embdim("geometry", path, "--tensor", "embed_out", "--json")
    assert r.returncode == 0, r.stderr
    eye = json.loads(r.stdout)
    # The identity's rows are orthonormal: every pair has cosine 0, all directions equal.
    assert eye["mean_cosine"] == pytest.approx(0.0, abs=1e-12)
    assert eye["effective_rank"] == pytest.approx(16.0)
    assert eye["top_sv_share"] == pytest.approx(1 / 16)


def test_safetensors_bf16_is_widened_exactly(tmp_path, matrix):
    # bf16 = the top 16 bits of a float32; numpy has no bf16, so write the bytes by hand.
    u16 = (matrix.view(np.uint32) >> 16).astype("<u2")
    widened = (u16.astype(np.uint32) << 16).view(np.float32)
    path = tmp_path / "bf16.safetensors"
    header = safetensors_bytes_header({"gpt_neox.embed_in.weight": ("BF16", matrix.shape, u16.nbytes)})
    atomic_write(path, [header, u16.tobytes()])
    np.save(tmp_path / "widened.npy", widened)
    r_bf16 = embdim("geometry", path, "--json")
    r_ref = embdim("geometry", tmp_path / "widened.npy", "--json")
    assert r_bf16.returncode == 0 and r_ref.returncode == 0, r_bf16.stderr + r_ref.stderr
    a, b = json.loads(r_bf16.stdout), json.loads(r_ref.stdout)
    assert a["dtype"] == "BF16"
    for key in KEYS - {"input", "dtype", "tensor", "version"}:  # provenance strings
        assert a[key] == pytest.approx(b[key], rel=1e-12), key


def test_human_output(tmp_path, matrix):
    path = tmp_path / "e.npy"
    np.save(path, matrix)
    r = embdim("geometry", path)
    assert r.returncode == 0 and "isotropy" in r.stdout and "{" not in r.stdout


@pytest.mark.parametrize("case", ["nan", "inf", "one_d", "missing", "one_row", "bad_ext"])
def test_bad_input_exits_2_without_traceback(tmp_path, case):
    path = tmp_path / "bad.npy"
    if case in ("nan", "inf"):
        X = np.ones((10, 4), dtype=np.float32)
        X[3, 2] = np.nan if case == "nan" else np.inf
        np.save(path, X)
    elif case == "one_d":
        np.save(path, np.arange(5.0))
    elif case == "one_row":
        np.save(path, np.ones((8, 3)))
    elif case == "bad_ext":
        path = tmp_path / "bad.txt"
        path.write_text("1 2 3\n")
    out_path = tmp_path / "g.json"
    r = embdim("geometry", path, "--json", "--out", out_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert json.loads(r.stdout)["error"]["exit_code"] == 2
    assert not out_path.exists()


def test_help_has_example():
    r = embdim("geometry", "--help")
    assert r.returncode == 0 and "embdim geometry" in r.stdout and "--json" in r.stdout
