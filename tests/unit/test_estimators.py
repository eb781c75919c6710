# SPDX-License-Identifier: MIT
"""MLE and TwoNN through embdim.estimate against independent references and data of known ID."""
from __future__ import annotations

import numpy as np
import pytest

import embdim
from embdim.errors import InputError
from embdim.estimators import dedup_rows, dedup_rows_torch, mle_global, twonn
from tests import reference as ref

# estimate() on exact float64 kNN must reproduce the reference pipeline (dedup -> brute-force
# kNN -> formula) to float64 round-off; 1e-9 leaves room for summation order only.
EXACT = 1e-9


def _reference(X, estimator, k=10):
    U = ref.unique_rows(X)
    d, _ = ref.brute_knn(U, 2 if estimator == "twonn" else k)
    if estimator == "twonn":
        return ref.twonn_reference(d[:, 0], d[:, 1]), len(U)
    return ref.mle_reference(d), len(U)


@pytest.mark.parametrize("estimator", ["mle", "twonn"])
@pytest.mark.parametrize("precision", ["bf16", "fp64"])
def test_estimate_matches_reference_pipeline(estimator, precision):
    rng = np.random.default_rng(0)
    X = ref.linear_subspace(600, 7, 48, 0.05, rng)
    got = embdim.estimate(X, estimator=estimator, k=10, device="cpu", precision=precision)
    want, n_unique = _reference(X, estimator)
    if estimator == "mle":
        assert got.id == pytest.approx(want["harmonic"], rel=EXACT)
        assert got.id_harmonic == got.id
        assert got.id_mean == pytest.approx(want["mean"], rel=EXACT)
        assert got.id_median == pytest.approx(want["median"], rel=EXACT)
        assert got.k == 10
    else:
        assert got.id == pytest.approx(want, rel=EXACT)
        assert got.k == 2
    assert (got.n, got.n_unique, got.ed) == (600, n_unique, 48)
    assert got.redundancy == pytest.approx((48 - got.id) / 48)


def test_formulas_on_hand_made_distances():
    # Distances T_j = j^(1/d) are the expected neighbour radii for a d-dim uniform density:
    # MLE over them is exactly d * (k-1) / Σ_j ln(k/j).
    k, d = 10, 3.0
    T = np.tile(np.arange(1, k + 1) ** (1 / d), (5, 1))
    expected = d * (k - 1) / np.sum(np.log(k / np.arange(1, k)))
    assert mle_global(T)["id"] == pytest.approx(expected, rel=1e-12)
    rng = np.random.default_rng(1)
    r1 = rng.random(1000) + 0.1
    r2 = r1 * rng.pareto(4.0, 1000) + r1  # mu ~ Pareto(1, 4) exactly
    assert twonn(r1, r2)["id"] == pytest.approx(ref.twonn_reference(r1, r2), rel=1e-12)


# Known-ID data, n = 2000, k = 10. Tolerances: the harmonic-mean MLE and TwoNN each have a
# relative standard error of roughly 1/sqrt(n(k-1)/k) ~ 2.4% (MLE) and 1/sqrt(0.9 n) ~ 2.4%
# (TwoNN) here; 10% is about four standard errors. The hypercube has a boundary, where both
# estimators are biased low (Levina & Bickel 2004, Fig. 1; Facco et al. 2017): 15%.
KNOWN = [
    ("linear subspace + noise", lambda r: ref.linear_subspace(2000, 5, 40, 1e-3, r), 5, 0.10),
    ("sphere S^3 in R^20", lambda r: ref.sphere(2000, 3, 20, r), 3, 0.10),
    ("swiss roll", lambda r: ref.swiss_roll(2000, r), 2, 0.10),
    ("uniform hypercube [0,1]^4", lambda r: ref.hypercube(2000, 4, r), 4, 0.15),
    ("1-d curve in R^50", lambda r: ref.curve(2000, 50, r), 1, 0.10),
]


@pytest.mark.parametrize("name,make,true_id,tol", KNOWN, ids=[k[0] for k in KNOWN])
@pytest.mark.parametrize("estimator", ["mle", "twonn"])
def test_known_intrinsic_dimension(name, make, true_id, tol, estimator):
    X = make(np.random.default_rng(7))
    res = embdim.estimate(X, estimator=estimator, device="cpu")
    assert res.id == pytest.approx(true_id, rel=tol), (name, estimator, res.id)


