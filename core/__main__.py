"""Command line of the core (no Blender needed).

python -m core template --out template.npz
python -m core animate speech.wav --out speech.npz [--fps 30] [--seed 0] [--temperature 1]
                       [--lips-only] [--template face.npz] [--format npz|pc2]
python -m core animate a.wav b.wav c.wav --out-dir out/   # batch, on both cores

--format pc2 streams: vertices go from the network to the file chunk by chunk, so memory
stays bounded for any length (a 10-minute clip: ~0.3 GB). --format npz holds every frame's
vertices in memory (10 minutes at 30 fps: 1.1 GB, twice that at 60 fps; writing the
compressed file currently needs about four times that): use pc2 for long clips.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .audio import AudioError
from .cli import run_cli
from .npzio import save_npz
from .runtime import WeightsError
from .template import load_template


def _template(args: argparse.Namespace) -> None:
    template = load_template()
    save_npz(args.out, template.to_arrays())
    print(
        f"wrote {args.out}: {template.n_vertices} vertices, {len(template.faces)} faces, "
        f"{len(template.arkit_names)} ARKit units, regions: {', '.join(template.regions)}"
    )


def _animate(args: argparse.Namespace) -> None:
    from .animate import Options, animate_file, animate_many, animate_pc2, write
    from .runtime import Animator

    options = Options(
        weights=args.weights,
        fps=args.fps,
        seed=args.seed,
        temperature=args.temperature,
        lips_only=args.lips_only,
        template=args.template,
        format=args.format,
    )
    if not args.weights.is_file():
        raise FileNotFoundError(f"no network weights at {args.weights} (see README: training)")
    if len(args.audio) == 1 and args.out_dir is None:
        out = args.out or args.audio[0].with_suffix(f".{args.format}")
        if args.format == "pc2":  # streamed to the file: bounded memory
            n = animate_pc2(args.audio[0], out, Animator(args.weights), options)
            print(f"wrote {out}: {n} frames at {options.fps} fps")
            return
        anim = animate_file(args.audio[0], Animator(args.weights), options)
        print(
            f"wrote {write(anim, out, args.format)}: {len(anim.vertices)} frames at {anim.fps} fps"
        )
        return
    if args.out is not None:
        raise ValueError("several inputs: use --out-dir, not --out")
    out_dir = args.out_dir or Path(".")
    jobs = [(a, out_dir / f"{a.stem}.{args.format}") for a in args.audio]
    outs = [o for _, o in jobs]
    clash = sorted({str(o) for o in outs if outs.count(o) > 1})
    if clash:
        raise ValueError(f"several inputs would write {', '.join(clash)}: rename them")
    for path in animate_many(jobs, options, workers=min(len(jobs), os.cpu_count() or 1)):
        print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    from .animate import FPS_CHOICES, WEIGHTS_PATH

    parser = argparse.ArgumentParser(
        prog="python -m core", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("template", help="write the template head as an .npz file")
    cmd.add_argument("--out", type=Path, required=True, help="output .npz path")
    cmd.set_defaults(run=_template)

    cmd = sub.add_parser("animate", help="animate the face from speech audio")
    cmd.add_argument("audio", type=Path, nargs="+", help="WAV (or FLAC/OGG/MP3) files")
    cmd.add_argument("--out", type=Path, help="output file (one input)")
    cmd.add_argument("--out-dir", type=Path, help="output folder (several inputs)")
    cmd.add_argument("--fps", type=float, default=30.0, choices=FPS_CHOICES)
    cmd.add_argument("--seed", type=int, default=0, help="upper-face sample")
    cmd.add_argument("--temperature", type=float, default=1.0, help="upper-face expressiveness")
    cmd.add_argument("--lips-only", action="store_true", help="keep the upper face at rest")
    cmd.add_argument("--template", type=Path, help="neutral face .npz (template topology)")
    cmd.add_argument(
        "--format",
        choices=("npz", "pc2"),
        default="npz",
        help="npz: vertices + ARKit weights, built in memory (1.1 GB per 10 min at 30 fps); "
        "pc2: vertices only, streamed to the file (bounded memory, for long clips)",
    )
    cmd.add_argument("--weights", type=Path, default=WEIGHTS_PATH, help=argparse.SUPPRESS)
    cmd.set_defaults(run=_animate)
    return run_cli(parser, argv, errors=(AudioError, WeightsError))


if __name__ == "__main__":
    sys.exit(main())
