"""`python -m core.eval`: score animation methods on the corpus's held-out test voices and
sentences, side by side, and print a markdown table for docs/RESULTS.md.

    python -m core.eval --corpus /work/data/corpus --weights core/assets/meshtalk.npz \
        --ablation core/assets/meshtalk_l2.npz --limit 200
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..data.corpus import load_split
from ..template import load_template
from .methods import corpus_case, meshtalk, phone_baseline, static
from .recordings import evaluate_recordings, read_list
from .scores import Totals, score

COLUMNS = ("LVE_mm", "FDD_mm", "pbm_closure", "open_vowel_rate", "blinks_per_min")
BY_VOICE = ("LVE_mm", "pbm_closure", "blinks_per_min")  # also given per held-out voice


def evaluate(
    corpus: Path,
    methods: dict,
    split: str = "test",
    limit: int | None = None,
    seeds_differ: str | None = None,
) -> dict[str, dict[str, float]]:
    """Summaries per method (and the ground truth's own, as a reference row)."""
    template = load_template()
    sequences = load_split(corpus, split)[:limit]
    names = ["ground truth", *methods]
    totals = {name: Totals() for name in names}
    by_voice = {name: defaultdict(Totals) for name in names}
    for i, seq in enumerate(sequences):
        audio, face, truth = corpus_case(seq)
        preds = {"ground truth": truth}
        for name, method in methods.items():
            preds[name] = method(audio, len(truth), face)
            if name == seeds_differ:
                spread = _seed_spread(method, audio, len(truth), face, preds[name], template)
                totals[name].add(spread)
        for name, pred in preds.items():
            scores = score(pred, truth, face.rest, seq.phones, template)
            totals[name].add(scores)
            by_voice[name][seq.job.voice].add(scores)
        print(f"\r{i + 1}/{len(sequences)} sequences", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {name: _summary(totals[name], by_voice[name]) for name in names}


def _summary(total: Totals, by_voice: dict[str, Totals]) -> dict[str, float]:
    """The split's summary plus the BY_VOICE columns of each voice ("LVE_mm <voice>"):
    held-out voices differ, and the mean alone hides which one a method fails on."""
    out = total.summary()
    for voice, totals in sorted(by_voice.items()):
        mine = totals.summary()
        out.update({f"{column} {voice}": mine[column] for column in BY_VOICE})
    return out


def _seed_spread(method, audio, n, face, pred, template) -> Totals:
    """How far another seed moves the upper face and the lips (mean vertex distance, mm)."""
    other = method.with_seed(1)(audio, n, face)
    dist = np.linalg.norm(other - pred, axis=-1)
    t = Totals()
    t.extra = {
        "seed_upper_diff_mm": [1000 * float(dist[:, template.region("upper_face")].mean())],
        "seed_lip_diff_mm": [1000 * float(dist[:, template.region("lips")].mean())],
    }
    return t


def markdown(results: dict[str, dict[str, float]]) -> str:
    present = {k for r in results.values() for k in r}
    cols = [c for c in COLUMNS if c in present] + sorted(present - set(COLUMNS))
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in results.items():
        cells = [("n/a" if np.isnan(row[c]) else f"{row[c]:.3f}") if c in row else "" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--corpus", type=Path, help="score on this corpus's held-out split")
    parser.add_argument(
        "--recordings",
        type=Path,
        nargs="+",
        default=[],
        help="path<TAB>transcript lists of recordings without faces "
        "(e.g. docs/recordings/alsa.tsv docs/recordings/asterisk.tsv), scored one by one",
    )
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--weights", type=Path, help="exported MeshTalk weights (sampled codes)")
    parser.add_argument("--ablation", type=Path, help="the same network trained with plain L2")
    parser.add_argument("--limit", type=int, help="first N sequences of the split")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    methods = {}
    if args.weights:
        methods["meshtalk (sampled)"] = meshtalk(args.weights, temperature=args.temperature)
    if args.ablation:
        methods["plain L2 (sampled)"] = meshtalk(args.ablation, temperature=args.temperature)
    methods["static face"] = static
    methods["phone recogniser + articulation"] = phone_baseline
    if not (args.corpus or args.recordings):
        parser.error("give --corpus, --recordings or both")
    results = {}
    if args.corpus:
        t0 = time.time()
        seeds = "meshtalk (sampled)" if args.weights else None
        results["corpus"] = evaluate(args.corpus, methods, args.split, args.limit, seeds)
        print(f"## {args.split} split of {args.corpus}\n\n{markdown(results['corpus'])}\n")
        print(f"({time.time() - t0:.0f} s)", file=sys.stderr)
    for path in args.recordings:
        items = read_list(path)[: args.limit]
        table = results[f"recordings {path.stem}"] = evaluate_recordings(items, methods)
        print(f"## {len(items)} recordings of {path}\n\n{markdown(table)}\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