def test_duplicates_and_zero_padding_rows_are_removed():
    rng = np.random.default_rng(2)
    X = ref.sphere(500, 4, 16, rng)
    padded = np.vstack([X, np.zeros((7, 16)), X[:20], -0.0 * np.ones((1, 16))])  # -0.0 == 0.0
    res = embdim.estimate(padded, "mle", k=10, device="cpu")
    clean = embdim.estimate(np.vstack([X, np.zeros((1, 16))]), "mle", k=10, device="cpu")
    assert (res.n, res.n_unique) == (len(padded), 501)
    assert res.to_dict()["n_duplicates"] == len(padded) - 501
    assert res.id == pytest.approx(clean.id, rel=1e-12)
    assert np.isfinite(res.id)


def test_fp16_input_is_upcast_exactly():
    rng = np.random.default_rng(3)
    X16 = ref.linear_subspace(800, 6, 32, 0.01, rng).astype(np.float16)
    got = embdim.estimate(X16, "mle", device="cpu")
    want, _ = _reference(X16.astype(np.float64), "mle")
    assert got.id == pytest.approx(want["harmonic"], rel=EXACT)


def test_bf16_torch_tensor_input():
    import torch

    rng = np.random.default_rng(4)
    T = torch.from_numpy(ref.sphere(600, 3, 12, rng)).to(torch.bfloat16)
    got = embdim.estimate(T, "twonn", device="cpu")
    want, n_unique = _reference(T.float().numpy().astype(np.float64), "twonn")
    assert got.id == pytest.approx(want, rel=EXACT)
    assert got.n_unique == n_unique


def test_input_array_is_not_modified():
    X = np.random.default_rng(5).standard_normal((300, 8))
    before = X.copy()
    embdim.estimate(X, "mle", device="cpu")
    assert np.array_equal(X, before)


def test_pointwise_on_request():
    X = ref.sphere(400, 2, 6, np.random.default_rng(6))
    res = embdim.estimate(X, "mle", device="cpu", return_pointwise=True)
    local = ref.mle_reference(ref.brute_knn(X, 10)[0])["local"]
    np.testing.assert_allclose(res.pointwise, local, rtol=EXACT)
    assert len(res.to_dict()["pointwise"]) == 400
    assert "pointwise" not in embdim.estimate(X, "mle", device="cpu").to_dict()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_rejected(bad):
    X = np.random.default_rng(7).standard_normal((50, 4))
    X[13, 2] = bad
    with pytest.raises(InputError, match="row 13"):
        embdim.estimate(X, device="cpu")


def test_too_few_unique_rows():
    X = np.repeat(np.eye(4), 5, axis=0)  # 20 rows, 4 unique
    with pytest.raises(InputError, match="unique"):
        embdim.estimate(X, "mle", k=4, device="cpu")
    assert embdim.estimate(X, "mle", k=3, device="cpu").n_unique == 4  # k + 1 = 4 is enough
    with pytest.raises(InputError, match="unique"):
        embdim.estimate(X[:8], "twonn", device="cpu")  # 2 unique rows < 3


@pytest.mark.parametrize("kwargs", [dict(estimator="pca"), dict(k=1), dict(k=2.5), dict(k=True)])
def test_bad_arguments(kwargs):
    with pytest.raises(InputError):
        embdim.estimate(np.random.default_rng(8).standard_normal((40, 3)), device="cpu", **kwargs)


@pytest.mark.parametrize("shape", [(10,), (2, 3, 4), (0, 3)])
def test_not_a_matrix(shape):
    with pytest.raises(InputError):
        embdim.estimate(np.ones(shape), device="cpu")


def test_dedup_rows_keeps_first_occurrence_in_order():
    X = np.array([[1.0, 2.0], [0.0, -0.0], [1.0, 2.0], [3.0, 4.0], [-0.0, 0.0]])
    U, first = dedup_rows(X)
    assert first.tolist() == [0, 1, 3]
    assert U.tolist() == [[1.0, 2.0], [0.0, 0.0], [3.0, 4.0]]


