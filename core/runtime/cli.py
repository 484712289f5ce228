"""The command line: `meshtalk …` (pip) or `python -m core …` (the checkout).

    meshtalk template --out template.npz
    meshtalk animate speech.wav --out speech.npz [--fps 30] [--seed 0] [--temperature 1]
                     [--lips-only] [--template face.npz] [--weights net.npz] [--compress]
    meshtalk animate a.wav b.wav c.wav --out-dir out/ --format pc2   # batch, on both cores

The output format follows the suffix: .npz (vertices + ARKit weights), .pc2 (a point cache for
Blender's Mesh Cache modifier), .csv (Live Link Face, for Unreal/MetaHuman), .json (ARKit
curves for web players), .glb (the head with its 52 ARKit morph targets and the clip's weight
animation). Every format is streamed: memory stays bounded for any length.
Bad input exits with status 1 and one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

INPUT_ERRORS = (OSError, ValueError, KeyError, RuntimeError)


class FileError(OSError):
    """An OSError reworded as one line that names the file and the cause
    (`cannot write out/x.npz: No space left on device`)."""


def _reason(exc: BaseException) -> str:
    """What went wrong, in words, never empty: an OSError's strerror without the errno,
    else the message, else (an exception raised without a message) its type."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc).strip() or type(exc).__name__


def _file_error(exc: OSError, out: Path, inputs: tuple[Path | None, ...]) -> FileError:
    """An OSError met while animating into `out`: about an input if its filename is one of
    `inputs` (`cannot read …`), else about writing the output, named as the user gave it
    (a full disk raises from a write call, with no filename at all)."""
    if isinstance(exc, FileError):
        return exc
    name = exc.filename
    if name is not None and any(p is not None and _same(name, p) for p in inputs):
        return FileError(f"cannot read {name}: {_reason(exc)}")
    if isinstance(exc, FileExistsError) and name is not None and not os.path.isdir(name):
        return FileError(f"cannot write {out}: {os.fsdecode(name)} is a file, not a folder")
    where = f" ({name})" if name is not None and not _is_output(name, out) else ""
    return FileError(f"cannot write {out}: {_reason(exc)}{where}")


def _same(name: str | bytes | int, path: Path) -> bool:
    try:
        return Path(os.fsdecode(name)).resolve() == path.resolve()
    except (TypeError, ValueError, OSError):
        return False


def _is_output(name: str | bytes | int, out: Path) -> bool:
    """`out` itself or the temporary file the writers rename to it when complete."""
    return _same(name, out) or _same(name, out.with_name(out.name + ".tmp"))


def run_cli(
    parser: argparse.ArgumentParser, argv: list[str] | None = None, errors: tuple = ()
) -> int:
    """Parse `argv` and call the chosen sub-command's `run(args)` (set with set_defaults):
    a one-line reason on stderr and exit status 1 for the errors bad input causes, never a
    traceback; `errors`: more exception types that mean bad input."""
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (*INPUT_ERRORS, *errors) as exc:
        print(f"error: {_message(exc)}", file=sys.stderr)
        return 1


