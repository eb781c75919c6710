# SPDX-License-Identifier: MIT
"""Time embdim's estimators against scikit-dimension and DADApy (CPU), and the CUDA path.

Timing only, never a CI gate. Every result records the device and the commit. Calls that
take under 20 s are repeated and the best of 3 kept, for every tool alike (shared machine).

usage:
  python bench/estimators.py cpu [--sizes 20000x256,50304x128,50304x2048] [--engine E]
                                 [--stand-in avx2] [--dadapy-python PY] [--json OUT]
  python bench/estimators.py gpu [--n 50688] [--d 5120] [--repeat 5] [--json OUT]

Data: an "embedding-like" matrix (a smooth 48-dim manifold through tanh, isotropic noise, a
mean offset), rounded to fp16 and cast up to float32 for every tool, as a Pythia fp16 embedding
would be. It is built in float64 and rounded once, so two machines build bit-identical fp16
matrices (the sha256 of the fp16 bytes is printed to check that).

The CPU mode prints the CPU model, its relevant flags and the kNN engine embdim chose, and times
faiss ``IndexFlatL2`` (kNN only, k + 1 neighbours, no re-rank) as a peer. ``--stand-in avx2``
re-runs itself with every library held to AVX2 (MKL, oneDNN, ATen, faiss, OpenBLAS, numba), so
an AMX or AVX-512 machine stands in for the common CPU without native bf16; the engine is then
chosen as on such a CPU (native bf16 off).

DADApy's PyPI release (0.3.4) is built against numpy < 2 and fails to import under numpy 2; give
``--dadapy-python`` the interpreter of a separate environment (numpy 1.26) to time it there on
the same data (handed over as .npy; only the call itself is timed, in that process).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # same setting for every library timed here

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# Every library held to AVX2 (no AVX-512, no AMX): what a CPU without native bf16 runs.
STAND_IN = {"avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                     "ATEN_CPU_CAPABILITY": "avx2", "FAISS_OPT_LEVEL": "avx2",
                     "OPENBLAS_CORETYPE": "Haswell", "NUMBA_CPU_NAME": "haswell",
                     "EMBDIM_NATIVE_BF16": "0"}}
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def embedding_like(n: int, d: int, seed: int = 0, latent: int = 48) -> np.ndarray:
    """fp16 (n, d) matrix: tanh of a random 48-dim linear map, + noise 0.15, + 0.1, times 0.02."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((latent, d)) / np.sqrt(latent)
    out = np.empty((n, d), dtype=np.float16)
    for s in range(0, n, 4096):  # row blocks: bounded memory, same stream on every machine
        m = min(4096, n - s)
        Z = rng.standard_normal((m, latent))
        block = np.tanh(Z @ W) + 0.15 * rng.standard_normal((m, d)) + 0.1
        out[s:s + m] = 0.02 * block
    return out


def provenance() -> dict:
    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except OSError:
            return ""
    commit = os.environ.get("EMBDIM_COMMIT") or git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src", "bench")
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch
    return {"commit": commit + ("+dirty" if dirty else ""), "cpu": cpu, "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "numpy": np.__version__,
            "torch": torch.__version__,
            "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}


# A call faster than this is repeated and the best of REPEATS kept (a shared, noisy machine);
# slower ones run once.
QUICK_S = 20.0
REPEATS = 3


def timed(fn):
    best, out = float("inf"), None
    for i in range(REPEATS):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
        if best > QUICK_S:
            break
    return out, best


_DADAPY_CHILD = """
import json, sys, time
import numpy as np
X = np.load(sys.argv[1])
import dadapy
from dadapy import Data
dt = float("inf")
for _ in range(int(sys.argv[3])):  # same rule as the parent: best of 3 when quick
    t = time.perf_counter()
    d = Data(coordinates=X, maxk=int(sys.argv[2]))
    out = d.compute_id_2NN()
    dt = min(dt, time.perf_counter() - t)
    if dt > float(sys.argv[4]):
        break
print(json.dumps({"id": float(out[0]), "seconds": dt, "numpy": np.__version__,
                  "dadapy": getattr(dadapy, "__version__", "?")}))
"""


def run_dadapy(X: np.ndarray, python: str | None, maxk: int) -> dict:
    """DADApy 2NN (linear fit, 10% discarded), in-process if it imports, else in ``python``."""
    try:
        from dadapy import Data  # noqa: F401
        python = sys.executable
    except Exception as e:  # noqa: BLE001 - report why, whatever it was
        if not python:
            return {"error": f"import failed here ({type(e).__name__}: {str(e).splitlines()[0][:120]})"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        np.save(path, X)
        p = subprocess.run([python, "-c", _DADAPY_CHILD, str(path), str(maxk), str(REPEATS),
                            str(QUICK_S)],
                           capture_output=True, text=True)
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1][:200] if p.stderr.strip() else "failed"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def cpu_flags() -> list:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in CPU_FLAGS if f in have]
    except OSError:
        pass
    return []


