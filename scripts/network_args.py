"""The command line of a diagnosis script that runs an exported network over a corpus split."""

from __future__ import annotations

import argparse
from pathlib import Path


def network_parser(doc: str) -> argparse.ArgumentParser:
    """Weights file, corpus, split, sequence limit and sampling temperature; the script's
    docstring's first paragraph is its description."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--temperature", type=float, default=1.0)
    return parser
