"""Where a trained run's lips sit in silence: LVE (mm) in silent and in speaking frames of the
lips decoded from each way of choosing the codes, and the largest mean error of one lip vertex
over the silent frames (a bias the same in every sequence, not noise).

- `stage 1, own`: the fusion's codes from the true audio and the sequence's own expression;
- `stage 1, other`: ... and another sequence's expression (as the cross-modal loss trains);
- `prior`: the prior's argmax codes from the audio alone (the runtime, unsampled).

    python scripts/silence_diagnosis.py /work/data/runs/styles/stage1.pt \
        --corpus /work/data/corpus_styles --split test --limit 40
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


def main(argv: list[str] | None = None) -> int:
    model, prior, seqs, lips = run_setup(__doc__, argv)
    silence = FRAME_CLASSES.index("silence")
    errors, bias = defaultdict(lambda: ([], [])), defaultdict(list)
    for seq, own, other in with_next_offsets(seqs):
        truth = own + identity_vertices(seq.identity)
        quiet = frame_classes(seq.phones, len(truth), 30.0) == silence
        expressions = {"stage 1, own": own, "stage 1, other": other}
        for name, pred in decodings(model, prior, seq, expressions).items():
            diff = (pred[:, lips] - truth[:, lips]) * 1000
            err = np.linalg.norm(diff, axis=-1).max(axis=1)
            errors[name][0].extend(err[quiet])
            errors[name][1].extend(err[~quiet])
            if quiet.any():
                bias[name].append(diff[quiet].mean(axis=0))
    print("| codes | LVE in silence | LVE in speech | largest mean error in silence |")
    print("|---|---|---|---|")
    for name, (quiet, loud) in errors.items():
        mean = np.mean(bias[name], axis=0)
        j = int(np.linalg.norm(mean, axis=-1).argmax())
        xyz = np.round(mean[j], 1)
        where = f"{np.linalg.norm(mean[j]):.2f} mm at vertex {lips[j]} (x y z {xyz})"
        print(f"| {name} | {np.mean(quiet):.2f} | {np.mean(loud):.2f} | {where} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
