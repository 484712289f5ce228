"""OpenBLAS kernel selection: only kernels the CPU supports, never over the user's choice;
thread counts asked for by overlapping blocks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.runtime.blas import kernel_for, select_openblas_kernels

ROOT = Path(__file__).resolve().parents[2]


def test_kernels_follow_the_instruction_sets():
    assert kernel_for({"avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"}) == "SkylakeX"
    assert kernel_for({"avx2", "fma", "avx512f"}) == "Haswell"  # partial AVX-512: not SkylakeX
    assert kernel_for({"sse4_2", "avx"}) is None


def test_not_after_numpy_and_not_over_the_user(tmp_path):
    assert "numpy" in sys.modules and select_openblas_kernels() is None  # too late: no effect
    code = "import os, core, numpy; print(os.environ.get('OPENBLAS_CORETYPE'))"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    fresh = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    flags = (
        next(
            line
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
        )
        .split(":", 1)[1]
        .split()
    )
    assert fresh == str(kernel_for(set(flags)))
    mine = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=env | {"OPENBLAS_CORETYPE": "Prescott"},
    ).stdout
    assert mine.strip() == "Prescott"


def test_thread_requests_overlap_across_threads_and_restore():
    """blas_threads is process-wide: nested and overlapping blocks in several threads keep
    the smallest count until the last ends, then the count from before comes back."""
    import threading

    from core.runtime.blas import _openblas_functions, blas_threads

    functions = _openblas_functions()
    if functions is None:
        pytest.skip("no OpenBLAS")
    setter, getter = functions
    before = int(getter())
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with blas_threads(1):
            entered.set()
            release.wait(10)

    worker = threading.Thread(target=other)
    with blas_threads(2):
        worker.start()
        entered.wait(10)
        assert int(getter()) == 1
    assert int(getter()) == 1  # the other thread's block is still running
    release.set()
    worker.join()
    assert int(getter()) == before
