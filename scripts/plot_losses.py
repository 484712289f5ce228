"""Plot the loss curves of training runs (their log.jsonl) into one PNG for docs/.

    python scripts/plot_losses.py /work/data/runs/default /work/data/runs/l2 \
        /work/data/runs/lips --out docs/loss_curves.png

One row per run, one plot per stage it ran (1, 2, and 3 = refine); training losses are thin
lines (smoothed over a few logs), validation losses thick lines with dots.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

NOT_LOSSES = {"stage", "step", "lr", "grad", "sec"}


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line]


def series(records: list[dict], stage: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{loss name: (steps, values)} for one stage."""
    out: dict[str, tuple[list, list]] = {}
    for r in records:
        if r.get("stage") != stage:
            continue
        for key, value in r.items():
            if key not in NOT_LOSSES and isinstance(value, (int, float)):
                steps, values = out.setdefault(key, ([], []))
                steps.append(r["step"])
                values.append(value)
    return {k: (np.array(s), np.array(v)) for k, (s, v) in out.items()}


def smooth(values: np.ndarray, n: int = 5) -> np.ndarray:
    if len(values) < n:
        return values
    padded = np.pad(values, (n // 2, n - 1 - n // 2), mode="edge")
    return np.convolve(padded, np.ones(n) / n, "valid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/loss_curves.png"))
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = [read_log(run) for run in args.runs]
    columns = max(len({r["stage"] for r in records}) for records in logs)
    fig, axes = plt.subplots(
        len(args.runs), columns, figsize=(5.5 * columns, 3.6 * len(args.runs)), squeeze=False
    )
    for row, run, records in zip(axes, args.runs, logs, strict=True):
        stages = sorted({r["stage"] for r in records})
        for ax in row[len(stages) :]:
            ax.axis("off")
        for stage, ax in zip(stages, row, strict=False):
            curves = series(records, stage)
            bases = sorted({name.removeprefix("val_") for name in curves})
            for name, (steps, values) in sorted(curves.items()):
                color = f"C{bases.index(name.removeprefix('val_')) % 10}"  # a loss and its val_
                if name.startswith("val_"):
                    ax.plot(steps, values, "o-", color=color, lw=2, ms=3, label=name)
                else:
                    ax.plot(steps, smooth(values), "-", color=color, lw=0.8, alpha=0.7, label=name)
            ax.set_yscale("log")
            ax.set_xlabel("step")
            ax.set_title(f"{run.name}: stage {stage}")
            ax.grid(alpha=0.3)
            if curves:
                ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
