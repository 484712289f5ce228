"""Does a run lean its lips towards a seal? Per class of frame (silence, inside a P/B/M, open
vowel, other speech): LVE, the mean midline lip gap of the truth and of the prediction (the
prior's argmax codes), and their correlation, for each run given.

    python scripts/lip_gap_bias.py /work/data/runs/edges/stage1.pt \
        /work/data/runs/bilabials/stage1.pt --corpus /work/data/corpus_styles --limit 40
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from voice_diagnosis import decodings, offsets_of, trained  # noqa: E402

from core.data.corpus import load_split  # noqa: E402
from core.data.identities import identity_vertices  # noqa: E402
from core.eval.scores import FRAME_CLASSES, frame_classes  # noqa: E402
from core.metrics import lip_gap, lip_vertex_errors  # noqa: E402
from core.template import load_template  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", type=Path, nargs="+", help="runs' stage1.pt files")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    template = load_template()
    lips = template.region("lips")
    runs = {path.parent.name: trained(path) for path in args.checkpoints}
    rows = defaultdict(lambda: ([], [], []))  # (run, class) -> LVE, true gap, predicted gap
    for seq in load_split(args.corpus, args.split)[: args.limit]:
        truth = offsets_of(seq) + identity_vertices(seq.identity)
        classes = frame_classes(seq.phones, len(truth), 30.0)
        gap = 1000 * lip_gap(truth, template)
        for run, (model, prior) in runs.items():
            pred = decodings(model, prior, seq, {})["prior"]
            cells = (
                1000 * lip_vertex_errors(pred, truth, lips),
                gap,
                1000 * lip_gap(pred, template),
            )
            for code in range(len(FRAME_CLASSES)):
                for column, values in zip(rows[run, code], cells, strict=True):
                    column.extend(values[classes == code])
    print("| run | frames | LVE (mm) | true gap (mm) | predicted gap (mm) | correlation |")
    print("|---|---|---|---|---|---|")
    for (run, code), (lve, true, pred) in rows.items():
        r = np.corrcoef(true, pred)[0, 1]
        cells = f"{np.mean(lve):.2f} | {np.mean(true):.2f} | {np.mean(pred):.2f} | {r:.2f}"
        print(f"| {run} | {FRAME_CLASSES[code]} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
