"""Does a network's output jitter? The evaluation's table for its lips as they are and
blurred in time (a Gaussian of sigma frames over each vertex's offset from the neutral face):
if a blur lowers LVE, the output moves where the truth does not.

    python scripts/temporal_blur.py core/assets/meshtalk.npz \
        --corpus /work/data/corpus_styles --limit 150
"""

from __future__ import annotations

import sys
from pathlib import Path

from scipy.ndimage import gaussian_filter1d

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from network_args import network_parser  # noqa: E402

from core.eval.__main__ import evaluate, markdown  # noqa: E402
from core.eval.methods import meshtalk  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = network_parser(__doc__)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.7, 1.0, 1.5, 2.0])
    args = parser.parse_args(argv)
    network = meshtalk(args.weights, temperature=args.temperature)
    last: dict = {}

    def as_is(audio, n, face):  # each sequence runs once; the blurs reuse its output
        if last.get("audio") is not audio:
            last.update(audio=audio, verts=network(audio, n, face))
        return last["verts"]

    def blurred(sigma: float):
        def method(audio, n, face):
            offsets = as_is(audio, n, face) - face.rest
            return face.rest + gaussian_filter1d(offsets, sigma, axis=0, mode="nearest")

        return method

    methods = {"as is": as_is, **{f"blur sigma {s}": blurred(s) for s in args.sigmas}}
    print(markdown(evaluate(args.corpus, methods, args.split, args.limit)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
