# SPDX-License-Identifier: MIT
"""Exact kNN (embdim.knn) against an independent float64 brute force (tests/reference.py)."""
from __future__ import annotations

import numpy as np
import pytest

import embdim.knn as knn_mod
from embdim.errors import InputError
from embdim.knn import knn
from tests.reference import brute_knn, linear_subspace

# Distances are recomputed in float64 from the inputs, so they must agree with the brute force
# to float64 round-off (sum of d squares: relative error ~ d * 2^-53 < 1e-12 here).
RTOL = 1e-12


@pytest.fixture(params=["numpy", "torch"])
def kernels(request, monkeypatch):
    """Both CPU kernels: "torch" is the code the CUDA device runs, here on the CPU."""
    monkeypatch.setattr(knn_mod, "CPU_KERNELS", request.param)
    return request.param


def _data(kind: str, rng) -> np.ndarray:
    if kind == "gauss":  # high intrinsic dimension: near-equal distances, bf16 must fall back
        X = rng.standard_normal((700, 300))
    elif kind == "low-rank":
        X = linear_subspace(700, 6, 120, 1e-2, rng) + 3.0  # offset: centring must not matter
    elif kind == "fp16":
        X = rng.standard_normal((600, 64)).astype(np.float16).astype(np.float32)
    else:  # integer lattice: many exactly tied distances
        X = rng.integers(0, 4, size=(500, 5)).astype(np.float64)
        X = np.unique(X, axis=0)
    return X


@pytest.mark.parametrize("kind", ["gauss", "low-rank", "fp16", "lattice"])
@pytest.mark.parametrize("precision", ["bf16", "fp32", "fp64"])
def test_distances_equal_brute_force(kind, precision, kernels):
    X = _data(kind, np.random.default_rng(1))
    k = 7
    ref_d, ref_i = brute_knn(X, k)
    res = knn(X, k, device="cpu", precision=precision, chunk=97)  # uneven chunks on purpose
    np.testing.assert_allclose(res.dist, ref_d, rtol=RTOL, atol=0)
    # Indices are only defined up to ties: check they point at rows at the reported distance.
    got = np.sqrt(((X[:, None, :].astype(np.float64) - X[res.idx]) ** 2).sum(-1))
    np.testing.assert_allclose(got, res.dist, rtol=RTOL, atol=0)
    assert (res.idx != np.arange(len(X))[:, None]).all()  # a point is never its own neighbour
    if kind in ("low-rank", "fp16"):  # no ties: the neighbour lists themselves must match
        assert (res.idx == ref_i).all()
    assert sum(res.tiers.values()) == len(X)


def test_high_dimensional_gaussian_exercises_fallback_tiers():
    # Near-equal distances (intrinsic dimension ~ 300) leave bf16 uncertain for some rows;
    # they must be settled by a later tier and still be exact.
    X = _data("gauss", np.random.default_rng(2))
    res = knn(X, 10, device="cpu", precision="bf16", extra=1)
    assert res.tiers.get("float32", 0) + res.tiers.get("float64", 0) > 0, res.tiers
    np.testing.assert_allclose(res.dist, brute_knn(X, 10)[0], rtol=RTOL)


def test_duplicates_give_zero_distances():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 8))
    X[50] = X[10]
    X[150:160] = 0.0  # zero padding rows
    res = knn(X, 3, device="cpu")
    np.testing.assert_allclose(res.dist, brute_knn(X, 3)[0], rtol=RTOL, atol=1e-300)
    assert res.dist[10, 0] == 0 and res.dist[50, 0] == 0 and (res.dist[150:160, :3] == 0).all()


def test_every_other_row_is_a_candidate():
    X = np.random.default_rng(4).standard_normal((12, 3))
    res = knn(X, 11, device="cpu")  # k = n - 1
    np.testing.assert_allclose(res.dist, brute_knn(X, 11)[0], rtol=RTOL)


def test_float64_input_keeps_precision():
    # Two points 1e-9 apart at norm ~1e3: float32 and the norm expansion would both lose them.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 10)) + 1e3
    X[1] = X[0] + 1e-9 * rng.standard_normal(10)
    res = knn(X, 2, device="cpu")
    np.testing.assert_allclose(res.dist[0, 0], np.linalg.norm(X[1] - X[0]), rtol=1e-9)


@pytest.mark.parametrize("k", [0, -1, 12])
def test_bad_k(k):
    with pytest.raises(InputError):
        knn(np.zeros((12, 2)) + np.arange(12)[:, None], k, device="cpu")


def test_bad_device_and_precision():
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(InputError):
        knn(X, 2, device="tpu")
    with pytest.raises(InputError):
        knn(X, 2, device="cpu", precision="int8")


def test_cuda_request(monkeypatch):
    import torch

    from embdim import _rerank

    X = np.random.default_rng(6).standard_normal((300, 16))
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            knn(X, 5, device="cuda")
        return
    # On a GPU machine the CUDA path must give the exact answer, with the fused Triton re-rank
    # and with the torch one, from float64 and from fp16 data left on the device.
    X16 = X.astype(np.float16)
    for fused in ([True, False] if _rerank.triton_available() else [False]):
        if not fused:
            monkeypatch.setattr(_rerank, "_TRITON", False)
        res = knn(X, 5, device="cuda")
        assert res.device == "cuda"
        np.testing.assert_allclose(res.dist, brute_knn(X, 5)[0], rtol=RTOL)
        res16 = knn(torch.from_numpy(X16).cuda(), 5, device="cuda")
        np.testing.assert_allclose(res16.dist, brute_knn(X16.astype(np.float64), 5)[0], rtol=RTOL)


