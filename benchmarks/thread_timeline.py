"""Which thread uses the CPU when, for one `animate_file` run: where a speed target is lost.

    .venv/bin/python benchmarks/thread_timeline.py speech.wav out.npz [--weights FILE]

A sampling thread reads every thread's CPU time from /proc (Linux) every 5 ms; the table
prints, per thread, its CPU seconds and one digit per 100 ms: tenths of a core busy in
that interval (X: all of it). The sampler itself costs ~0.1 s of CPU over a 2-s run. The
output file is removed first, so the run writes a new one (as benchmarks/bench_formats.py
does).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

START = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import core  # noqa: E402, F401 - picks OpenBLAS's kernels before numpy loads, as the CLI does
from core.runtime.session import animate_file  # noqa: E402
from core.runtime.settings import Settings  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def thread_ticks() -> dict[int, int]:
    """CPU time (user + system, in clock ticks) of every thread of this process."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        out[int(tid)] = int(fields[11]) + int(fields[12])
    return out


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True, name="sampler")
        self.samples: list[tuple[float, dict[int, int]]] = []
        self.names: dict[int, str] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            for thread in threading.enumerate():
                if thread.native_id is not None:
                    self.names[thread.native_id] = thread.name
            self.samples.append((time.perf_counter() - START, thread_ticks()))
            time.sleep(0.005)

    def table(self, end: float) -> str:
        bins: dict[int, dict[int, int]] = {}
        for (t0, before), (_, after) in zip(self.samples, self.samples[1:], strict=False):
            for tid, ticks in after.items():
                row = bins.setdefault(tid, {})
                row[int(t0 * 10)] = row.get(int(t0 * 10), 0) + ticks - before.get(tid, ticks)
        n = int(end * 10) + 1
        ruler = "".join(f"{b / 10:<5.1f}" for b in range(0, n, 5))
        lines = [f"{'thread':<18} {'cpu s':>6}  {ruler}"]
        for tid, row in bins.items():
            total = sum(row.values()) / TICK
            if total >= 0.02:
                tenths = (min(10, row.get(b, 0) * 100 // TICK) for b in range(n))
                digits = "".join("0123456789X"[t] for t in tenths)
                lines.append(f"{self.names.get(tid, str(tid))[:18]:<18} {total:>6.2f}  {digits}")
        return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--weights", type=Path)
    args = parser.parse_args()
    args.out.unlink(missing_ok=True)
    sampler = Sampler()
    sampler.start()
    imported = time.perf_counter() - START
    animate_file(args.audio, args.out, Settings(fps=30.0, weights=args.weights))
    end = time.perf_counter() - START
    sampler.stopped.set()
    sampler.join()
    print(f"imports done at {imported:.2f} s, file written at {end:.2f} s; one digit per 100 ms")
    print(sampler.table(end))
    return 0


if __name__ == "__main__":
    sys.exit(main())
