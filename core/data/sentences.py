"""English sentences for the corpus, their phoneme coverage, and a balanced greedy subset.

Source: the example sentences in WordNet 3.0's glosses (Debian package ``wordnet-base``,
/usr/share/wordnet/data.{noun,verb,adj,adv}). License: the WordNet 3.0 license (BSD-like:
use, copy, modify and distribute for any purpose, keeping Princeton's copyright notice; see
docs/DATA.md). ``sentences.txt`` beside this module is their extraction, rebuilt with::

    python -m core.data.sentences extract > core/data/sentences.txt

Why WordNet: modern, varied, natural English (not archaic), thousands of full sentences, a
redistributable license, and shipped by Debian. Pronunciations come from the cmudict that the
PyPI ``pocketsphinx`` wheel ships, so coverage is counted on the same phones the aligner uses.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from .phones import ARPABET

WORDNET_DIR = Path("/usr/share/wordnet")
SENTENCES_FILE = Path(__file__).with_name("sentences.txt")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_ALLOWED = re.compile(r"[A-Za-z][A-Za-z ,;:'?!.-]*")
_HEADER = (
    "# English example sentences from WordNet 3.0 glosses (Debian package wordnet-base).\n"
    "# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.\n"
    "# Used under the WordNet 3.0 license (see docs/DATA.md). One sentence per line.\n"
    "# Rebuild: python -m core.data.sentences extract > core/data/sentences.txt\n"
)


class TextError(ValueError):
    """Text that cannot be spoken as English (empty, or no English word in it)."""


@lru_cache(maxsize=1)
def cmudict() -> dict[str, tuple[tuple[str, ...], ...]]:
    """word → its pronunciations (ARPAbet, no stress), from pocketsphinx's cmudict."""
    import os

    try:
        import pocketsphinx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = "cmudict comes with PyPI 'pocketsphinx': pip install pocketsphinx"
        raise RuntimeError(msg) from exc
    path = os.path.join(pocketsphinx.get_model_path(), "en-us", "cmudict-en-us.dict")
    out: dict[str, list[tuple[str, ...]]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            word = parts[0].split("(")[0]
            out.setdefault(word, []).append(tuple(parts[1:]))
    return {w: tuple(p) for w, p in out.items()}


def words_of(text: str) -> list[str]:
    """Lower-case words (letters, inner apostrophes) in reading order."""
    return _WORD.findall(text.lower())


def check_text(text: str) -> list[str]:
    """Return the text's words; raise TextError if it is empty or has no English word."""
    if not text or not text.strip():
        raise TextError("text is empty: give at least one English word")
    words = words_of(text)
    lexicon = cmudict()
    known = [w for w in words if w in lexicon]
    if not known:
        raise TextError(
            f"text has no English words (none of {words[:8]} is in cmudict): {text[:80]!r}"
        )
    return words


def phones_of(sentence: str) -> list[str]:
    """ARPAbet phones of a sentence (first cmudict pronunciation of each word)."""
    lexicon = cmudict()
    out: list[str] = []
    for w in words_of(sentence):
        if w not in lexicon:
            raise TextError(f"word {w!r} is not in cmudict")
        out.extend(lexicon[w][0])
    return out


def extract_wordnet(root: Path = WORDNET_DIR, min_words: int = 5, max_words: int = 20) -> list[str]:
    """Full-sentence examples from WordNet glosses, every word in cmudict, deduplicated.

    Kept: quoted examples that start with a capital letter, have min..max words, use only
    letters and light punctuation (no digits, no brackets) and no all-caps words.
    """
    files = [root / f"data.{pos}" for pos in ("noun", "verb", "adj", "adv")]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(
            f"WordNet data not found ({missing[0]}): apt-get install wordnet-base"
        )
    lexicon = cmudict()
    seen: set[str] = set()
    out: list[str] = []
    for path in files:
        with open(path, encoding="latin-1") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue
                gloss = line.split("|", 1)[1]
                for ex in re.findall(r'"([^"]+)"', gloss):
                    s = " ".join(ex.replace("--", ", ").split()).strip(" ,;:-")
                    if not s or not s[0].isupper() or not _ALLOWED.fullmatch(s):
                        continue
                    words = words_of(s)
                    if not (min_words <= len(words) <= max_words):
                        continue
                    if any(w not in lexicon for w in words):
                        continue
                    if any(t.isupper() and len(t) > 1 for t in re.findall(r"[A-Za-z]+", s)):
                        continue
                    if s[-1] not in ".?!":
                        s += "."
                    key = s.lower()
                    if key not in seen:
                        seen.add(key)
                        out.append(s)
    return out


def load_sentences(path: Path = SENTENCES_FILE) -> list[str]:
    """The committed sentence list (comment lines skipped)."""
    with open(path, encoding="utf-8") as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]


def phoneme_counts(sentences: Iterable[str]) -> Counter[str]:
    """How often each of the 39 phonemes occurs over the sentences."""
    counts: Counter[str] = Counter({p: 0 for p in ARPABET})
    for s in sentences:
        counts.update(phones_of(s))
    return counts


def coverage(sentences: Sequence[str]) -> dict[str, object]:
    """Coverage report: phonemes covered, min/max counts and the rarest phonemes."""
    counts = phoneme_counts(sentences)
    present = [p for p in ARPABET if counts[p] > 0]
    rare = sorted(ARPABET, key=lambda p: counts[p])[:5]
    return {
        "sentences": len(sentences),
        "phones": sum(counts.values()),
        "covered": len(present),
        "missing": [p for p in ARPABET if counts[p] == 0],
        "min": min(counts[p] for p in ARPABET),
        "max": max(counts[p] for p in ARPABET),
        "rarest": {p: counts[p] for p in rare},
        "counts": dict(counts),
    }


def select_balanced(sentences: Sequence[str], n: int) -> list[str]:
    """Pick n sentences greedily so that the rarest phonemes get covered first.

    Each step takes the sentence with the best gain, where a phoneme occurrence is worth
    1/(1 + count so far), normalised by sentence length (so long sentences do not win just by
    being long). Deterministic: ties go to the earlier sentence.
    """
    if n <= 0:
        return []
    import numpy as np

    index = {p: k for k, p in enumerate(ARPABET)}
    m = np.zeros((len(sentences), len(ARPABET)), dtype=np.float64)
    for i, s in enumerate(sentences):
        for p in phones_of(s):
            m[i, index[p]] += 1.0
    length = np.maximum(m.sum(axis=1), 1.0)
    counts = np.zeros(len(ARPABET))
    taken = np.zeros(len(sentences), dtype=bool)
    chosen: list[int] = []
    for _ in range(min(n, len(sentences))):
        gain = (m / (1.0 + counts)).sum(axis=1) / length
        gain[taken] = -1.0
        best = int(np.argmax(gain))  # first maximum: ties go to the earlier sentence
        chosen.append(best)
        taken[best] = True
        counts += m[best]
    return [sentences[i] for i in chosen]


def _main(argv: list[str]) -> int:
    if argv[:1] == ["extract"]:
        sys.stdout.write(_HEADER)
        for s in extract_wordnet():
            sys.stdout.write(s + "\n")
        return 0
    if argv[:1] == ["coverage"]:
        rep = coverage(load_sentences())
        rep.pop("counts")
        print(rep)
        return 0
    print("usage: python -m core.data.sentences extract|coverage", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
