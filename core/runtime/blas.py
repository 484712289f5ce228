"""Pick OpenBLAS's kernels from the CPU's instruction sets when OpenBLAS would not.

numpy 1.26's OpenBLAS (0.3.23) does not know recent CPUs (e.g. Intel model 207 here) and
falls back to its slowest generic kernels: the runtime then does 70x real time instead of 121x
(docs/RESULTS.md). OPENBLAS_CORETYPE is read when OpenBLAS loads, so this only works before
numpy is imported; it never overrides a value the user set, and it only names kernels whose
instructions /proc/cpuinfo lists, so it cannot select an instruction the CPU lacks.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

AVX512 = {"avx512f", "avx512bw", "avx512dq", "avx512vl"}


def kernel_for(flags: set[str]) -> str | None:
    """The best OpenBLAS core type these CPU flags support (None: leave OpenBLAS to it)."""
    if flags >= AVX512:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def select_openblas_kernels(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """Set OPENBLAS_CORETYPE for this process and its children; returns what was set."""
    if "OPENBLAS_CORETYPE" in os.environ or "numpy" in sys.modules:
        return None
    try:
        flags = next(
            set(line.split(":", 1)[1].split())
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("flags")
        )
    except (OSError, StopIteration):
        return None
    kernel = kernel_for(flags)
    if kernel:
        os.environ["OPENBLAS_CORETYPE"] = kernel
    return kernel
