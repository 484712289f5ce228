"""Where a run's lip error comes from, beyond hearing the wrong phone:

- motion: the lip vertices' frame-to-frame motion, its mean squared error against the
  truth's (mm², what `velocity_weight` trains), the mean speed of both (mm a frame), and
  LVE, for the lips decoded from the fusion's codes (true audio, another sequence's
  expression) and from the prior's argmax codes (the runtime, unsampled);
- basis: the LVE the decoder's fixed output basis cannot go under, each sequence's true
  offsets projected onto it (least squares in its normalised units), by frame class.

    python scripts/lip_error_sources.py /work/data/runs/velocity16/stage1.pt \
        --corpus /work/data/corpus_styles --limit 30
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from voice_diagnosis import decodings, run_setup, with_next_offsets  # noqa: E402

from core.data.identities import identity_vertices  # noqa: E402
from core.eval.scores import FRAME_CLASSES, frame_classes  # noqa: E402
from core.metrics import lip_vertex_errors  # noqa: E402


def motion_row(pred: np.ndarray, truth: np.ndarray, lips: np.ndarray) -> tuple[float, ...]:
    """(motion error mm², speed, true speed, LVE) of one decoded sequence."""
    motion, true_motion = (np.diff(v[:, lips], axis=0) * 1000 for v in (pred, truth))
    return (
        ((motion - true_motion) ** 2).sum(axis=-1).mean(),
        np.linalg.norm(motion, axis=-1).mean(),
        np.linalg.norm(true_motion, axis=-1).mean(),
        lip_vertex_errors(pred, truth, lips).mean() * 1000,
    )


def projected(decoder, offsets: np.ndarray) -> np.ndarray:
    """offsets (T, V, 3) as close as the decoder's output basis can make them."""
    basis = decoder.basis.double().numpy()  # (K, V*3)
    mean = decoder.out_mean.double().numpy().reshape(-1)
    std = decoder.out_std.double().numpy().reshape(-1)
    z = (offsets.reshape(len(offsets), -1) - mean) / std
    coeffs = np.linalg.lstsq(basis.T, z.T, rcond=None)[0].T
    return ((coeffs @ basis) * std + mean).reshape(offsets.shape)


def main(argv: list[str] | None = None) -> int:
    model, prior, seqs, lips = run_setup(__doc__, argv)
    motion, floor = defaultdict(list), defaultdict(list)
    for seq, own, next_offsets in with_next_offsets(seqs):
        offsets = own.astype(np.float64)
        truth = offsets + identity_vertices(seq.identity)
        other = {"stage 1, other": next_offsets}
        for name, pred in decodings(model, prior, seq, other).items():
            motion[name].append(motion_row(pred, truth, lips))
        err = lip_vertex_errors(projected(model.decoder, offsets), offsets, lips) * 1000
        classes = frame_classes(seq.phones, len(offsets), 30.0)
        floor["all"].extend(err)
        for code, name in enumerate(FRAME_CLASSES):
            floor[name].extend(err[classes == code])
    print("| codes | motion error (mm²) | speed | true speed | LVE |\n|---|---|---|---|---|")
    for name, rows in motion.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in np.mean(rows, axis=0)) + " |")
    print("\n| frames | count | LVE of the truth projected onto the basis (mm) |\n|---|---|---|")
    for name, err in floor.items():
        print(f"| {name} | {len(err)} | {np.mean(err):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
