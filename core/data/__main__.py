"""`python -m core.data build|show|voices`: make the training corpus and look at it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..runtime.cli import run_cli
from .corpus import OWNERS, CorpusConfig


def _build(args: argparse.Namespace) -> None:
    from .build import build_corpus

    held_out = {"voices": tuple(args.voices)} if args.voices else {}
    if args.val_voices is not None:
        held_out["val_voices"] = tuple(args.val_voices)
    if args.test_voices is not None:
        held_out["test_voices"] = tuple(args.test_voices)
    config = CorpusConfig(
        seed=args.seed,
        habits=args.habits,
        styles=args.styles,
        pause_probability=args.pauses,
        **held_out,
    )
    manifest = build_corpus(args.out, args.hours, config, workers=args.workers)
    print(f"{args.out}: {manifest['hours']:.2f} h in {len(manifest['shards'])} shards")


def _show(args: argparse.Namespace) -> None:
    from .viewer import show

    for path in show(args.corpus, args.split, args.index, args.out, frames=args.frames):
        print(f"wrote {path}")


def _voices(_: argparse.Namespace) -> None:
    from .voices import list_voices

    for voice in list_voices(languages=None, extras=True):
        print(voice.id, voice.language)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build (or resume) the corpus")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--hours", type=float, default=4.0)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    b.add_argument("--voices", nargs="*", help="voice ids (default: every English voice)")
    b.add_argument("--val-voices", nargs="*", help="held out for validation (none: give no ids)")
    b.add_argument("--test-voices", nargs="*")
    for trait, what in (("habits", "upper-face habits"), ("styles", "speaking styles")):
        b.add_argument(
            f"--{trait}",
            choices=OWNERS,
            default=OWNERS[0],
            help=f"{what} drawn per sequence (default) or per voice (older corpora)",
        )
    b.add_argument(
        "--pauses",
        type=float,
        default=CorpusConfig.pause_probability,
        help="share of sequences with a long pause inside (0 for corpora built before pauses)",
    )
    b.set_defaults(run=_build)
    s = sub.add_parser("show", help="contact sheet of one sequence: face, waveform, phones")
    s.add_argument("corpus", type=Path)
    s.add_argument("--split", default="train", choices=("train", "val", "test"))
    s.add_argument("--index", type=int, default=0, help="n-th sequence of that split")
    s.add_argument("--frames", type=int, default=12, help="frames on the sheet")
    s.add_argument("--out", type=Path, default=Path("out/show"))
    s.set_defaults(run=_show)
    v = sub.add_parser("voices", help="list the voices available on this machine")
    v.set_defaults(run=_voices)
    return run_cli(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
