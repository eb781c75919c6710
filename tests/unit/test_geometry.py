# SPDX-License-Identifier: MIT
"""embdim.geometry against closed forms and brute force.

Tolerances come from the sampling distribution of each quantity (derivations in the comments),
set at >= 5 standard deviations so the seeded tests are not flaky, yet far tighter than the
effect a wrong formula would have.
"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from embdim.errors import InputError
from embdim.geometry import compute_geometry, effective_rank, pca_dim

N, D = 4000, 50


@pytest.fixture(scope="module")
def gauss():
    return np.random.default_rng(1).standard_normal((N, D))


def exact_cloud(n, variances, seed=0):
    """n points whose centred covariance (1/n)·ΣxxT is exactly diag(variances), mean exactly 0."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, len(variances)))
    Z -= Z.mean(axis=0)
    Q, _ = np.linalg.qr(Z)  # columns orthonormal and, spanning centred columns, of zero mean
    return Q * np.sqrt(n * np.asarray(variances, dtype=float))


def brute_mean_cosine(X):
    U = [x / np.linalg.norm(x) for x in X if np.linalg.norm(x) > 0]
    return float(np.mean([a @ b for a, b in itertools.combinations(U, 2)]))


# -- isotropic Gaussian ---------------------------------------------------------------------------
def test_isotropic_mean_cosine_is_zero(gauss):
    g = compute_geometry(gauss)
    # Pair cosines of independent isotropic directions have mean 0, variance 1/d and are pairwise
    # uncorrelated, so their average over N(N-1)/2 pairs has sd sqrt(2/(d N (N-1))) ~ 5e-5.
    sd = math.sqrt(2 / (D * N * (N - 1)))
    assert abs(g.mean_cosine) < 5 * sd


def test_isotropic_top_share_is_one_over_d_up_to_marchenko_pastur(gauss):
    g = compute_geometry(gauss)
    # λ_max(WᵀW)/N -> (1 + sqrt(d/N))² (Marchenko–Pastur edge), Σλ/N -> d, so the share is
    # (1+sqrt(γ))²/d, not exactly 1/d at finite N. Edge fluctuations (Johnstone 2001,
    # Tracy–Widom scale (sqrt N + sqrt d)(1/sqrt N + 1/sqrt d)^(1/3)) are ~0.8 % of λ_max here; 5 % is >6 sd.
    edge = (1 + math.sqrt(D / N)) ** 2 / D
    assert g.top_sv_share == pytest.approx(edge, rel=0.05)
    assert g.top_pc_share == pytest.approx(edge, rel=0.05)
    assert 1 / D < g.top_sv_share < 1.5 / D


def test_isotropic_norm_split(gauss):
    g = compute_geometry(gauss)
    # V = (1/N)Σ‖x - x̄‖² ~ χ²_{d(N-1)}/N: mean d(N-1)/N, sd sqrt(2d(N-1))/N ~ 0.16.
    assert g.variance == pytest.approx(D * (N - 1) / N, abs=5 * math.sqrt(2 * D * (N - 1)) / N)
    # ‖x̄‖² ~ χ²_d/N: mean d/N, sd sqrt(2d)/N.
    assert g.mean_norm_sq == pytest.approx(D / N, abs=5 * math.sqrt(2 * D) / N)
    assert g.q == pytest.approx(g.mean_norm_sq + g.variance, rel=1e-12)
    assert g.q == pytest.approx(float((gauss ** 2).sum(axis=1).mean()), rel=1e-12)
    assert g.mean_norm_ratio == pytest.approx(g.mean_norm_sq / g.variance)
    # Close to full rank: Roy & Vetterli's effective rank is at most d.
    assert 0.95 * D < g.effective_rank <= D


# -- exact spectra: PCA dimension, shares, effective rank, rank-r ---------------------------------
def test_pca_dims_top_shares_and_effective_rank_on_known_spectrum():
    lam = [50.0, 30.0, 15.0, 4.0, 1.0]  # cumulative shares 0.50, 0.80, 0.95, 0.99, 1.00
    g = compute_geometry(exact_cloud(300, lam))
    assert (g.pca_dim_90, g.pca_dim_95, g.pca_dim_99) == (3, 3, 4)  # 0.95 and 0.99 hit exactly
    assert g.top_pc_share == pytest.approx(0.5, rel=1e-10)
    assert g.top_sv_share == pytest.approx(0.5, rel=1e-10)  # mean 0: uncentred = centred
    s = np.sqrt(lam) / np.sqrt(lam).sum()  # singular values ∝ sqrt(variances)
    assert g.effective_rank == pytest.approx(math.exp(-(s * np.log(s)).sum()), rel=1e-9)
    assert g.variance == pytest.approx(sum(lam), rel=1e-10)


def test_rank_r_data():
    rng = np.random.default_rng(2)
    r, d = 7, 40
    B = np.linalg.qr(rng.standard_normal((d, r)))[0].T  # r orthonormal directions in R^d
    W = rng.standard_normal((2000, r)) @ B
    g = compute_geometry(W)
    # r nearly equal components: r - 1 of them explain ~ (r-1)/r = 86 % < 90 %, all r explain 100 %.
    assert (g.pca_dim_90, g.pca_dim_95, g.pca_dim_99) == (r, r, r)
    assert r - 1 < g.effective_rank <= r + 1e-9