def faiss_knn(X: np.ndarray, k: int) -> float:
    """faiss IndexFlatL2 kNN alone (k + 1 neighbours: the row itself comes back first)."""
    import faiss
    import torch

    faiss.omp_set_num_threads(torch.get_num_threads())
    index = faiss.IndexFlatL2(X.shape[1])
    index.add(X)
    D, _ = index.search(X, k + 1)
    return float(D[:, k].mean())


def bench_cpu(sizes, dadapy_python, skip_skdim_twonn_above, twonn_above, compare_engines=(),
              peers=("skdim", "faiss")):
    import faiss
    import skdim
    import torch

    import embdim
    from embdim.knn_engine import choose_engine, native_bf16

    info = provenance()  # at the start: the commit whose code is timed
    info["cpu_flags"] = cpu_flags()
    info["native_bf16"] = native_bf16()
    info["engine"] = ", ".join(f"d={d}: {choose_engine('cpu', d=d)}" for d in
                               sorted({d for _, d in sizes}))
    info["stand_in"] = os.environ.get("EMBDIM_BENCH_STAND_IN", "")
    info["faiss"] = faiss.__version__
    print(f"CPU: {info['cpu']}, {info['cores']} cores; flags: {' '.join(info['cpu_flags'])}; "
          f"native bf16: {info['native_bf16']}; stand-in: {info['stand_in'] or 'none'}; "
          f"embdim kNN engine: {info['engine']}", flush=True)
    # Warm-up on a small matrix: imports (torch, numba), thread pools, kernel JIT for every tool.
    W = embedding_like(600, 32, seed=1).astype(np.float32)
    embdim.estimate(W, "mle", device="cpu"), embdim.estimate(W, "twonn", device="cpu")
    skdim.id.MLE(K=10).fit(W, n_neighbors=10), skdim.id.TwoNN().fit(W), faiss_knn(W, 10)
    rows = []
    for n, d in sizes:
        X16 = embedding_like(n, d)
        X = X16.astype(np.float32)  # fp16 values cast up: the same matrix for every tool
        sha = hashlib.sha256(X16.tobytes()).hexdigest()[:16]
        print(f"\n## {n} x {d} (fp16 sha256 {sha})", flush=True)
        res = {"n": n, "d": d, "sha256_fp16": sha}
        r, t = timed(lambda: embdim.estimate(X, "mle", k=10, device="cpu"))
        res["embdim_mle"] = {"id": r.id, "seconds": t, "tiers": r.knn_tiers,
                             "engine": r.knn_engine}
        print(f"embdim MLE k=10     {t:8.2f} s  id={r.id:.6f}  engine={r.knn_engine} "
              f"tiers={r.knn_tiers}", flush=True)
        for eng in compare_engines:  # the same call with another kNN engine forced
            r, t = timed(lambda: embdim.estimate(X, "mle", k=10, device="cpu", engine=eng))
            res[f"embdim_mle_{eng}"] = {"id": r.id, "seconds": t, "tiers": r.knn_tiers,
                                        "engine": r.knn_engine}
            print(f"embdim MLE k=10     {t:8.2f} s  id={r.id:.6f}  engine={r.knn_engine} "
                  f"(forced) tiers={r.knn_tiers}", flush=True)
        if "skdim" in peers:
            s, t = timed(lambda: skdim.id.MLE(K=10).fit(X, n_neighbors=10).dimension_)
            res["skdim_mle"] = {"id": float(s), "seconds": t}
            print(f"skdim MLE k=10      {t:8.2f} s  id={s:.6f}", flush=True)
        _, t = timed(lambda: faiss_knn(X, 10))
        res["faiss_knn"] = {"seconds": t}
        print(f"faiss kNN k=10+1    {t:8.2f} s  (IndexFlatL2, kNN only)", flush=True)
        rows.append(res)
        if n * n > twonn_above:
            continue
        r, t = timed(lambda: embdim.estimate(X, "twonn", device="cpu"))
        res["embdim_twonn"] = {"id": r.id, "seconds": t, "tiers": r.knn_tiers}
        print(f"embdim TwoNN        {t:8.2f} s  id={r.id:.6f}  tiers={r.knn_tiers}", flush=True)
        if n * n <= skip_skdim_twonn_above:
            s, t = timed(lambda: skdim.id.TwoNN().fit(X).dimension_)
            res["skdim_twonn"] = {"id": float(s), "seconds": t}
            print(f"skdim TwoNN         {t:8.2f} s  id={s:.6f}", flush=True)
        dd = run_dadapy(X, dadapy_python, maxk=2)
        res["dadapy_2nn"] = dd
        if "error" in dd:
            print(f"DADApy 2NN          n/a: {dd['error']}", flush=True)
        else:
            print(f"DADApy 2NN (maxk=2) {dd['seconds']:8.2f} s  id={dd['id']:.6f}  "
                  f"(numpy {dd['numpy']}, dadapy {dd['dadapy']})", flush=True)
        del X, X16
    info["skdim"] = getattr(skdim, "__version__", "?")
    info["torch_threads"] = torch.get_num_threads()
    print("\n" + markdown_table(rows, info))
    return {"provenance": info, "results": rows}


