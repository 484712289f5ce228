"""What the speaking style alone costs in LVE: the test sequences' true phones through the
articulation model with another style than the one that made their faces, per voice (mm).

- `default`: `SpeakerStyle()`, no resting smile and no jaw habit;
- `mean`: `SpeakerStyle.mean()`, the average of the corpus's draws (the phone baseline's);
- `voice`: the sequence's voice's style (what a corpus with per-voice styles gives it).

    python scripts/style_cost.py --corpus /work/data/corpus_styles --split test --limit 150
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.articulation import SpeakerStyle, articulate  # noqa: E402
from core.data.corpus import CorpusConfig, load_manifest, load_split, voice_seed  # noqa: E402
from core.data.faces import sequence_vertices  # noqa: E402
from core.data.identities import identity_unit_deltas, identity_vertices  # noqa: E402
from core.data.make import frame_rms  # noqa: E402
from core.data.mouth import calibrate  # noqa: E402
from core.metrics import lip_vertex_errors  # noqa: E402
from core.template import apply_units, load_template  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--limit", type=int, default=150)
    args = parser.parse_args(argv)
    config = CorpusConfig.from_json(load_manifest(args.corpus)["config"])
    lips = load_template().region("lips")
    errors = defaultdict(list)
    for seq in load_split(args.corpus, args.split)[: args.limit]:
        deltas, rest = identity_unit_deltas(seq.identity), identity_vertices(seq.identity)
        truth = sequence_vertices(seq, deltas)
        n, fps, sr = len(truth), config.fps, config.sample_rate
        rms = frame_rms(seq.audio.astype(np.float32) / 32768.0, sr, fps, n)
        calibration = calibrate(rest, deltas)  # the face's, whatever the style
        styles = {
            "default": SpeakerStyle(),
            "mean": SpeakerStyle.mean(),
            "voice": SpeakerStyle.sample(voice_seed(seq.job.voice, config)),
        }
        for name, style in styles.items():
            weights = articulate(
                seq.phones, fps, style, rms=rms, n_frames=n, calibration=calibration
            )
            pred = apply_units(rest, deltas, weights.astype(np.float16).astype(np.float32))
            errors[seq.job.voice, name].extend(lip_vertex_errors(pred, truth, lips))
    voices = sorted({v for v, _ in errors})
    print("| style | " + " | ".join(voices) + " |\n" + "|---" * (len(voices) + 1) + "|")
    for name in ("default", "mean", "voice"):
        cells = [f"{1000 * np.mean(errors[v, name]):.2f}" for v in voices]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