def _message(exc: BaseException) -> str:
    """The one line for an error: an OSError as `file: cause` (no errno), anything else as
    its message, or its type when it has none (never 'cannot decode audio: ')."""
    if isinstance(exc, OSError) and not isinstance(exc, FileError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename is not None else exc.strerror
    return _reason(exc)


def _template(args: argparse.Namespace) -> None:
    from .npzio import save_npz
    from .template import load_template

    template = load_template()
    try:
        save_npz(args.out, template.to_arrays())
    except OSError as exc:
        raise _file_error(exc, args.out, ()) from None
    print(
        f"wrote {args.out}: {template.n_vertices} vertices, {len(template.faces)} faces, "
        f"{len(template.arkit_names)} ARKit units, regions: {', '.join(template.regions)}"
    )


def _animate(args: argparse.Namespace) -> None:
    from .outputs.files import format_of
    from .session import animate_file, animate_files
    from .settings import Settings

    settings = Settings(
        fps=args.fps,
        seed=args.seed,
        temperature=args.temperature,
        lips_only=args.lips_only,
        mouth_strength=args.mouth_strength,
        upper_strength=args.upper_strength,
        weights=args.weights,
    )
    extra = (args.template, args.weights)  # inputs other than the audio
    if len(args.audio) == 1 and args.out_dir is None:
        out = args.out or args.audio[0].with_suffix(f".{args.format or 'npz'}")
        format_of(out, args.format)
        try:
            n = animate_file(
                args.audio[0], out, settings, args.template, args.format, args.compress
            )
        except OSError as exc:
            raise _file_error(exc, out, (args.audio[0], *extra)) from None
        print(f"wrote {out}: {n} frames at {settings.fps:g} fps")
        return
    if args.out is not None:
        raise ValueError("several inputs: use --out-dir, not --out")
    out_dir = args.out_dir or Path(".")
    suffix = f".{args.format or 'npz'}"
    jobs = [(a, out_dir / f"{a.stem}{suffix}") for a in args.audio]
    outs = [o for _, o in jobs]
    clash = sorted({str(o) for o in outs if outs.count(o) > 1})
    if clash:
        raise ValueError(f"several inputs would write {', '.join(clash)}: rename them")
    missing = [str(a) for a in args.audio if not a.is_file()]
    if missing:
        raise FileNotFoundError(f"audio file not found: {', '.join(missing)}")
    workers = min(len(jobs), os.cpu_count() or 1)
    done = 0  # results come in the jobs' order: a failure is about jobs[done]
    try:
        for path in animate_files(
            jobs, settings, args.template, args.format, args.compress, workers
        ):
            print(f"wrote {path}")
            done += 1
    except OSError as exc:
        audio, out = jobs[min(done, len(jobs) - 1)]
        raise _file_error(exc, out, (audio, *extra)) from None


def parser() -> argparse.ArgumentParser:
    from .outputs.files import FORMATS

    p = argparse.ArgumentParser(
        prog="meshtalk", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("template", help="write the template head as an .npz file")
    cmd.add_argument("--out", type=Path, required=True, help="output .npz path")
    cmd.set_defaults(run=_template)

    cmd = sub.add_parser("animate", help="animate the face from speech audio")
    cmd.add_argument("audio", type=Path, nargs="+", help="WAV (or FLAC/OGG/MP3) files")
    cmd.add_argument("--out", type=Path, help="output file (one input); its suffix is the format")
    cmd.add_argument("--out-dir", type=Path, help="output folder (several inputs)")
    cmd.add_argument("--fps", type=float, default=30.0, help="frame rate (24, 25, 29.97, 30 …)")
    cmd.add_argument("--seed", type=int, default=0, help="which upper-face performance")
    cmd.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="expressiveness of the upper face: 0 calm … 1 as trained … 3",
    )
    cmd.add_argument("--lips-only", action="store_true", help="keep the upper face at rest")
    cmd.add_argument(
        "--mouth-strength",
        type=float,
        default=1.0,
        help="size of the jaw, lip and cheek motion: 0 still … 1 as made … 2 (seals stay)",
    )
    cmd.add_argument(
        "--upper-strength",
        type=float,
        default=1.0,
        help="size of the brow, lid and eye-region motion: 0 still … 1 as made … 2",
    )
    cmd.add_argument("--template", type=Path, help="neutral face .npz (template topology or hm08)")
    cmd.add_argument(
        "--format",
        choices=sorted({f for f in FORMATS.values()}),
        help="output format (default: from --out's suffix; .npz without --out)",
    )
    cmd.add_argument("--compress", action="store_true", help="zlib-compress an .npz (slower)")
    cmd.add_argument("--weights", type=Path, help="another network weights file")
    cmd.set_defaults(run=_animate)
    return p


def main(argv: list[str] | None = None) -> int:
    from .audio import AudioError
    from .network import WeightsError

    return run_cli(parser(), argv, errors=(AudioError, WeightsError))


if __name__ == "__main__":
    sys.exit(main())
