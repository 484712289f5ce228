"""Build the lists of real human recordings with transcripts (docs/recordings/*.tsv) from the
Debian packages that `scripts/get_recordings.sh` installs, keeping only what aligns.

    python -m core.eval.lists     # writes docs/recordings/{asterisk,ktuberling,klettres}.tsv

Why a builder and not hand-made lists: the Asterisk prompts alone are 25 minutes in ~570
files, and a transcript that does not match its audio (the package's transcript file lags a
few re-recorded prompts) would score lips against phones that were never said. A recording
is kept when (1) every word is in cmudict and pocketsphinx force-aligns it, (2) the aligned
speech covers the loud part of the audio (nothing said that the transcript lacks), and (3)
for prompts of MIN_WORDS_CHECKED words or more, the aligned phones agree on at least
MIN_AGREEMENT of the speech frames with pocketsphinx's phone recogniser, which never saw the
transcript (measured on the Asterisk prompts: right transcripts 0.24-0.90, another prompt's
transcript 0-0.21; single words are too short for the check to separate them).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.align import AlignmentError, align_text
from ..data.phones import SIL, Phone
from ..runtime.audio import load_audio
from .phone_recognizer import recognize_phones

DOCS = Path(__file__).resolve().parents[2] / "docs" / "recordings"
ASTERISK_DIR = Path("/usr/local/share/sounds/asterisk-allison16k")
KTUBERLING_DIR = Path("/usr/share/ktuberling/sounds")
KLETTRES_DIR = Path("/usr/share/klettres")
MIN_AGREEMENT = 0.25
MIN_WORDS_CHECKED = 3
LOUD_DB = -25.0  # frames within this of the clip's loudest are speech the phones must cover
MIN_LOUD_COVERED = 0.9
COVER_SLACK_S = 0.1

_NUMBERS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
# ktuberling's sound names that are not the word said (compounds, spelling)
_KTUBERLING_WORDS = {
    "palmtree": "palm tree",
    "fallingstar": "falling star",
    "moonwalker": "moon walker",
    "sphynx": "sphinx",
    "broccolli": "broccoli",
}


@dataclass(frozen=True)
class Candidate:
    """A recording and its transcript, before alignment decides whether it is kept."""

    path: Path
    text: str


def spell_number(token: str) -> str | None:
    """0-99 in words ("42" -> "forty two"); None for what has more than one reading (500 is
    "five hundred", 1234 may be "one two three four"): such prompts are left out."""
    if not token.isdigit() or int(token) > 99:
        return None
    n = int(token)
    if n < 20:
        return _NUMBERS[n]
    return _TENS[n // 10 - 2] + ("" if n % 10 == 0 else " " + _NUMBERS[n % 10])


def normalize_transcript(text: str) -> str | None:
    """A prompt's transcript as words to align: bracketed notes ("[beep]", "(10 seconds of
    silence)") dropped, numbers spelled; None if nothing is said or a number is ambiguous."""
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", text)
    words = []
    for token in text.split():
        if re.search(r"\d", token):
            core = token.strip(".,;:!?")
            head = re.fullmatch(r"(\d+)([A-Za-z]*)", core)
            spelled = spell_number(head.group(1)) if head else None
            if spelled is None:
                return None
            words.append(spelled + (" " + head.group(2) if head.group(2) else ""))
        else:
            words.append(token)
    out = " ".join(words).strip()
    return out if re.search(r"[A-Za-z]", out) else None


def asterisk_candidates(folder: Path = ASTERISK_DIR) -> Iterator[Candidate]:
    """Every prompt of the package's transcript file (copied next to the audio by
    get_recordings.sh) whose 16 kHz WAV is there."""
    for line in (folder / "core-sounds-en.txt").read_text(errors="replace").splitlines():
        if line.startswith(";") or ": " not in line:
            continue
        name, text = line.split(": ", 1)
        words = normalize_transcript(text)
        path = folder / f"{name.strip()}.wav"
        if words and path.is_file():
            yield Candidate(path, words)


def ktuberling_candidates(folder: Path = KTUBERLING_DIR) -> Iterator[Candidate]:
    """KTuberling's English words: one object name a file ("egypt_camel.ogg": "camel")."""
    for path in sorted((folder / "en").glob("*.ogg")):
        word = path.stem.split("_")[-1]
        yield Candidate(path, _KTUBERLING_WORDS.get(word, word))


def klettres_candidates(folder: Path = KLETTRES_DIR) -> Iterator[Candidate]:
    """KLettres' English letter names and short words (US and British speakers); the
    phonics sounds ("ch", "th", "aw") are not words and fail cmudict or the alignment."""
    for accent in ("en", "en_GB"):
        for kind in ("alpha", "syllab"):
            for path in sorted((folder / accent / kind).glob("*.ogg")):
                yield Candidate(path, path.stem.lower())


