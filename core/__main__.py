"""Command line of the core: `python -m core template --out template.npz`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .npzio import save_npz
from .template import load_template


def _template(args: argparse.Namespace) -> None:
    template = load_template()
    save_npz(args.out, template.to_arrays())
    print(
        f"wrote {args.out}: {template.n_vertices} vertices, {len(template.faces)} faces, "
        f"{len(template.arkit_names)} ARKit units, regions: {', '.join(template.regions)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core", description="MeshTalk core tools")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("template", help="write the template head as an .npz file")
    cmd.add_argument("--out", type=Path, required=True, help="output .npz path")
    cmd.set_defaults(run=_template)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