# --- candidate engines (bench/estimators.py decides the default; every engine must be exact) ---

@pytest.fixture(params=[None, 64])
def small_blocks(request, monkeypatch):
    """sym-fp32 with its default block and with 64-row blocks (many pairs, ragged edges)."""
    import embdim._knn_cpu as cpu

    if request.param:
        monkeypatch.setattr(cpu, "BLOCK", request.param)
    return request.param


@pytest.mark.parametrize("kind", ["gauss", "low-rank", "fp16", "lattice"])
@pytest.mark.parametrize("engine", ["sym-fp32", "faiss-fp32", "torch-fp32", "torch-bf16", "fp64"])
def test_every_engine_equals_brute_force(kind, engine, small_blocks):
    X = _data(kind, np.random.default_rng(7))
    k = 7
    ref_d, ref_i = brute_knn(X, k)
    res = knn(X, k, device="cpu", engine=engine)
    assert res.engine == engine
    np.testing.assert_allclose(res.dist, ref_d, rtol=RTOL, atol=0)
    got = np.sqrt(((X[:, None, :].astype(np.float64) - X[res.idx]) ** 2).sum(-1))
    np.testing.assert_allclose(got, res.dist, rtol=RTOL, atol=0)
    assert (res.idx != np.arange(len(X))[:, None]).all()
    if kind in ("low-rank", "fp16"):
        assert (res.idx == ref_i).all()
    assert sum(res.tiers.values()) == len(X)


def test_sym_engine_settles_most_rows_itself(monkeypatch):
    # The sampled thresholds leave few rows to the fallback tiers (>= 95 % settled by the
    # symmetric float32 pass), and duplicates / zero rows stay exact.
    import embdim._knn_cpu as cpu

    monkeypatch.setattr(cpu, "BLOCK", 128)
    rng = np.random.default_rng(8)
    X = linear_subspace(3000, 8, 64, 1e-3, rng).astype(np.float32)
    X[100] = X[7]
    X[2000:2010] = 0.0
    res = knn(X, 10, device="cpu", engine="sym-fp32")
    np.testing.assert_allclose(res.dist, brute_knn(X, 10)[0], rtol=RTOL, atol=1e-300)
    assert res.dist[7, 0] == 0 and (res.dist[2000:2010, :9] == 0).all()
    assert res.tiers["float32"] >= 0.95 * len(X), res.tiers


def test_engine_choice(monkeypatch):
    import embdim.knn_engine as K

    monkeypatch.delenv("EMBDIM_KNN_ENGINE", raising=False)
    monkeypatch.setattr(K, "native_bf16", lambda: False)
    assert K.choose_engine("cpu") == "sym-fp32"  # AVX2-class CPU: float32
    assert K.choose_engine("cpu", d=4096) == "sym-fp32"
    assert K.choose_engine("cuda") == "torch-bf16"
    monkeypatch.setattr(K, "native_bf16", lambda: True)
    assert K.choose_engine("cpu", d=K.BF16_MIN_D) == "torch-bf16"  # AMX / AVX512_BF16, wide
    assert K.choose_engine("cpu", d=256) == "sym-fp32"  # narrow: float32 wins even there
    assert K.choose_engine("cpu", precision="fp32") == "sym-fp32"
    assert K.choose_engine("cpu", precision="fp64") == "fp64"
    assert K.choose_engine("cuda", precision="fp32") == "torch-fp32"
    monkeypatch.setenv("EMBDIM_KNN_ENGINE", "faiss-fp32")
    assert K.choose_engine("cpu") == "faiss-fp32"
    assert K.choose_engine("cpu", engine="fp64") == "fp64"  # the argument wins
    for bad in ("int8", "faiss"):
        with pytest.raises(InputError, match="engine"):
            K.choose_engine("cpu", engine=bad)
    with pytest.raises(InputError, match="CPU only"):
        K.choose_engine("cuda", engine="sym-fp32")


def test_native_bf16_reads_cpu_flags(monkeypatch, tmp_path):
    import builtins

    import embdim.knn_engine as K

    monkeypatch.delenv("EMBDIM_NATIVE_BF16", raising=False)
    real_open = builtins.open
    for flags, want in (("fpu avx2 fma", False), ("avx2 avx512f avx512_bf16", True),
                        ("avx2 amx_bf16 amx_tile", True)):
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(builtins, "open", lambda p, *a, **kw: real_open(
            info if p == "/proc/cpuinfo" else p, *a, **kw))
        assert K.native_bf16() is want
        monkeypatch.setattr(builtins, "open", real_open)
    monkeypatch.setenv("EMBDIM_NATIVE_BF16", "0")  # the stand-in switch wins over the flags
    assert K.native_bf16() is False