def test_json_dict_has_contract_keys():
    X = ref.sphere(300, 2, 5, np.random.default_rng(9))
    d = embdim.estimate(X, "mle", device="cpu").to_dict()
    assert {"estimator", "k", "id", "ed", "redundancy", "n", "n_unique", "id_harmonic", "id_mean",
            "id_median"} <= set(d)
    t = embdim.estimate(X, "twonn", k=7, device="cpu").to_dict()
    assert t["k"] == 2 and t["estimator"] == "twonn"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_device_dedup_matches_numpy_dedup(dtype):
    # dedup_rows_torch is what a GPU-resident input goes through; it is device-agnostic.
    import torch

    rng = np.random.default_rng(10)
    X = rng.standard_normal((300, 6))
    X[[40, 41, 200]] = X[7]
    X[100:110] = 0.0
    X[111] = -0.0
    T = torch.from_numpy(X).to(getattr(torch, dtype))
    U, first = dedup_rows_torch(T)
    want = dedup_rows(T.float().numpy() if dtype == "bfloat16" else T.numpy())[1]
    assert first.tolist() == want.tolist()
    assert torch.equal(U, T[first])


def test_dedup_hash_collision_falls_back_to_sorting(monkeypatch):
    # All-zero multipliers hash every row to 0: the row check must catch it and sort instead.
    from embdim.estimators import _base

    monkeypatch.setattr(_base, "_hash_coefficients", lambda d: np.zeros(d, dtype=np.uint64))
    X = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [5.0, 6.0], [3.0, 4.0]])
    U, first = dedup_rows(X)
    assert first.tolist() == [0, 1, 3]


def test_dedup_rows_equal_only_on_hashed_columns_stay_distinct():
    # dedup_rows hashes 64 of the 200 columns: rows that differ only elsewhere must survive.
    X = np.tile(np.arange(200.0), (3, 1))
    X[1, 1] += 1e-3  # column 1 is not among the hashed ones (linspace(0, 199, 64) skips it)
    U, first = dedup_rows(X)
    assert first.tolist() == [0, 1]


# -- estimator classes, conventions, registry ------------------------------------------------------
def _hand_mle(dist, normalization, aggregate):
    """The three conventions by hand from the issue's definition: S = Σ_{j=1}^{k-1} ln(T_k/T_j),
    LID = c/S with c = k-1, k-2 or k; aggregates harmonic n/Σ(1/LID), mean, median."""
    n, k = dist.shape
    c = {"k-1": k - 1, "k-2": k - 2, "k": k}[normalization]
    lid = []
    for i in range(n):
        S = sum(np.log(dist[i, k - 1] / dist[i, j]) for j in range(k - 1))
        lid.append(c / S)
    lid = np.array(lid)
    return {"harmonic": n / np.sum(1.0 / lid), "mean": lid.mean(), "median": np.median(lid)}[aggregate], lid


@pytest.mark.parametrize("normalization", ["k-1", "k-2", "k"])
@pytest.mark.parametrize("aggregate", ["harmonic", "mean", "median"])
def test_mle_conventions_against_hand_computation(normalization, aggregate):
    from embdim.estimators import MLE

    X = ref.sphere(300, 3, 9, np.random.default_rng(21))
    dist, _ = ref.brute_knn(ref.unique_rows(X), 7)
    want, lid = _hand_mle(dist, normalization, aggregate)
    est = MLE(k=7, normalization=normalization, aggregate=aggregate).fit(X)
    assert est.dimension_ == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(est.dimension_pw_, lid, rtol=1e-12)
    res = embdim.estimate(X, "mle", k=7, device="cpu", normalization=normalization, aggregate=aggregate)
    assert res.id == pytest.approx(want, rel=1e-12)
    assert (res.normalization, res.aggregate) == (normalization, aggregate)


