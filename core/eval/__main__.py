"""`python -m core.eval`: score animation methods on real human speech (every list of
docs/recordings/ whose audio is on this machine: `scripts/get_recordings.sh`), pooled over
the recordings, side by side: the network, the phone-recogniser baseline, the ceiling (the
corpus's face model on the forced alignment: what the corpus can teach) and the static face.
With --corpus, also on the corpus's held-out synthetic voices (LVE, FDD, closure, open).
Markdown tables for docs/RESULTS.md.

    python -m core.eval                           # real speech, the bundled network
    python -m core.eval --per-list --by-voice     # + a table per list, misses and lag by list
    python -m core.eval --corpus /work/data/corpus --limit 200    # + the held-out voices
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
from ..runtime.template import TEMPLATE_PATH, load_template
from .cache import default_folder
from .methods import Ceiling, PhoneBaseline, ceiling, corpus_case, meshtalk, static
from .recordings import PAUSE_KINDS, PAUSE_SECONDS, read_list, read_recordings, score_recordings
from .recordings import summarize as summarize_recordings
from .scores import CLOSED_MM, LAGS, SLACK, Totals, score

COLUMNS = (
    "LVE_mm",
    "FDD_mm",
    "pbm_closure",
    "open_vowel_rate",
    "blinks_per_min",
    "blinks_per_min_speech",
    "blinks_per_min_pauses",
)
REAL_COLUMNS = (
    "minutes",
    "pbm_closure",
    f"pbm_closure_within_{SLACK}f",
    "open_vowel_rate",
    "lip_gap_p95_mm",
    "rounding_rate",
    "lip_corr_lag0",
    "lip_corr_best",
    "lip_lag_frames",
    "blinks_per_min",
    "full_blink_share",
    "sealed_blink_share",
    *(f"eyes_open_pause_{kind}" for kind in PAUSE_KINDS),
)
BY_VOICE = ("LVE_mm", "pbm_closure", "blinks_per_min")  # also given per held-out voice
MISS_BINS_MM = (CLOSED_MM, 1.5, 2.0, 3.0, 5.0, np.inf)  # how far a missed seal stays open
RECORDING_LISTS = Path(__file__).resolve().parents[2] / "docs" / "recordings"
DEFAULT_WEIGHTS = TEMPLATE_PATH.parent / "meshtalk.npz"
NETWORK = "meshtalk (sampled)"


def evaluate_totals(
    corpus: Path,
    methods: dict,
    split: str = "test",
    limit: int | None = None,
    seeds_differ: str | None = None,
) -> tuple[dict[str, Totals], dict[str, dict[str, Totals]]]:
    """Totals per method (and the ground truth's own) over the split, and per held-out voice."""
    template = load_template()
    sequences = load_split(corpus, split)[:limit]
    names = ["ground truth", *methods]
    totals = {name: Totals() for name in names}
    by_voice: dict[str, dict[str, Totals]] = {name: defaultdict(Totals) for name in names}
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
    return totals, by_voice


def evaluate(
    corpus: Path,
    methods: dict,
    split: str = "test",
    limit: int | None = None,
    seeds_differ: str | None = None,
) -> dict[str, dict[str, float]]:
    """Summaries per method (and the ground truth's own, as a reference row)."""
    totals, by_voice = evaluate_totals(corpus, methods, split, limit, seeds_differ)
    return {name: _summary(totals[name], by_voice[name]) for name in totals}


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


def markdown(results: dict[str, dict[str, float]], columns: tuple[str, ...] = COLUMNS) -> str:
    """A table: one row per method, `columns` first, then every other number in the rows."""
    present = {k for r in results.values() for k in r}
    cols = [c for c in columns if c in present] + sorted(present - set(columns))
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in results.items():
        cells = [_num(row[c]) if c in row else "" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def diagnosis(groups: dict[str, Totals], reference: str) -> str:
    """Per group (held-out voice or recording list): which P/B/M the method fails to seal
    and by how much (a miss sealed within SLACK frames is a timing slip, not a missing seal),
    and whether its lip gap is late or early against `reference` (best lag within LAGS)."""
    bins = [
        f"miss {lo:g}-{hi:g} mm" for lo, hi in zip(MISS_BINS_MM, MISS_BINS_MM[1:], strict=False)
    ]
    head = ["group", "P/B/M", "closed", "missed", f"sealed within {SLACK} frames", *bins]
    head += ["corr at 0", f"best lag ({LAGS[0]}..+{LAGS[-1]})", "corr there"]
    head += [f"spread / {reference} (mm)"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    every = Totals()
    for t in groups.values():
        every.add(t)
    for name, t in [*sorted(groups.items()), ("all", every)]:
        gaps = np.asarray(t.pbm_gap_mm)
        missed = gaps[gaps >= CLOSED_MM]
        cells = [t.bilabials, t.closed, t.bilabials - t.closed, t.closed_near - t.closed]
        cells += list(np.histogram(missed, bins=MISS_BINS_MM)[0])
        if t.lag is None:
            cells += ["", "", "", ""]
        else:
            lag, corr = t.lag.best()
            spread = t.lag.spreads()
            at0 = t.lag.correlations()[LAGS.index(0)]
            cells += [_num(at0), "n/a" if np.isnan(lag) else f"{lag:+.0f}", _num(corr)]
            cells += [f"{1000 * spread[0]:.2f} / {1000 * spread[1]:.2f}"]
        lines.append(f"| {name} | " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _num(x: float) -> str:
    return "n/a" if np.isnan(x) else f"{x:.3f}"


def available_lists(folder: Path = RECORDING_LISTS) -> tuple[list[Path], list[Path]]:
    """The recording lists whose audio files are all on this machine, and those that are not."""
    here, missing = [], []
    for path in sorted(folder.glob("*.tsv")):
        ok = all(audio.is_file() for audio, _ in read_list(path))
        (here if ok else missing).append(path)
    return here, missing


def real_speech(args: argparse.Namespace, methods: dict, results: dict) -> None:
    """The real-speech tables (pooled; per list with --per-list; diagnosis with --by-voice)."""
    lists = args.recordings
    if lists is None:
        lists, missing = available_lists()
        for path in missing:
            print(f"skipping {path}: audio not here (scripts/get_recordings.sh)", file=sys.stderr)
    if not lists:
        if args.corpus:  # the corpus table alone, on a machine without the recordings
            print("no real recordings here: scripts/get_recordings.sh", file=sys.stderr)
            return
        raise SystemExit("no recordings to score: run scripts/get_recordings.sh")
    items = read_recordings(lists, args.limit)
    t0 = time.time()
    real = score_recordings(items, methods, args.pauses, args.jobs, cache=args.cache)
    for path, why in real.skipped:
        print(f"left out {path}: {why}", file=sys.stderr)
    if not real.recordings:
        raise SystemExit("none of the recordings could be aligned to its transcript")
    pooled = real.pooled[next(iter(methods))]
    names = ", ".join(p.stem for p in lists)
    print(
        f"## Real speech: {real.recordings} recordings ({names}), {pooled.seconds / 60:.1f} min, "
        f"{pooled.bilabials} P/B/M, {pooled.open_vowels} open vowels, {pooled.rounds} W/UW/OW; "
        f"{real.pause_clips} pause clips ({PAUSE_SECONDS:g} s)\n"
    )
    table = results["real speech"] = summarize_recordings(real.pooled)
    print(markdown(table, REAL_COLUMNS) + "\n")
    results["real speech by list"] = {}
    for source, totals in real.by_source.items():
        results["real speech by list"][source] = summarize_recordings(totals)
        if args.per_list:
            print(f"### {source}\n\n{markdown(summarize_recordings(totals), REAL_COLUMNS)}\n")
    if args.by_voice:
        for name in methods:
            if not isinstance(methods[name], Ceiling) and methods[name] is not static:
                groups = {source: totals[name] for source, totals in real.by_source.items()}
                print(f"### {name}: P/B/M misses and lip-gap lag by list\n")
                print(diagnosis(groups, "ceiling") + "\n")
    print(f"(real speech: {time.time() - t0:.0f} s)", file=sys.stderr)


def corpus_tables(args: argparse.Namespace, methods: dict, results: dict) -> None:
    """The held-out synthetic voices' table (and per-voice diagnosis with --by-voice)."""
    t0 = time.time()
    seeds = NETWORK if NETWORK in methods else None
    totals, by_voice = evaluate_totals(args.corpus, methods, args.split, args.limit, seeds)
    table = results["corpus"] = {name: _summary(totals[name], by_voice[name]) for name in totals}
    print(f"## {args.split} split of {args.corpus}\n\n{markdown(table)}\n")
    if args.by_voice:
        for name in (name for name in methods if methods[name] is not static):
            print(f"### {name}: P/B/M misses and lip-gap lag by held-out voice\n")
            print(diagnosis(dict(by_voice[name]), "truth") + "\n")
    print(f"(corpus: {time.time() - t0:.0f} s)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--corpus", type=Path, help="also score on this corpus's held-out split")
    parser.add_argument(
        "--recordings",
        type=Path,
        nargs="+",
        help="path<TAB>transcript lists of real recordings, pooled (default: every list in "
        "docs/recordings/ whose audio is here)",
    )
    parser.add_argument("--no-recordings", action="store_true", help="only the corpus table")
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument(
        "--weights", type=Path, default=DEFAULT_WEIGHTS, help="exported MeshTalk weights"
    )
    parser.add_argument("--ablation", type=Path, help="the same network trained with plain L2")
    parser.add_argument(
        "--limit", type=int, help="first N recordings of each list / N sequences of the split"
    )
    parser.add_argument("--pauses", type=int, default=12, help="pause clips of each kind (0: none)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for real speech")
    parser.add_argument(
        "--cache",
        type=Path,
        default=default_folder(),
        help="folder keeping pocketsphinx's phones between runs (default %(default)s)",
    )
    parser.add_argument("--no-cache", dest="cache", action="store_const", const=None)
    parser.add_argument("--per-list", action="store_true", help="a real-speech table per list")
    parser.add_argument(
        "--by-voice",
        action="store_true",
        help="per held-out voice / per list: P/B/M misses and the lip-gap lag",
    )
    parser.add_argument("--temperature", type=float, default=1.0, help="expressiveness")
    parser.add_argument("--mouth-strength", type=float, default=1.0, help="0-2, as in the CLI")
    parser.add_argument("--upper-strength", type=float, default=1.0, help="0-2, as in the CLI")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.no_recordings and not args.corpus:
        parser.error("--no-recordings needs --corpus")
    settings = {
        "temperature": args.temperature,
        "mouth_strength": args.mouth_strength,
        "upper_strength": args.upper_strength,
    }
    methods = {NETWORK: meshtalk(args.weights, **settings)}
    if args.ablation:
        methods["plain L2 (sampled)"] = meshtalk(args.ablation, **settings)
    methods["phone recogniser + articulation"] = PhoneBaseline(cache=args.cache)
    results: dict = {}
    if not args.no_recordings:
        real = {**methods, "ceiling (articulation on alignment)": ceiling, "static face": static}
        real_speech(args, real, results)
    if args.corpus:
        corpus_tables(args, {**methods, "static face": static}, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
