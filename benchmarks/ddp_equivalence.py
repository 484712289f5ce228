"""Show that `torchrun --nproc_per_node 2` trains along the same loss trajectory as one
process with the same global batch (gloo on CPU), on the real config and corpus.

    python benchmarks/ddp_equivalence.py --corpus /work/data/corpus --steps 20

Prints the stage-1 losses of both runs step by step, their largest relative difference, and
the wall time of each (on 2 cores, 2 processes of 1 thread vs 1 process of 2 threads).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("mouth", "upper", "eyelid", "total")


def logging_config(config: Path, corpus: Path, run_dir: Path, steps: int) -> Path:
    """The config with its [train] table set to log every step and stop after `steps`.
    (Paths go in the file: torchrun would take a `--run` after the module for its own.)"""
    with open(config, "rb") as f:
        data = tomllib.load(f)
    data["train"] |= {"log_every": 1, "checkpoint_every": steps, "stage1_iterations": steps,
                      "corpus": str(corpus), "run": str(run_dir)}  # fmt: skip
    out = run_dir.with_suffix(".toml")
    lines = []
    for table, values in data.items():
        lines += [f"[{table}]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    out.write_text("\n".join(lines) + "\n")
    return out


def run(n: int, config: Path, corpus: Path, steps: int, out: Path) -> tuple[list[dict], float]:
    torchrun = Path(sys.executable).with_name("torchrun")
    config = logging_config(config, corpus, out, steps)
    cmd = [
        str(torchrun), f"--nproc_per_node={n}", f"--master_port={29700 + n}",
        "-m", "core.train", "stage1", "--config", str(config), "--threads", "2",
    ]  # fmt: skip
    t0 = time.time()
    env = {**os.environ, "OMP_NUM_THREADS": str(2 // n)}
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return log, time.time() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "meshtalk.toml")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (one, t1), (two, t2) = (
            run(n, args.config, args.corpus, args.steps, Path(tmp) / f"p{n}") for n in (1, 2)
        )
    print("| step | " + " | ".join(f"{k} (1 proc) | {k} (2 procs)" for k in KEYS) + " |")
    print("|---" * (1 + 2 * len(KEYS)) + "|")
    worst = 0.0
    for a, b in zip(one, two, strict=True):
        cells = [f"{a[k]:.5f} | {b[k]:.5f}" for k in KEYS]
        worst = max([worst] + [abs(a[k] - b[k]) / max(abs(a[k]), 1e-12) for k in KEYS])
        print(f"| {a['step']} | " + " | ".join(cells) + " |")
    print(f"\nlargest relative difference: {worst:.2e}")
    print(f"wall time: 1 process {t1:.0f} s, 2 processes {t2:.0f} s (incl. start-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