def markdown_table(rows, info) -> str:
    engines = sorted({key[len("embdim_mle_"):] for r in rows for key in r
                      if key.startswith("embdim_mle_")})
    pairs = [("embdim_mle", "skdim_mle", "MLE k=10 vs skdim MLE(K=10).fit(X, n_neighbors=10)"),
             ("embdim_mle", "faiss_knn", "MLE k=10 vs faiss IndexFlatL2 kNN alone (k+1)")]
    for e in engines:
        pairs += [(f"embdim_mle_{e}", "skdim_mle", f"MLE k=10, engine {e} forced, vs skdim MLE"),
                  (f"embdim_mle_{e}", "faiss_knn", f"MLE k=10, engine {e} forced, vs faiss kNN")]
    pairs += [
             ("embdim_twonn", "skdim_twonn", "TwoNN vs skdim TwoNN()"),
             ("embdim_twonn", "dadapy_2nn", "TwoNN vs DADApy Data(X, maxk=2).compute_id_2NN()")]
    out = ["| shape | comparison | embdim s | other s | speed-up | embdim ID | other ID | rel. diff |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        for a, b, label in pairs:
            A, B = r.get(a), r.get(b)
            if not A:
                continue
            if not B or "error" in B:
                why = (B or {}).get("error", "not run")
                out.append(f"| {r['n']}x{r['d']} | {label} | {A['seconds']:.2f} | n/a | n/a | "
                           f"{A['id']:.4f} | n/a ({why}) | |")
                continue
            if "id" not in B:  # a kNN alone: time only
                out.append(f"| {r['n']}x{r['d']} | {label} | {A['seconds']:.2f} | "
                           f"{B['seconds']:.2f} | {B['seconds'] / A['seconds']:.1f}x | "
                           f"{A['id']:.4f} | | |")
                continue
            out.append(f"| {r['n']}x{r['d']} | {label} | {A['seconds']:.2f} | {B['seconds']:.2f} | "
                       f"{B['seconds'] / A['seconds']:.1f}x | {A['id']:.4f} | {B['id']:.4f} | "
                       f"{abs(A['id'] - B['id']) / abs(B['id']):.1e} |")
    out.append(f"\ncommit {info['commit']}, {info['cpu']}, {info['cores']} cores (flags: "
               f"{' '.join(info.get('cpu_flags', []))}), stand-in: {info.get('stand_in') or 'none'}, "
               f"embdim engine {info.get('engine')}, torch {info['torch']} "
               f"({info['torch_threads']} threads), numpy {info['numpy']}, faiss "
               f"{info.get('faiss')}, skdim {info.get('skdim')}, {info['time_utc']} UTC")
    return "\n".join(out)


def bench_gpu(n, d, repeat, profile):
    import torch

    import embdim

    info = provenance()
    info["gpu"] = torch.cuda.get_device_name(0)
    X16h = embedding_like(n, d)
    sha = hashlib.sha256(X16h.tobytes()).hexdigest()[:16]
    X16 = torch.from_numpy(X16h).cuda()
    print(f"{info['gpu']}: {n} x {d} fp16 (sha256 {sha}), commit {info['commit']}", flush=True)

    def once(**kw):
        torch.cuda.synchronize()
        t = time.perf_counter()
        r = embdim.estimate(X16, "mle", k=10, device="cuda", **kw)
        torch.cuda.synchronize()
        return r, time.perf_counter() - t

    once()  # warm-up: cuBLAS handles, kernels, allocator
    runs = [once() for _ in range(repeat)]
    times = [t for _, t in runs]
    r = runs[-1][0]
    exact, t_exact = once(precision="fp64")
    from embdim import _rerank
    fused = _rerank.triton_available()
    saved, _rerank._TRITON = _rerank._TRITON, False  # the plain torch re-rank, for comparison
    plain = [once() for _ in range(2)][-1]
    _rerank._TRITON = saved
    # The bare fp16 product (chunks of 8192 rows), for scale: the floor of any exact method.
    for _ in range(2):  # second pass timed: the first pays for cuBLAS heuristics
        torch.cuda.synchronize()
        t = time.perf_counter()
        for s in range(0, n, 8192):
            X16[s:s + 8192] @ X16.T
        torch.cuda.synchronize()
        t_mm = time.perf_counter() - t
    out = {"provenance": info, "n": n, "d": d, "sha256_fp16": sha, "seconds": times,
           "median_s": statistics.median(times), "id": r.id, "id_mean": r.id_mean,
           "id_median": r.id_median, "tiers": r.knn_tiers, "exact_fp64_id": exact.id,
           "exact_fp64_seconds": t_exact, "fp16_matmul_s": t_mm,
           "rel_diff_vs_exact": abs(r.id - exact.id) / exact.id, "triton_rerank": fused,
           "torch_rerank_s": plain[1], "torch_rerank_id": plain[0].id}
    print(json.dumps(out, indent=1), flush=True)
    if profile:
        from torch.profiler import ProfilerActivity, profile as prof
        with prof(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
            once()
        print(p.key_averages().table(sort_by="cuda_time_total", row_limit=25))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("cpu")
    c.add_argument("--sizes", default="20000x256,50304x128,50304x2048")
    c.add_argument("--engine", default=None, help="force embdim's kNN engine (EMBDIM_KNN_ENGINE)")
    c.add_argument("--stand-in", choices=sorted(STAND_IN), default=None,
                   help="hold every library to this instruction set (see module docstring)")
    c.add_argument("--compare-engines", default=None,
                   help="also time embdim MLE with these engines forced (comma-separated)")
    c.add_argument("--peers", default="skdim,faiss",
                   help="peers timed beside embdim's MLE (faiss is always timed)")
    c.add_argument("--twonn-above", type=float, default=float("inf"),
                   help="skip the TwoNN comparisons when n*n exceeds this")
    c.add_argument("--dadapy-python", default=os.environ.get("DADAPY_PYTHON"))
    c.add_argument("--skip-skdim-twonn-above", type=float, default=float("inf"),
                   help="skip skdim TwoNN when n*n exceeds this (it sorts whole distance rows)")
    c.add_argument("--json", default=None)
    g = sub.add_parser("gpu")
    g.add_argument("--n", type=int, default=50688)
    g.add_argument("--d", type=int, default=5120)
    g.add_argument("--repeat", type=int, default=5)
    g.add_argument("--profile", action="store_true")
    g.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    if a.mode == "cpu":
        env = dict(STAND_IN.get(a.stand_in, {}))
        if a.engine:
            env["EMBDIM_KNN_ENGINE"] = a.engine
        if a.stand_in:
            env["EMBDIM_BENCH_STAND_IN"] = a.stand_in
        if any(os.environ.get(key) != v for key, v in env.items()):
            # The libraries read these at import or load time: start afresh with them set.
            os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **env})
        sizes = [tuple(int(v) for v in s.split("x")) for s in a.sizes.split(",")]
        out = bench_cpu(sizes, a.dadapy_python, a.skip_skdim_twonn_above, a.twonn_above,
                        [e for e in (a.compare_engines or "").split(",") if e],
                        a.peers.split(","))
    else:
        out = bench_gpu(a.n, a.d, a.repeat, a.profile)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
