# SPDX-License-Identifier: MIT
"""`embdim measure` through a real subprocess: the JSON contract, --out/--lid-out, exit codes."""
from __future__ import annotations

import json

import numpy as np
import pytest

import embdim
from tests import reference as ref
from tests.cli.test_estimate_cli import embdim as run_embdim
from tests.cli.test_estimate_cli import write_st

TOP_KEYS = {"n", "n_unique", "ed", "knn", "estimates", "id_vs_k", "geometry", "provenance"}
ESTIMATE_KEYS = {"estimator", "k", "normalization", "aggregate", "id", "redundancy", "id_mean",
                 "id_median", "ci_low", "ci_high", "se", "bootstrap"}
GEOMETRY_KEYS = {"n", "n_unique", "d", "mean_cosine", "top_sv_share", "top_pc_share",
                 "mean_norm_sq", "variance", "q", "mean_norm_ratio", "isotropy", "pca_dim_90",
                 "pca_dim_95", "pca_dim_99", "effective_rank"}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    X = ref.sphere(300, 3, 12, np.random.default_rng(2)).astype(np.float32)
    X[[20, 21]] = X[5]
    path = tmp_path_factory.mktemp("m") / "x.safetensors"
    write_st(path, {"gpt_neox.embed_in.weight": ("F16", X), "embed_out.weight": ("F32", X[::-1].copy())})
    return path, X.astype(np.float16).astype(np.float32)


def test_json_contract_out_and_lid_out(tmp_path, matrix):
    path, X = matrix
    out, lid = tmp_path / "sub" / "measure.json", tmp_path / "sub" / "lid.npz"
    p = run_embdim("measure", path, "--device", "cpu", "--bootstrap", "20", "--k-curve", "8",
                   "--json", "--out", out, "--lid-out", lid)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert TOP_KEYS <= set(r) and json.loads(out.read_text()) == r
    assert (r["n"], r["n_unique"], r["ed"]) == (300, 298, 12)
    assert set(r["knn"]) >= {"k_max", "engine", "tiers"} and r["knn"]["k_max"] == 10
    assert [(e["estimator"], e["k"]) for e in r["estimates"]] == [("mle", 10), ("mle", 5), ("twonn", 2)]
    for e in r["estimates"]:
        assert ESTIMATE_KEYS <= set(e) and e["bootstrap"] == 20 and e["ci_low"] <= e["id"] <= e["ci_high"]
    assert r["estimates"][0]["normalization"] == "k-1" and r["estimates"][0]["aggregate"] == "harmonic"
    assert r["estimates"][2]["normalization"] is None
    assert r["id_vs_k"]["k"] == list(range(2, 9)) and len(r["id_vs_k"]["id"]) == 7
    assert set(r["geometry"]) == GEOMETRY_KEYS
    assert r["provenance"]["tensor"] == "gpt_neox.embed_in.weight" and r["provenance"]["shape"] == [300, 12]
    assert r["estimates"][0]["id"] == pytest.approx(embdim.estimate(X, "mle", k=10, device="cpu").id, rel=1e-12)
    z = np.load(lid)
    assert set(z.files) == {"lid_k10", "lid_k5", "twonn_mu", "row", "unique_of"}
    assert z["lid_k10"][20] == z["lid_k10"][5] and len(z["row"]) == 300
    assert sorted(p.name for p in out.parent.iterdir()) == ["lid.npz", "measure.json"]  # no temp files


def test_conventions_flags_tensor_and_human_output(matrix):
    path, _ = matrix
    p = run_embdim("measure", path, "--tensor", "embed_out", "--estimator", "mle:6",
                   "--estimator", "mle:6:k-2:median", "--normalization", "k", "--aggregate", "mean",
                   "--bootstrap", "0", "--k-curve", "0", "--no-geometry", "--device", "cpu", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert [(e["normalization"], e["aggregate"]) for e in r["estimates"]] == [("k", "mean"), ("k-2", "median")]
    assert r["estimates"][0]["ci_low"] is None and r["geometry"] is None and r["id_vs_k"]["k"] == []
    assert r["provenance"]["tensor"] == "embed_out.weight"
    h = run_embdim("measure", path, "--bootstrap", "10", "--k-curve", "6", "--device", "cpu")
    assert h.returncode == 0 and "twonn" in h.stdout and "ID vs k" in h.stdout, h.stderr


@pytest.mark.parametrize("case", ["bad estimator", "twonn k", "bad k-curve", "too few rows",
                                  "NaN", "missing file", "lid not npz", "bad bootstrap",
                                  "lid is a directory"])
def test_bad_input_exits_2_with_one_line(tmp_path, matrix, case):
    path, _ = matrix
    nan = np.ones((40, 3))
    nan[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "small.npy", np.random.default_rng(0).standard_normal((20, 3)))
    args = {"bad estimator": [path, "--estimator", "pca:3"],
            "twonn k": [path, "--estimator", "twonn:5"],
            "bad k-curve": [path, "--k-curve", "1"],
            "too few rows": [tmp_path / "small.npy"],  # k-curve 32 needs 33 rows
            "NaN": [tmp_path / "nan.npy", "--k-curve", "0"],
            "missing file": [tmp_path / "nope.npy"],
            "lid not npz": [path, "--lid-out", tmp_path / "lid.txt"],
            "bad bootstrap": [path, "--bootstrap", "-3"],
            "lid is a directory": [path, "--lid-out", tmp_path / "d.npz"]}[case]
    (tmp_path / "d.npz").mkdir()
    p = run_embdim("measure", *args, "--device", "cpu", "--json", "--out", tmp_path / "o.json")
    assert p.returncode == 2, (case, p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embdim measure: error:"), p.stderr
    assert json.loads(p.stdout)["error"]["exit_code"] == 2
    assert not (tmp_path / "o.json").exists()


def test_help_has_examples():
    p = run_embdim("measure", "--help")
    assert p.returncode == 0 and "examples:" in p.stdout and "--lid-out" in p.stdout


def test_baseline_runs_every_estimator_from_one_sample(tmp_path, matrix):
    path, _ = matrix
    out = tmp_path / "m.json"
    assert run_embdim("measure", path, "--bootstrap", "0", "--k-curve", "0", "--device", "cpu",
                      "--out", out).returncode == 0
    p = run_embdim("baseline", "random", "--like", out, "--estimator", "mle:10",
                   "--estimator", "mle:5:k:mean", "--estimator", "twonn", "--device", "cpu", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert (r["n"], r["dim"]) == (298, 12) and "id" not in r  # several: no top-level id
    assert [(e["estimator"], e["k"], e["normalization"], e["aggregate"]) for e in r["estimates"]] == [
        ("mle", 10, "k-1", "harmonic"), ("mle", 5, "k", "mean"), ("twonn", 2, None, None)]
    from embdim.baseline import gaussian_sample
    X = gaussian_sample(298, 12, 0)
    assert r["estimates"][1]["id"] == pytest.approx(
        embdim.estimate(X, "mle", k=5, device="cpu", normalization="k", aggregate="mean").id, rel=1e-12)
