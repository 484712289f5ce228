"""Forced alignment of speech to text or to a known phone sequence with pocketsphinx.

Why: some engines give no phone timing (or a late one). PyPI ``pocketsphinx`` 5.x ships the
en-us acoustic model and cmudict, so alignment works offline. Aligning to the *engine's own*
phone sequence (``align_phones``) keeps what the voice really said (accents, spelled-out
letters) and only asks pocketsphinx *where*; ``align_text`` uses cmudict pronunciations.

Details that matter here: pocketsphinx needs 16 kHz int16; a leading ~0.2 s of silence helps
it settle (times are shifted back); synthesisers emit exact digital silence, which breaks its
features, so a tiny fixed-seed dither is added. Times are quantised to its 10 ms frames.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import numpy as np

from .phones import PHONE_SET, SIL, Phone, segments_to_phones

ALIGN_RATE = 16000
PAD_SECONDS = 0.2
_DITHER_LSB = 1.0
# Decoder settings tried in order. 10 ms frames first (the model's own rate); 5 ms frames next,
# because a 3-state phone needs >= 3 frames and fast formant speech has 20 ms phones, which
# makes 10 ms alignment fail on ~20% of espeak sentences and 5 ms on none we tried.
_CONFIGS: tuple[dict, ...] = ({}, {"frate": 200})
_FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "+NOISE+", "+SPN+"}

_lock = threading.Lock()


class AlignmentError(RuntimeError):
    """pocketsphinx could not align the audio to the given words.

    ``word_spans`` holds (start, end) seconds per word when the word pass worked and only the
    phone pass failed (pocketsphinx's state aligner gives up on a few percent of sentences);
    callers can still place phones inside those word spans.
    """

    def __init__(self, message: str, word_spans: list[tuple[float, float]] | None = None):
        super().__init__(message)
        self.word_spans = word_spans


def _decoder(variant: int, words: dict[str, str] | None = None):
    """A fresh decoder per alignment: a reused one carries state from the previous utterance
    (seen here: the same call aligned 10 ms differently the first time), which would make the
    corpus depend on the order it is built in."""
    try:
        from pocketsphinx import Decoder
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise AlignmentError(
            "forced alignment needs the PyPI package 'pocketsphinx' (5.x): pip install "
            "pocketsphinx==5.1.1"
        ) from exc
    dec = Decoder(lm=None, loglevel="FATAL", **_CONFIGS[variant])
    items = list((words or {}).items())
    for k, (name, phones) in enumerate(items):
        dec.add_word(name, phones, update=k == len(items) - 1)  # rebuild the search once
    return dec


def to_align_pcm(audio: np.ndarray, sample_rate: int) -> bytes:
    """Mono float audio → padded, dithered 16 kHz int16 bytes, as pocketsphinx wants them."""
    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sample_rate != ALIGN_RATE:
        import soxr

        y = soxr.resample(y, sample_rate, ALIGN_RATE, quality="HQ").astype(np.float32)
    pad = np.zeros(int(PAD_SECONDS * ALIGN_RATE), dtype=np.float32)
    y = np.concatenate([pad, y, pad])
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.99:  # keep headroom; alignment does not care about level
        y = y * (0.99 / peak)
    rng = np.random.default_rng(0)
    pcm = y * 32767.0 + rng.normal(0.0, _DITHER_LSB, size=y.shape)
    return np.clip(np.round(pcm), -32768, 32767).astype(np.int16).tobytes()


def normalize_words(text: str) -> list[str]:
    """Lower-case words for cmudict lookup (letters and inner apostrophes only)."""
    return re.findall(r"[a-z]+(?:'[a-z]+)*", text.lower())


def align_text(
    audio: np.ndarray, sample_rate: int, text: str, frame_rate: int | None = None
) -> list[Phone]:
    """Align audio to text using cmudict pronunciations; every word must be in cmudict."""
    words = normalize_words(text)
    if not words:
        raise AlignmentError(f"no words to align in {text!r}")
    from .sentences import cmudict

    missing = [w for w in words if w not in cmudict()]
    if missing:
        raise AlignmentError(f"words not in cmudict: {missing}")
    with _lock:
        return _run(audio, sample_rate, words, frame_rate)


def align_phones(
    audio: np.ndarray,
    sample_rate: int,
    words: Sequence[Sequence[str]],
    frame_rate: int | None = None,
) -> list[Phone]:
    """Align audio to a known phone sequence, grouped into words (lists of ARPAbet phones).

    Silence between words is optional and found by the aligner; "sil" inside the input is
    ignored. Each word becomes a dictionary entry named after its phones.
    """
    names: list[str] = []
    pron: dict[str, str] = {}
    for word in words:
        phones = [p for p in word if p != SIL]
        bad = [p for p in phones if p not in PHONE_SET]
        if bad:
            raise AlignmentError(f"not ARPAbet phones: {bad}")
        if phones:
            name = "_" + "_".join(phones).lower()
            names.append(name)
            pron[name] = " ".join(phones)
    if not names:
        raise AlignmentError("no phones to align")
    with _lock:
        return _run(audio, sample_rate, names, frame_rate, pron)


def _variants(frame_rate: int | None) -> list[int]:
    out = [i for i, c in enumerate(_CONFIGS) if frame_rate in (None, c.get("frate", 100))]
    if not out:
        raise ValueError(f"frame_rate must be one of 100, 200 or None, not {frame_rate}")
    return out


def _run(
    audio: np.ndarray,
    sample_rate: int,
    words: list[str],
    frame_rate: int | None = None,
    pron: dict[str, str] | None = None,
) -> list[Phone]:
    total = len(audio) / float(sample_rate)
    pcm = to_align_pcm(audio, sample_rate)
    text = " ".join(words)
    last_error = "no result"
    word_spans: list[tuple[float, float]] | None = None
    for variant in _variants(frame_rate):
        dec = _decoder(variant, pron)
        frame = 1.0 / float(dec.config["frate"])
        try:
            dec.set_align_text(text)
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
            hyp = [s for s in (dec.seg() or []) if s.word not in _FILLERS]
            if [s.word.split("(")[0] for s in hyp] != words:
                last_error = f"word alignment incomplete: got {len(hyp)} of {len(words)} words"
                continue
            if word_spans is None:
                word_spans = [
                    (
                        min(max(s.start_frame * frame - PAD_SECONDS, 0.0), total),
                        min(max((s.end_frame + 1) * frame - PAD_SECONDS, 0.0), total),
                    )
                    for s in hyp
                ]
            dec.set_alignment()
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
            alignment = dec.get_alignment()
        except RuntimeError as exc:
            last_error = str(exc)
            continue
        if alignment is None:
            continue
        segs = []
        for ph in alignment.phones():
            sym = SIL if ph.name == "SIL" or ph.name.startswith("+") else ph.name
            start = ph.start * frame - PAD_SECONDS
            end = (ph.start + ph.duration) * frame - PAD_SECONDS
            segs.append(((sym,), max(start, 0.0), min(end, total)))
        return segments_to_phones(segs, total)
    raise AlignmentError(
        f"pocketsphinx could not align {len(words)} words: {last_error}", word_spans
    )


PHONE_CLASSES: dict[str, frozenset[str]] = {
    "stop": frozenset(("P", "B", "T", "D", "K", "G", "CH", "JH")),
    "nasal": frozenset(("M", "N", "NG")),
    "fricative": frozenset(("F", "V", "TH", "DH", "S", "Z", "SH", "ZH", "HH")),
    "glide": frozenset(("L", "R", "W", "Y")),
}


def phone_class(symbol: str) -> str:
    """ "stop", "nasal", "fricative", "glide" or "vowel" (for timing reports)."""
    for name, members in PHONE_CLASSES.items():
        if symbol in members:
            return name
    return "vowel"


def onset_offsets(reference: Sequence[Phone], aligned: Sequence[Phone]) -> list[tuple[str, float]]:
    """(symbol, reference.start - aligned.start) for each non-sil phone the two lists share.

    The lists are matched as symbol sequences (difflib), so a phone one side lacks (espeak
    gives some liquids zero length) is skipped rather than shifting every later pair.
    """
    import difflib

    a = [p for p in reference if p.symbol != SIL]
    b = [p for p in aligned if p.symbol != SIL]
    sm = difflib.SequenceMatcher(a=[p.symbol for p in a], b=[p.symbol for p in b], autojunk=False)
    out: list[tuple[str, float]] = []
    for block in sm.get_matching_blocks():
        for k in range(block.size):
            pa, pb = a[block.a + k], b[block.b + k]
            out.append((pa.symbol, pa.start - pb.start))
    return out


def summarize_offsets(pairs: Sequence[tuple[str, float]]) -> dict[str, dict[str, float]]:
    """Per phone class (and "all"): count, median and mean offset, median |offset| (seconds)."""
    groups: dict[str, list[float]] = {"all": []}
    for sym, d in pairs:
        groups.setdefault(phone_class(sym), []).append(d)
        groups["all"].append(d)
    out = {}
    for name, vals in groups.items():
        v = np.asarray(vals, dtype=np.float64)
        if v.size:
            out[name] = {
                "n": float(v.size),
                "median": float(np.median(v)),
                "mean": float(np.mean(v)),
                "median_abs": float(np.median(np.abs(v))),
            }
    return out