def test_pca_dim_and_effective_rank_helpers():
    assert pca_dim(np.array([9.0, 1.0]), 0.9) == 1
    assert pca_dim(np.array([8.0, 2.0]), 0.9) == 2
    assert effective_rank(np.ones(12)) == pytest.approx(12)
    assert effective_rank(np.array([3.0, 0.0, 0.0])) == pytest.approx(1)


# -- shifted cloud and one dominant direction -------------------------------------------------------
def test_shifted_cloud_mean_norm_equals_shift():
    lam = [4.0, 2.0, 1.0, 1.0]
    shift = np.array([3.0, -1.0, 0.5, 2.0])
    base = compute_geometry(exact_cloud(500, lam, seed=3))
    g = compute_geometry(exact_cloud(500, lam, seed=3) + shift)
    assert g.mean_norm_sq == pytest.approx(float(shift @ shift), rel=1e-10)
    assert g.variance == pytest.approx(sum(lam), rel=1e-10)  # a shift leaves V alone
    assert g.q == pytest.approx(shift @ shift + sum(lam), rel=1e-10)
    assert g.mean_norm_ratio == pytest.approx(shift @ shift / sum(lam), rel=1e-10)
    assert (g.top_pc_share, g.pca_dim_90) == pytest.approx((base.top_pc_share, base.pca_dim_90))
    assert g.mean_cosine > base.mean_cosine + 0.3
    assert g.top_sv_share > base.top_sv_share


def test_isotropy_goes_to_zero_with_one_dominant_direction():
    rng = np.random.default_rng(4)
    Z = rng.standard_normal((3000, 20))
    v = np.zeros(20)
    v[0] = 1.0
    iso = [compute_geometry(Z + a * v).isotropy for a in (0.0, 1.0, 3.0, 6.0)]
    # Gaussian rows: Z(c) ≈ N e^{1/2} in every direction, so I ≈ 1 up to sampling noise of
    # exp(N(0,1)) sums (relative sd sqrt((e-1)/N) ~ 2.4 %, plus the max over 40 directions).
    assert iso[0] > 0.6
    assert all(a > b for a, b in zip(iso, iso[1:]))
    # With an offset a along v: Z(v) ≈ N e^{a+1/2}, Z(-v) ≈ N e^{-a+1/2}, so I ≈ e^{-2a}.
    assert math.log(iso[3]) == pytest.approx(-12.0, abs=0.7)


def test_isotropy_does_not_overflow():
    rng = np.random.default_rng(5)
    W = rng.standard_normal((500, 8)) + 2000.0  # naive exp(cᵀw) overflows past cᵀw ≈ 709
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = compute_geometry(W)
    assert 0.0 <= g.isotropy < 1e-300


# -- mean cosine exactness, dedup, chunking, dtypes -----------------------------------------------
def test_mean_cosine_matches_brute_force_pairs():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((150, 12)) + rng.standard_normal(12)  # anisotropic: mean cosine ≠ 0
    X[17] = 0.0  # a zero row has no direction and takes no part
    g = compute_geometry(X, chunk_rows=16)
    assert g.mean_cosine == pytest.approx(brute_mean_cosine(X), rel=1e-10, abs=1e-13)
    assert abs(g.mean_cosine) > 0.05


def test_duplicates_are_dropped_first():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((200, 10)) + 1.0
    Xdup = np.vstack([X, np.repeat(X[:1], 50, axis=0)])
    g, gd = compute_geometry(X), compute_geometry(Xdup)
    assert (gd.n, gd.n_unique, gd.d) == (250, 200, 10)
    assert gd.mean_cosine == pytest.approx(g.mean_cosine, rel=1e-12)
    assert gd.mean_cosine == pytest.approx(brute_mean_cosine(X), rel=1e-10)
    assert compute_geometry(Xdup, dedup=False).mean_cosine == pytest.approx(brute_mean_cosine(Xdup), rel=1e-10)


def test_chunking_and_half_precision_do_not_change_results():
    rng = np.random.default_rng(8)
    X16 = (rng.standard_normal((300, 24)) + 0.3).astype(np.float16)
    a = compute_geometry(X16).to_dict()
    b = compute_geometry(X16.astype(np.float64), chunk_rows=7).to_dict()
    for key, va in a.items():
        assert va == pytest.approx(b[key], rel=1e-9), key


def test_input_not_mutated():
    X = np.random.default_rng(9).standard_normal((100, 5)) + 4.0
    before = X.copy()
    compute_geometry(X, dedup=False, chunk_rows=10)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_raise(bad):
    X = np.ones((10, 3))
    X[4, 1] = bad
    with pytest.raises(InputError, match="row 4"):
        compute_geometry(X)


def test_too_few_distinct_rows_raise():
    with pytest.raises(InputError, match="distinct"):
        compute_geometry(np.ones((20, 4)))
    with pytest.raises(InputError):
        compute_geometry(np.ones(5))
