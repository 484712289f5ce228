"""Evaluation on recordings with no captured face (e.g. real human speech): the transcript is
force-aligned with pocketsphinx to find the phones, then P/B/M closure, open vowels and blinks
are scored on each method's output; LVE and FDD need ground-truth meshes and are left out.

A list file has one recording a line: `path<TAB>transcript` (relative paths from the file).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..audio import load_audio
from ..data.align import align_text
from ..template import load_template
from .methods import Face
from .scores import Totals, score


def read_list(path: Path) -> list[tuple[Path, str]]:
    items = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if "\t" not in line:
            raise ValueError(f"{path}:{n}: expected 'path<TAB>transcript'")
        audio, text = line.split("\t", 1)
        items.append(((Path(path).parent / audio).resolve(), text.strip()))
    return items


def evaluate_recordings(items: list[tuple[Path, str]], methods: dict) -> dict[str, dict]:
    """Summaries per method over the recordings, on the bundled head."""
    template = load_template()
    face = Face(template.vertices, template.arkit_deltas)
    totals = {name: Totals() for name in methods}
    for i, (path, text) in enumerate(items):
        audio = load_audio(path, 16000)
        phones = align_text(audio, 16000, text)
        n = int(round(len(audio) / 16000 * 30))
        for name, method in methods.items():
            totals[name].add(score(method(audio, n, face), None, face.rest, phones, template))
        print(f"\r{i + 1}/{len(items)} recordings", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    out = {}
    for name, t in totals.items():
        row = t.summary()
        del row["LVE_mm"], row["FDD_mm"]
        out[name] = row | {"minutes": float(np.round(t.seconds / 60, 2))}
    return out
