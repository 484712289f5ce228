"""Which P/B/M does a network fail to close, and by how much? Per held-out voice: its P/B/M
phones, how many the predicted lips seal (midline gap under the score's CLOSED_MM at some
frame inside the phone), and of the misses how far the lips stay open and how many seal
within SLACK frames of the phone (a timing slip rather than a missed seal).

    python scripts/closure_misses.py core/assets/meshtalk.npz \
        --corpus /work/data/corpus_styles --limit 120 --temperature 1.57
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from network_args import network_parser  # noqa: E402

from core.data.corpus import load_split  # noqa: E402
from core.data.phones import BILABIALS, phone_spans  # noqa: E402
from core.eval.methods import corpus_case, meshtalk  # noqa: E402
from core.eval.scores import CLOSED_MM  # noqa: E402
from core.metrics import lip_gap  # noqa: E402
from core.template import load_template  # noqa: E402

SLACK = 3  # frames either side of a phone
BINS_MM = (CLOSED_MM, 1.5, 2.0, 3.0, 5.0, np.inf)  # how far a missed seal stays open


def main(argv: list[str] | None = None) -> int:
    parser = network_parser(__doc__)
    args = parser.parse_args(argv)
    network = meshtalk(args.weights, temperature=args.temperature)
    template = load_template()
    phones = defaultdict(list)  # voice -> (smallest gap in the phone, ... within SLACK), mm
    for seq in load_split(args.corpus, args.split)[: args.limit]:
        audio, face, truth = corpus_case(seq)
        pred = network(audio, len(truth), face)
        gap = 1000 * lip_gap(pred, template)
        for frames in phone_spans(seq.phones, BILABIALS, len(truth), 30.0):
            near = gap[max(0, frames.min() - SLACK) : frames.max() + 1 + SLACK]
            phones[seq.job.voice].append((gap[frames].min(), near.min()))
    if not phones:
        print("no P/B/M in these sequences", file=sys.stderr)
        return 1
    bins = [f"{lo:g}-{hi:g} mm" for lo, hi in zip(BINS_MM, BINS_MM[1:], strict=False)]
    head = ["voice", "P/B/M", "closed", "missed", f"sealed within {SLACK} frames", *bins]
    print("| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
    every = [row for rows in phones.values() for row in rows]
    for voice, rows in [*sorted(phones.items()), ("all", every)]:
        inside, near = np.array(rows).T
        missed = inside >= CLOSED_MM
        counts = np.histogram(inside[missed], bins=BINS_MM)[0]
        sealed_near = int((near[missed] < CLOSED_MM).sum())
        cells = [len(rows), int((~missed).sum()), int(missed.sum()), sealed_near, *counts]
        print(f"| {voice} | " + " | ".join(str(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
