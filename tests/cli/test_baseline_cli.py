# SPDX-License-Identifier: MIT
"""`embdim baseline random`: JSON keys, reproducibility by seed, exit codes, and a sanity value."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from embdim.baseline import gaussian_sample

KEYS = {"n", "dim", "k", "estimator", "seed", "id", "id_harmonic", "id_mean", "id_median",
        "redundancy", "version"}


def embdim(*args):
    return subprocess.run([sys.executable, "-c", "import sys; from embdim.cli import main; sys.exit(main())",
                           *map(str, args)], capture_output=True, text=True, timeout=300)


def baseline_json(*args):
    r = embdim("baseline", "random", *args, "--json", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_gaussian_sample_is_seeded_standard_normal():
    a, b = gaussian_sample(20000, 4, seed=3), gaussian_sample(20000, 4, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (20000, 4) and a.dtype == np.float32
    assert not np.array_equal(a, gaussian_sample(20000, 4, seed=4))
    # Sample mean sd 1/sqrt(n) = 0.007, sample variance sd sqrt(2/n) = 0.01: 5 sd bounds.
    assert np.abs(a.mean(axis=0)).max() < 0.035
    assert np.abs(a.var(axis=0) - 1).max() < 0.05


def test_json_keys_and_reproducible_with_seed():
    first = baseline_json("--n", 1500, "--dim", 6, "--k", 10, "--seed", 7)
    assert set(first) >= KEYS
    assert (first["n"], first["dim"], first["k"], first["estimator"], first["seed"]) == (1500, 6, 10, "mle", 7)
    assert baseline_json("--n", 1500, "--dim", 6, "--k", 10, "--seed", 7) == first
    other = baseline_json("--n", 1500, "--dim", 6, "--k", 10, "--seed", 8)
    assert other["id"] != first["id"]


def test_low_dimensional_gaussian_id_is_close_to_dim():
    # At D=3 with 3000 points the kNN-MLE of a Gaussian is nearly unbiased (Levina & Bickel 2004,
    # their Fig. 1 shows < 5 % bias for D <= 5 at n >= 1000); 20 % separates D=3 from D=2 or 4.
    out = baseline_json("--n", 3000, "--dim", 3, "--k", 10)
    assert out["id"] == pytest.approx(3.0, rel=0.2)
    assert baseline_json("--n", 3000, "--ed", 3, "--k", 10) == out  # --ed: the summary's name
    assert out["id"] == pytest.approx(out["id_harmonic"])
    assert out["id_mean"] >= out["id_harmonic"]  # arithmetic mean >= harmonic mean, always
    tw = baseline_json("--n", 3000, "--dim", 3, "--estimator", "twonn")
    assert tw["estimator"] == "twonn" and tw["k"] == 2
    assert tw["id"] == pytest.approx(3.0, rel=0.2)


def test_human_output():
    r = embdim("baseline", "random", "--n", 500, "--dim", 4, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "id=" in r.stdout and "{" not in r.stdout


@pytest.mark.parametrize("args", [
    ["random", "--n", "1", "--dim", "5"],
    ["random", "--n", "100", "--dim", "0"],
    ["random", "--n", "20", "--dim", "5", "--k", "50"],
    ["random", "--n", "20", "--ed", "5", "--k", "1"],  # MLE needs k >= 2, as in estimate
    ["random", "--n", "100", "--dim", "5", "--estimator", "pca"],
    ["random", "--dim", "5"],
    [],
])
def test_bad_arguments_exit_2(args):
    r = embdim("baseline", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr


def test_help_has_example():
    r = embdim("baseline", "random", "--help")
    assert r.returncode == 0 and "embdim baseline random --n" in r.stdout


def test_out_writes_the_printed_json(tmp_path):
    out = tmp_path / "sub" / "baseline.json"
    r = embdim("baseline", "random", "--n", 400, "--dim", 5, "--k", 6, "--seed", 2, "--device", "cpu",
               "--json", "--out", out)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text()) == json.loads(r.stdout)
    assert not [p for p in out.parent.iterdir() if p != out]  # no temporary file left behind


def test_like_takes_the_shape_of_an_estimate(tmp_path):
    est = tmp_path / "id-mle-k10.json"
    est.write_text(json.dumps({"estimator": "mle", "k": 10, "n": 700, "n_unique": 650, "ed": 7}))
    got = baseline_json("--like", est, "--seed", 3)
    assert (got["n"], got["dim"]) == (650, 7)  # distinct rows, not n
    assert got == baseline_json("--n", 650, "--dim", 7, "--seed", 3)
    assert baseline_json("--like", est, "--dim", 4)["dim"] == 4  # explicit flags win
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"n_unique": 650}))
    for path in (bad, tmp_path / "absent.json"):
        r = embdim("baseline", "random", "--like", path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