SOURCES = {
    "asterisk": (
        asterisk_candidates,
        "Asterisk core prompts, US English, one speaker (Allison Smith; Debian package "
        "asterisk-core-sounds-en-g722, CC-BY-SA-3.0; transcripts from asterisk-core-sounds-en's "
        "core-sounds-en.txt, numbers spelled). Decoded to 16 kHz WAV by scripts/get_recordings.sh",
    ),
    "ktuberling": (
        ktuberling_candidates,
        "KTuberling's English object names, one word a file (Debian package ktuberling-data, "
        "GPL-2+; transcript from the file name)",
    ),
    "klettres": (
        klettres_candidates,
        "KLettres' English letter names and short words, a US and a British speaker (Debian "
        "package klettres-data, GPL-2+; transcript from the file name)",
    ),
}


def _speech_frames(phones: list[Phone], n: int, rate: float) -> np.ndarray:
    out = np.zeros(n, bool)
    for p in phones:
        if p.symbol != SIL:
            out[int(p.start * rate) : int(np.ceil(p.end * rate))] = True
    return out


def recogniser_agreement(aligned: list[Phone], recognised: list[Phone], seconds: float) -> float:
    """Share of the 10-ms frames where either says speech on which both name the same phone."""
    n = int(np.ceil(seconds * 100))
    labels = []
    for phones in (aligned, recognised):
        lab = np.full(n, SIL, object)
        for p in phones:
            lab[int(p.start * 100) : int(np.ceil(p.end * 100))] = p.symbol
        labels.append(lab)
    speech = (labels[0] != SIL) | (labels[1] != SIL)
    return float(np.mean(labels[0][speech] == labels[1][speech])) if speech.any() else 0.0


def loud_covered(audio: np.ndarray, phones: list[Phone], sample_rate: int = 16000) -> float:
    """Share of loud 10-ms frames (within LOUD_DB of the loudest) inside the aligned speech,
    widened by COVER_SLACK_S: low when the audio says more than the transcript."""
    hop = sample_rate // 100
    n = len(audio) // hop
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(audio[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    loud = 20 * np.log10(rms + 1e-9) > 20 * np.log10(rms.max() + 1e-9) + LOUD_DB
    speech = _speech_frames(phones, n, 100)
    slack = int(COVER_SLACK_S * 100)
    widened = np.convolve(speech, np.ones(2 * slack + 1), "same") > 0
    return float(np.mean(widened[loud]))


def check(candidate: Candidate) -> tuple[bool, str]:
    """Whether a recording is kept, and why not."""
    audio = load_audio(candidate.path, 16000)
    try:
        phones = align_text(audio, 16000, candidate.text)
    except AlignmentError as exc:
        return False, f"alignment: {exc}"
    cover = loud_covered(audio, phones)
    if cover < MIN_LOUD_COVERED:
        return False, f"aligned speech covers {cover:.2f} of the loud frames"
    if len(candidate.text.split()) >= MIN_WORDS_CHECKED:
        agree = recogniser_agreement(phones, recognize_phones(audio), len(audio) / 16000)
        if agree < MIN_AGREEMENT:
            return False, f"phone recogniser agreement {agree:.2f}"
    return True, ""


def build(name: str, out_dir: Path = DOCS, jobs: int = 2) -> tuple[int, int]:
    """Write `<out_dir>/<name>.tsv` with the kept recordings; (kept, candidates)."""
    from concurrent.futures import ProcessPoolExecutor

    enumerate_source, description = SOURCES[name]
    candidates = list(enumerate_source())
    if not candidates:
        raise FileNotFoundError(f"no {name} recordings found: run scripts/get_recordings.sh")
    with ProcessPoolExecutor(jobs) as pool:
        verdicts = list(pool.map(check, candidates, chunksize=4))
    kept = [c for c, (ok, _) in zip(candidates, verdicts, strict=True) if ok]
    for c, (ok, why) in zip(candidates, verdicts, strict=True):
        if not ok:
            print(f"{name}: left out {c.path.name}: {why}", file=sys.stderr)
    seconds = sum(len(load_audio(c.path, 16000)) / 16000 for c in kept)
    head = (
        f"# Real human speech: {description}. Built by `python -m core.eval.lists` (kept: "
        f"force-aligned by pocketsphinx and checked, see core/eval/lists.py): {len(kept)} of "
        f"{len(candidates)} files, {seconds / 60:.1f} min. Columns: path<TAB>transcript."
    )
    rows = [f"{c.path}\t{c.text}" for c in kept]
    (out_dir / f"{name}.tsv").write_text("\n".join([head, *rows]) + "\n")
    return len(kept), len(candidates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.eval.lists",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", help=f"lists to build (default: {', '.join(SOURCES)})")
    parser.add_argument("--out", type=Path, default=DOCS)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(SOURCES)
    if unknown:
        parser.error(f"unknown lists {sorted(unknown)}; known: {', '.join(SOURCES)}")
    for name in args.names or SOURCES:
        kept, total = build(name, args.out, args.jobs)
        print(f"{name}: kept {kept} of {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
