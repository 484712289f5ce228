"""Is a method late or early, or does it miss? Per held-out voice: the correlation of its
midline lip gap with the truth's at lag 0 and at the best lag within +-5 frames, and the
spread of both (mm).

    python scripts/lip_gap_lag.py --corpus /work/data/corpus_styles --per-voice 15 \
        [--weights core/assets/meshtalk.npz | --phones]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.corpus import load_split  # noqa: E402
from core.eval.methods import corpus_case, meshtalk, phone_baseline  # noqa: E402
from core.metrics import lip_gap  # noqa: E402
from core.template import load_template  # noqa: E402

LAGS = range(-5, 6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--per-voice", type=int, default=15)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--weights", type=Path)
    which.add_argument("--phones", action="store_true", help="the phone-recognition baseline")
    args = parser.parse_args(argv)
    method = phone_baseline if args.phones else meshtalk(args.weights)
    template = load_template()
    by_voice = defaultdict(list)
    for seq in load_split(args.corpus, args.split):
        by_voice[seq.job.voice].append(seq)
    print("| voice | corr at 0 | best lag (frames) | corr there | spread pred / truth (mm) |")
    print("|---|---|---|---|---|")
    for voice, seqs in by_voice.items():
        pred, truth = [], []
        for seq in seqs[: args.per_voice]:  # gaps centred per sequence, padded so rolls stay apart
            audio, face, true = corpus_case(seq)
            out = method(audio, len(true), face)
            for gaps, verts in ((pred, out), (truth, true)):
                gap = lip_gap(verts, template) * 1000
                gaps.append(np.pad(gap - gap.mean(), max(LAGS)))
        p, t = np.concatenate(pred), np.concatenate(truth)
        corr = {lag: np.corrcoef(np.roll(p, lag), t)[0, 1] for lag in LAGS}
        best = max(corr, key=corr.get)
        print(
            f"| {voice} | {corr[0]:.3f} | {best:+d} | {corr[best]:.3f} | "
            f"{p.std():.2f} / {t.std():.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
