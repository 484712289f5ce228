"""The LVE a run's fixed output basis cannot go under: each test sequence's true offsets,
projected onto the decoder's basis (least squares in its normalised units), against the truth;
mm, by what the frame is saying.

    python scripts/basis_floor.py /work/data/runs/centred_upper20/stage1.pt \
        --corpus /work/data/corpus_styles --limit 40
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from voice_diagnosis import offsets_of, run_and_sequences, trained  # noqa: E402

from core.eval.scores import FRAME_CLASSES, frame_classes  # noqa: E402
from core.metrics import lip_vertex_errors  # noqa: E402
from core.template import load_template  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    checkpoint, seqs = run_and_sequences(__doc__, argv)
    decoder = trained(checkpoint)[0].decoder
    basis = decoder.basis.double().numpy()  # (K, V*3)
    mean = decoder.out_mean.double().numpy().reshape(-1)
    std = decoder.out_std.double().numpy().reshape(-1)
    lips = load_template().region("lips")
    errors = defaultdict(list)
    for seq in seqs:
        truth = offsets_of(seq).astype(np.float64)
        z = (truth.reshape(len(truth), -1) - mean) / std
        coeffs = np.linalg.lstsq(basis.T, z.T, rcond=None)[0].T
        projected = ((coeffs @ basis) * std + mean).reshape(truth.shape)
        err = lip_vertex_errors(projected, truth, lips) * 1000
        classes = frame_classes(seq.phones, len(truth), 30.0)
        errors["all"].extend(err)
        for code, name in enumerate(FRAME_CLASSES):
            errors[name].extend(err[classes == code])
    print("| frames | count | LVE of the projected truth (mm) |\n|---|---|---|")
    for name, err in errors.items():
        print(f"| {name} | {len(err)} | {np.mean(err):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