def test_conventions_differ_by_their_numerators():
    # At k = 10: k-2 is 8/9 and k is 10/9 of the Levina–Bickel value, point by point.
    from embdim.estimators import MLE

    X = ref.linear_subspace(400, 5, 12, 0.0, np.random.default_rng(3))
    base = MLE(k=10).fit(X).dimension_pw_
    np.testing.assert_allclose(MLE(k=10, normalization="k-2").fit(X).dimension_pw_, base * 8 / 9, rtol=1e-12)
    np.testing.assert_allclose(MLE(k=10, normalization="k").fit(X).dimension_pw_, base * 10 / 9, rtol=1e-12)


def test_classes_store_params_fit_returns_self_and_accept_a_knn():
    from embdim.estimators import MLE, TwoNN
    from embdim.knn import knn

    rng = np.random.default_rng(4)
    X = ref.sphere(400, 3, 8, rng)
    X[[50, 51]] = X[10]  # duplicates: row_index_ points at first occurrences
    m = MLE(k=6, normalization="k", aggregate="median", bootstrap=50, seed=3)
    assert m.get_params() == {"k": 6, "normalization": "k", "aggregate": "median", "bootstrap": 50,
                              "seed": 3, "device": "auto", "precision": None, "engine": None}
    assert not hasattr(m, "dimension_")
    assert m.fit(X) is m
    assert m.get_params()["k"] == 6  # fit never changes params
    assert m.n_ == 400 and m.n_unique_ == 398 and m.ed_ == 8
    assert len(m.row_index_) == 398 and 50 not in m.row_index_ and 10 in m.row_index_
    lo, hi = m.ci_
    assert lo < m.dimension_ < hi and m.se_ > 0 and len(m.bootstrap_) == 50
    # a precomputed kNN at a larger k: the first k columns are used, same result
    U, _ = dedup_rows(X)
    nn = knn(U, 12, device="cpu")
    m2 = MLE(k=6, normalization="k", aggregate="median", bootstrap=50, seed=3).fit(nn)
    assert m2.dimension_ == m.dimension_ and m2.ci_ == m.ci_
    assert m2.row_index_.tolist() == list(range(398))
    t = TwoNN().fit((nn.dist, nn.idx))
    assert t.dimension_ == pytest.approx(embdim.estimate(X, "twonn", device="cpu").id, rel=1e-12)
    assert t.ci_ is None and t.se_ is None
    with pytest.raises(InputError):
        MLE(k=20).fit(nn)  # the kNN has only 12 neighbours


def test_bootstrap_is_seeded():
    from embdim.estimators import MLE, TwoNN

    X = ref.sphere(300, 2, 6, np.random.default_rng(5))
    for Est in (MLE, TwoNN):
        a, b, c = (Est(bootstrap=40, seed=s).fit(X) for s in (1, 1, 2))
        assert a.ci_ == b.ci_ and a.ci_ != c.ci_


@pytest.mark.parametrize("kwargs", [dict(normalization="k-3"), dict(aggregate="geometric"),
                                    dict(k=2, normalization="k-2"), dict(k=1), dict(bootstrap=-1)])
def test_bad_class_params_raise_on_fit(kwargs):
    from embdim.estimators import MLE

    est = MLE(**kwargs)  # __init__ only stores
    with pytest.raises(InputError):
        est.fit(np.random.default_rng(0).standard_normal((50, 3)))


def test_one_registry_of_estimator_names():
    import yaml

    from embdim import config
    from embdim.estimators import ESTIMATORS, FIXED_K, REGISTRY, parse_spec
    from tests.workflow.conftest import REPO

    assert config.ESTIMATORS is ESTIMATORS and tuple(REGISTRY) == ESTIMATORS
    assert config.TWONN_K == FIXED_K["twonn"]
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    assert tuple(schema["properties"]["estimators"]["items"]["properties"]["name"]["enum"]) == ESTIMATORS
    assert parse_spec("mle:10").full == "mle:10:k-1:harmonic"
    assert parse_spec("mle:5", "k", "mean").full == "mle:5:k:mean"
    assert parse_spec("mle:5:k-2:median", "k", "mean").full == "mle:5:k-2:median"
    assert parse_spec("twonn").k == parse_spec("twonn:2").k == 2
    for bad in ("mle", "twonn:3", "pca:3", "mle:x", "mle:10:k-3", "twonn:2:k-1", "mle:2:k-2"):
        with pytest.raises(InputError):
            parse_spec(bad)
