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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


# ---------------------------------------------------------------------------------------
# thread count: many small solves run faster on one thread


_SETTERS = ("openblas_set_num_threads64_", "scipy_openblas_set_num_threads64_",
            "openblas_set_num_threads")  # fmt: skip
_GETTERS = ("openblas_get_num_threads64_", "scipy_openblas_get_num_threads64_",
            "openblas_get_num_threads")  # fmt: skip
_openblas: list = []  # [(set, get)] once looked up; [None] where there is no OpenBLAS


def _openblas_functions():
    """numpy's OpenBLAS thread functions, found among the loaded libraries (Linux), or None
    (another BLAS, another OS: the callers then leave the threads as they are)."""
    if not _openblas:
        _openblas.append(None)
        try:
            import ctypes

            maps = Path("/proc/self/maps").read_text()
            libs = sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line})
            for lib in libs:
                handle = ctypes.CDLL(lib)
                setter = next((getattr(handle, n) for n in _SETTERS if hasattr(handle, n)), None)
                getter = next((getattr(handle, n) for n in _GETTERS if hasattr(handle, n)), None)
                if setter is not None and getter is not None:
                    _openblas[0] = (setter, getter)
                    break
        except (OSError, IndexError):
            pass
    return _openblas[0]


_requests: list[int] = []  # thread counts asked for by the blocks running now, any thread
_outside: list[int] = []  # OpenBLAS's count before the first of them
_requests_lock = threading.Lock()


@contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with OpenBLAS on at most `n` threads. Why: the ARKit fit's thousands of
    batched 52x52 solves ran 4x slower on OpenBLAS's threads than on one (docs/RESULTS.md),
    and an inference run's many medium-sized products took 2-4x the CPU time on two
    threads (OpenBLAS's idle threads spin, and a busy second core stalls them); a run's
    own worker thread uses that core instead. Some products (gemv, and gemm with a long
    inner dimension) also round differently on more threads: on one thread the numbers do
    not depend on the machine's core count. The count is process-wide and blocks may
    overlap in several threads: the smallest count asked for holds until the last block
    ends, which restores the count from before the first."""
    import numpy  # noqa: F401  (OpenBLAS is loaded with numpy)

    functions = _openblas_functions()
    if functions is None:
        yield
        return
    setter, getter = functions
    with _requests_lock:
        if not _requests:
            _outside[:] = [int(getter())]
        _requests.append(n)
        setter(min(_requests))
    try:
        yield
    finally:
        with _requests_lock:
            _requests.remove(n)
            setter(min(_requests) if _requests else _outside[0])
