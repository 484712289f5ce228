"""A/B of two checkouts on one clip: median process wall-clock of audio file → .npz.

    .venv/bin/python benchmarks/ab_checkouts.py speech.wav CHECKOUT_A CHECKOUT_B [--runs N]

Runs alternate (A, B, A, B, ...) in fresh processes, each writing a new file, so a drift
of the machine's speed hits both alike; a single run's wall-clock wanders by ±5 % here,
which hides changes of a few percent (docs/RESULTS.md, File formats). Compile both
checkouts' bytecode first (`python -m compileall -q core`): with PYTHONDONTWRITEBYTECODE
set, stale .pyc files are recompiled on every start.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import bench_formats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio", type=Path)
    parser.add_argument("checkouts", type=Path, nargs=2)
    parser.add_argument("--runs", type=int, default=11, help="runs of each checkout")
    args = parser.parse_args()
    walls: dict[Path, list[float]] = {c: [] for c in args.checkouts}
    with tempfile.TemporaryDirectory(prefix="meshtalk-ab-") as work:
        out = Path(work) / "clip.npz"
        for _ in range(args.runs):
            for checkout in args.checkouts:
                bench_formats.ROOT = checkout.resolve()  # the child imports core from here
                out.unlink(missing_ok=True)
                walls[checkout].append(bench_formats.run(args.audio, str(out))["process_wall"])
    for checkout, times in walls.items():
        median = statistics.median(times)
        print(f"{checkout}: median {median:.3f} s, fastest {min(times):.3f} s ({len(times)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
