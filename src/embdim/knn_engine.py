# SPDX-License-Identifier: MIT
"""Which exact-kNN candidate engine runs: the engine names, native-bf16 detection, the choice.

Every engine gives the same exact answer (float64 re-rank plus certificate, :mod:`embdim.knn`);
they differ only in speed, which depends on what the machine multiplies fast.
"""
from __future__ import annotations

import os

from .errors import InputError

# Candidate engines. "torch-*": chunked product of the given first tier (CPU or CUDA);
# "sym-fp32" / "faiss-fp32": whole-matrix float32 candidates on the CPU (src/embdim/_knn_cpu.py);
# "fp64": plain float64 brute force. All are exact: re-rank in float64 plus certificate.
ENGINES = ("torch-bf16", "torch-fp32", "sym-fp32", "faiss-fp32", "fp64")
_PRECISION_ENGINE = {"bf16": "torch-bf16", "fp64": "fp64"}
# Even with native bf16 (AMX), the symmetric float32 engine is faster on narrow matrices, where
# the product is cheap next to the candidate scan. Measured on 2 cores of a Xeon with AMX
# (docs/benchmarks.md): 20000 x 256 sym-fp32 1.03 s vs torch-bf16 1.17 s, 50304 x 128 3.62 vs
# 4.92 s, 50304 x 2048 26.5 vs 24.1 s.
BF16_MIN_D = 2048


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AMX or AVX512_BF16, from /proc/cpuinfo).

    Elsewhere (AVX2, plain AVX-512) torch emulates bf16 products: measured 9x slower than
    float32 at 20000 x 256 with oneDNN limited to AVX2. Without /proc/cpuinfo (not Linux), a
    one-off timing of a small product decides. ``EMBDIM_NATIVE_BF16=0|1`` overrides.
    """
    forced = os.environ.get("EMBDIM_NATIVE_BF16")
    if forced in ("0", "1"):  # a stand-in for another kind of CPU (bench/estimators.py)
        return forced == "1"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    import time

    import torch

    a = torch.randn(512, 512)
    spent = {}
    for dt in (torch.float32, torch.bfloat16):
        x = a.to(dt)
        x @ x  # warm-up
        t0 = time.perf_counter()
        for _ in range(4):
            x @ x
        spent[dt] = time.perf_counter() - t0
    return spent[torch.bfloat16] < spent[torch.float32]


def choose_engine(device: str, precision: str | None = None, engine: str | None = None,
                  d: int | None = None) -> str:
    """The candidate engine: ``engine``, else ``$EMBDIM_KNN_ENGINE``, else by device and CPU.

    ``precision`` (the older switch) maps ``bf16`` to ``torch-bf16``, ``fp64`` to ``fp64`` and
    ``fp32`` to the fastest float32 engine of the device. ``auto`` (default): ``torch-bf16`` on
    CUDA, and on CPUs with native bf16 from ``d >= BF16_MIN_D`` columns; ``sym-fp32``
    otherwise (docs/benchmarks.md).

    Raises
    ------
    InputError
        Unknown engine or precision, or a CPU-only engine asked for on CUDA.
    """
    choice = engine or os.environ.get("EMBDIM_KNN_ENGINE") or "auto"
    if choice == "auto" and precision not in (None, "auto"):
        if precision not in ("bf16", "fp32", "fp64"):
            raise InputError(f"unknown precision {precision!r} (expected bf16, fp32 or fp64)")
        choice = _PRECISION_ENGINE.get(precision) or (
            "torch-fp32" if device != "cpu" else "sym-fp32")
    if choice == "auto":
        wide = d is None or d >= BF16_MIN_D
        choice = "torch-bf16" if device != "cpu" or (wide and native_bf16()) else "sym-fp32"
    if choice not in ENGINES:
        raise InputError(f"unknown kNN engine {choice!r} (expected auto or one of "
                         f"{', '.join(ENGINES)})")
    if device != "cpu" and choice in ("sym-fp32", "faiss-fp32"):
        raise InputError(f"kNN engine {choice} runs on the CPU only (use --device cpu)")
    return choice
