"""One phone set (ARPAbet, 39 CMU phonemes + "sil") and maps from every engine's symbols to it.

Every engine speaks its own phone alphabet; the articulation model downstream needs one. An
engine symbol that is not in its map raises :class:`UnknownPhoneError` (never dropped silently),
so a new voice or engine version that emits something unexpected is caught at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: The 39 CMU dictionary phonemes, stress removed.
ARPABET: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
SIL = "sil"
PHONE_SET: frozenset[str] = frozenset((*ARPABET, SIL))
VOWELS: frozenset[str] = frozenset(
    ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
)
#: Phonemes during which the lips are closed (bilabials): the sharpest visual check of timing.
BILABIALS: frozenset[str] = frozenset(("P", "B", "M"))


@dataclass(frozen=True)
class Phone:
    """One phone segment: ARPAbet symbol (or "sil") and its time span in seconds."""

    symbol: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def phone_spans(phones: Sequence[Phone], symbols: frozenset[str], n: int, fps: float):
    """Frame index arrays of the phones in `symbols` (stress marks ignored): the frames
    sampled inside [start, end], 1e-9 of slack for float times on a frame, plus the frame
    nearest the middle, so a phone shorter than a frame still gets one. The frames the
    articulation model seals and tucks (`articulation.phone_frames`), the evaluation scores
    a phone on (a P/B/M is closed if the lips meet in one of them) and training weights."""
    for p in phones:
        if p.symbol.rstrip("012").upper() in symbols:
            a, b = int(np.ceil(p.start * fps - 1e-9)), int(np.floor(p.end * fps + 1e-9))
            frames = np.arange(a, b + 1)
            mid = int(round((p.start + p.end) / 2 * fps))
            frames = np.union1d(frames, [mid])
            frames = frames[(frames >= 0) & (frames < n)]
            if len(frames):
                yield frames


class UnknownPhoneError(ValueError):
    """An engine emitted a phone symbol that its map does not know."""

    def __init__(self, symbol: str, engine: str) -> None:
        super().__init__(
            f"unknown phone symbol {symbol!r} from engine {engine!r}: add it to "
            f"core/data/phones.py so it maps onto ARPAbet"
        )
        self.symbol = symbol
        self.engine = engine

    def __reduce__(self):  # so a corpus worker process can send it back whole
        return type(self), (self.symbol, self.engine)


# --- espeak-ng (phoneme mnemonics of the English tables en, en-us, en-us-nyc, en-rp, en-sc,
# en-n, en-wm, en-wi and the base1 consonants they use). Pauses map to sil; zero-length virtual
# symbols map to () and vanish on purpose.
_ESPEAK_PAUSES = ("_", "_:", "_!", "_|", "_::", "_;_", "_^_", "_X1", "||")
ESPEAK_MAP: dict[str, tuple[str, ...]] = {
    **{p: (SIL,) for p in _ESPEAK_PAUSES},
    **{v: () for v in (":", "-", "#@", "#a", "#e", "#i", "#o", "#u", "#X1", "*", "**")},
    # consonants
    "p": ("P",), "b": ("B",), "t": ("T",), "t2": ("T",), "t#": ("T",), "t[": ("T",),
    "?": ("T",), "d": ("D",), "d#": ("D",), "d[": ("D",), "k": ("K",), "g": ("G",),
    "f": ("F",), "v": ("V",), "v#": ("V",), "T": ("TH",), "D": ("DH",), "s": ("S",),
    "z": ("Z",), "z#": ("Z",), "z/2": ("Z",), "S": ("SH",), "Z": ("ZH",), "h": ("HH",),
    "C": ("HH",), "x": ("K",), "tS": ("CH",), "dZ": ("JH",), "m": ("M",), "n": ("N",),
    "N": ("NG",), "l": ("L",), "l/": ("L",), "l/2": ("L",), "l/3": ("L",), "l#": ("L",),
    "L": ("L",), "r": ("R",), "r-": ("R",), "r/": ("R",), "R": ("R",), "R2": ("R",),
    "w": ("W",), "w#": ("W",), "j": ("Y",), ";": ("Y",),
    # syllabic consonants
    "@L": ("AH", "L"), "l-": ("AH", "L"), "m-": ("AH", "M"), "n-": ("AH", "N"),
    "N-": ("AH", "NG"), "r-#": ("ER",),
    # vowels
    "@": ("AH",), "@-": ("AH",), "@2": ("AH",), "@5": ("AH",), "@#": ("AH",), "a2": ("AH",),
    "V": ("AH",), "3": ("ER",), "3:": ("ER",), "a": ("AE",), "a#": ("AE",), "a#2": ("AE",),
    "a/": ("AE",), "aa": ("AE",), "A:": ("AA",), "A#": ("AA",), "A~": ("AA",), "0": ("AA",),
    "0#": ("AA",), "02": ("AO",), "O": ("AO",), "O:": ("AO",), "O2": ("AO",), "O~": ("AO",),
    "E": ("EH",), "E#": ("EH",), "E2": ("EH",), "e#": ("EH",), "e": ("EY",), "e:": ("EY",),
    "eI": ("EY",), "I": ("IH",), "I#": ("IH",), "I2": ("IH",), "I2#": ("IH",), "i": ("IY",),
    "i:": ("IY",), "U": ("UH",), "u:": ("UW",), "u": ("UW",), "o": ("OW",), "o:": ("OW",),
    "oU": ("OW",), "oU#": ("OW",), "aU": ("AW",), "aI": ("AY",), "aI2": ("AY",), "OI": ("OY",),
    # r-coloured vowels (the R goes away for non-rhotic accents, see espeak_to_arpabet)
    "A@": ("AA", "R"), "O@": ("AO", "R"), "o@": ("AO", "R"), "e@": ("EH", "R"),
    "i@": ("IH", "R"), "i@3": ("IH", "R"), "U@": ("UH", "R"), "IR": ("IH", "R"),
    "VR": ("AH", "R"), "aI@": ("AY", "ER"), "aI3": ("AY", "ER"), "aU@": ("AW", "ER"),
}  # fmt: skip
#: Non-rhotic accents: espeak symbols whose mapping changes there.
_ESPEAK_NON_RHOTIC: dict[str, tuple[str, ...]] = {
    "3": ("AH",), "A@": ("AA",), "O@": ("AO",), "o@": ("AO",), "e@": ("EH",), "i@": ("IH", "AH"),
    "i@3": ("IH", "AH"), "U@": ("UH", "AH"), "IR": ("IH",), "VR": ("AH",), "aI@": ("AY", "AH"),
    "aI3": ("AY", "AH"), "aU@": ("AW", "AH"),
}  # fmt: skip

# --- flite (CMU lexicon phone set, lower case) and festival (the "radio" phone set, which the
# kal/ked diphone voices and the HTS arctic voices use).
_CMU_LOWER: dict[str, tuple[str, ...]] = {p.lower(): (p,) for p in ARPABET}
FLITE_MAP: dict[str, tuple[str, ...]] = {**_CMU_LOWER, "pau": (SIL,), "ax": ("AH",)}
FESTIVAL_MAP: dict[str, tuple[str, ...]] = {
    **_CMU_LOWER,
    **{p: (SIL,) for p in ("pau", "h#", "brth", "ssil", "#")},
    "ax": ("AH",), "axr": ("ER",), "dx": ("D",), "el": ("AH", "L"), "em": ("AH", "M"),
    "en": ("AH", "N"), "hv": ("HH",), "nx": ("N",), "ix": ("IH",),
}  # fmt: skip


# --- festival voices of other languages (their own phone sets). Why they are here: they add
# vocal tracts; the face needs only the mouth shape, so each phone maps to the ARPAbet phone
# whose lips look alike (a trill to R, a front rounded vowel to a rounded one, a palatal nasal
# to N, a glottal stop to T as for espeak), an affricate to its two halves.
def _same(symbols: str, phone: str) -> dict[str, tuple[str, ...]]:
    return {s: (phone,) for s in symbols.split()}


_CONSONANTS = {p.lower(): (p,) for p in ("P", "T", "K", "B", "D", "G", "F", "V", "S", "Z", "M",
                                         "N", "L", "R", "W")}  # fmt: skip
ITALIAN_MAP: dict[str, tuple[str, ...]] = {
    **_CONSONANTS, **_same("i i1", "IY"), **_same("e e1", "EY"), **_same("E E1", "EH"),
    **_same("a a1", "AA"), **_same("o o1", "OW"), **_same("O O1", "AO"), **_same("u u1", "UW"),
    "j": ("Y",), "S": ("SH",), "Z": ("ZH",), "ts": ("T", "S"), "tS": ("CH",), "dz": ("D", "Z"),
    "dZ": ("JH",), "J": ("N",), "ng": ("NG",), "nf": ("V",), "L": ("L",), "#": (SIL,),
}  # fmt: skip
FINNISH_MAP: dict[str, tuple[str, ...]] = {
    **{k + long: v for k, v in _CONSONANTS.items() for long in ("", ":")},
    **_same("a a:", "AA"), **_same("e e:", "EH"), **_same("i i:", "IY"), **_same("o o:", "OW"),
    **_same("u u: y y:", "UW"), **_same("@ @:", "AE"), **_same("7 7:", "OW"), "&": ("AO",),
    **_same("T T:", "TH"), **_same("D:", "DH"), **_same("S S:", "SH"), **_same("Z:", "ZH"),
    **_same("h h:", "HH"), **_same("N N:", "NG"), **_same("L L:", "L"), **_same("j j:", "Y"),
    **_same("## #", SIL),
}  # fmt: skip
CATALAN_MAP: dict[str, tuple[str, ...]] = {
    **_CONSONANTS, "ax": ("AH",), **_same("a a1", "AA"), **_same("e e1", "EY"),
    **_same("E E1", "EH"), **_same("i i1", "IY"), **_same("o o1", "OW"), **_same("O O1", "AO"),
    **_same("u u1", "UW"), "j": ("Y",), "J": ("N",), "L": ("L",), "rr": ("R",), "S": ("SH",),
    "Z": ("ZH",), **_same("pau _ #", SIL),
}  # fmt: skip
CZECH_MAP: dict[str, tuple[str, ...]] = {
    **_CONSONANTS, **_same("a a:", "AA"), **_same("e e:", "EH"), **_same("i i:", "IY"),
    **_same("o o:", "AO"), **_same("u u:", "UW"), "c": ("T", "S"), "c~": ("CH",), "ch": ("K",),
    "d~": ("D",), "dz": ("D", "Z"), "dz~": ("JH",), "h": ("HH",), "j": ("Y",), "n*": ("NG",),
    "n~": ("N",), "r~": ("R",), "r~*": ("R",), "s~": ("SH",), "t~": ("T",), "z~": ("ZH",),
    "_": ("T",), "#": (SIL,),
}  # fmt: skip

# --- IPA as espeak-ng writes it for English (piper's input alphabet). Multi-character keys are
# matched longest first by tokenize_ipa.
IPA_MAP: dict[str, tuple[str, ...]] = {
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "ɡ": ("G",), "g": ("G",),
    "ɾ": ("D",), "ʔ": ("T",), "f": ("F",), "v": ("V",), "θ": ("TH",), "ð": ("DH",), "s": ("S",),
    "z": ("Z",), "ʃ": ("SH",), "ʒ": ("ZH",), "h": ("HH",), "ç": ("HH",), "x": ("K",),
    "tʃ": ("CH",), "dʒ": ("JH",), "m": ("M",), "n": ("N",), "ŋ": ("NG",), "l": ("L",),
    "ɫ": ("L",), "ɹ": ("R",), "r": ("R",), "w": ("W",), "j": ("Y",),
    "n̩": ("AH", "N"), "l̩": ("AH", "L"), "m̩": ("AH", "M"), "əl": ("AH", "L"),
    "ə": ("AH",), "ɐ": ("AH",), "ʌ": ("AH",), "ᵻ": ("IH",), "ɪ": ("IH",), "i": ("IY",),
    "iː": ("IY",), "ɛ": ("EH",), "e": ("EY",), "eɪ": ("EY",), "æ": ("AE",), "a": ("AE",),
    "ɑ": ("AA",), "ɑː": ("AA",), "ɒ": ("AA",), "ɔ": ("AO",), "ɔː": ("AO",), "o": ("OW",),
    "oʊ": ("OW",), "əʊ": ("OW",), "ʊ": ("UH",), "u": ("UW",), "uː": ("UW",), "aɪ": ("AY",),
    "aʊ": ("AW",), "ɔɪ": ("OY",), "ɚ": ("ER",), "ɜː": ("ER",), "ɜ": ("ER",), "ɝ": ("ER",),
    "ɑːɹ": ("AA", "R"), "ɑɹ": ("AA", "R"), "ɔːɹ": ("AO", "R"), "ɔɹ": ("AO", "R"),
    "oːɹ": ("AO", "R"), "oɹ": ("AO", "R"), "ɛɹ": ("EH", "R"), "ɪɹ": ("IH", "R"),
    "ʊɹ": ("UH", "R"), "aɪɚ": ("AY", "ER"), "aɪə": ("AY", "AH"), "aʊɚ": ("AW", "ER"),
    "ɪə": ("IH", "AH"), "eə": ("EH", "AH"), "ʊə": ("UH", "AH"), "iə": ("IY", "AH"),
    "ː": (),
}  # fmt: skip
#: IPA marks that carry no phone of their own (stress, length, syllable, tie marks).
IPA_MARKS = frozenset("ˈˌ.ˑ‿͡ʲʰ̃")

#: MBROLA's SAMPA as espeak-ng writes it for the us1/us2/us3 (American) and en1 (British)
#: databases; aspiration marks and a flap keep their stop's lips, syllabic l/n/r is a vowel +
#: L/N/R, the French nasal A~ (Mont Blanc) AA.
MBROLA_MAP: dict[str, tuple[str, ...]] = {
    **_CONSONANTS, **_same("p_h", "P"), **_same("t_h 4", "T"), **_same("k_h", "K"),
    "g": ("G",), "h": ("HH",), "j": ("Y",), "T": ("TH",), "D": ("DH",), "S": ("SH",),
    "Z": ("ZH",), "tS": ("CH",), "dZ": ("JH",), "N": ("NG",), "5": ("L",), "l=": ("AH", "L"),
    "n-": ("AH", "N"), "r=": ("ER",), "3:": ("ER",), **_same("i i:", "IY"), "I": ("IH",),
    **_same("E e", "EH"), "{": ("AE",), **_same("A A: Q A~", "AA"), **_same("O O: O2", "AO"),
    "U": ("UH",), **_same("u u:", "UW"), **_same("V @", "AH"), **_same("EI eI", "EY"),
    **_same("AI aI", "AY"), "OI": ("OY",), "aU": ("AW",), "@U": ("OW",), "I@": ("IH", "AH"),
    "e@": ("EH", "AH"), "U@": ("UH", "AH"), "_": (SIL,),
}  # fmt: skip

MAPS: dict[str, dict[str, tuple[str, ...]]] = {
    "espeak": ESPEAK_MAP,
    "flite": FLITE_MAP,
    "festival": FESTIVAL_MAP,
    "festival-italian": ITALIAN_MAP,
    "festival-finnish": FINNISH_MAP,
    "festival-catalan": CATALAN_MAP,
    "festival-czech": CZECH_MAP,
    "ipa": IPA_MAP,
    "mbrola": MBROLA_MAP,
}


def to_arpabet(symbol: str, engine: str) -> tuple[str, ...]:
    """ARPAbet phones for one engine symbol (empty for zero-length marks)."""
    try:
        table = MAPS[engine]
    except KeyError:
        raise ValueError(f"no phone map for engine {engine!r}; known: {sorted(MAPS)}") from None
    try:
        return table[symbol]
    except KeyError:
        raise UnknownPhoneError(symbol, engine) from None


def espeak_to_arpabet(symbol: str, rhotic: bool = True) -> tuple[str, ...]:
    """Map an espeak-ng phoneme mnemonic; non-rhotic accents drop the R of r-coloured vowels."""
    if not rhotic and symbol in _ESPEAK_NON_RHOTIC:
        return _ESPEAK_NON_RHOTIC[symbol]
    return to_arpabet(symbol, "espeak")


def tokenize_ipa(text: str) -> list[str]:
    """Split an IPA string into IPA_MAP keys (longest match first), dropping stress marks.

    Raises UnknownPhoneError for a character that starts no known phone.
    """
    keys = sorted(IPA_MAP, key=len, reverse=True)
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in IPA_MARKS or ch.isspace():
            i += 1
            continue
        for key in keys:
            if text.startswith(key, i):
                out.append(key)
                i += len(key)
                break
        else:
            raise UnknownPhoneError(ch, "ipa")
    return out


def segments_to_phones(
    segments: Iterable[tuple[Sequence[str], float, float]], total: float
) -> list[Phone]:
    """Turn (arpabet phones, start, end) segments into a gap-free Phone list over [0, total].

    A segment with several phones is split evenly; gaps become "sil"; neighbouring "sil"s merge;
    zero-length phones vanish. Why: downstream code indexes frames by phone and must never find
    a hole, an overlap, or a symbol outside PHONE_SET.
    """
    out: list[Phone] = []
    cursor = 0.0
    for symbols, start, end in segments:
        start = min(max(start, cursor), total)
        end = min(max(end, start), total)
        if start > cursor:
            _append(out, SIL, cursor, start)
        if not symbols:
            # Zero-length mark or dropped symbol: its time (if any) goes to the previous phone.
            if out and end > start:
                out[-1] = Phone(out[-1].symbol, out[-1].start, end)
            elif end > start:
                _append(out, SIL, start, end)
            cursor = max(cursor, end)
            continue
        step = (end - start) / len(symbols)
        for k, sym in enumerate(symbols):
            if sym not in PHONE_SET:
                raise ValueError(f"{sym!r} is not an ARPAbet phone")
            _append(out, sym, start + k * step, start + (k + 1) * step)
        cursor = end
    if cursor < total:
        _append(out, SIL, cursor, total)
    return out


def _append(out: list[Phone], symbol: str, start: float, end: float) -> None:
    if end <= start:
        return
    if out and out[-1].symbol == SIL and symbol == SIL:
        out[-1] = Phone(SIL, out[-1].start, end)
    else:
        out.append(Phone(symbol, start, end))


def check_phones(phones: Sequence[Phone], total: float, tol: float = 1e-6) -> None:
    """Raise ValueError unless phones tile [0, total] with known symbols and no gaps."""
    if not phones:
        raise ValueError("no phones")
    if abs(phones[0].start) > tol or abs(phones[-1].end - total) > tol:
        raise ValueError(f"phones span {phones[0].start}..{phones[-1].end}, clip is 0..{total}")
    for a, b in zip(phones, phones[1:], strict=False):
        if abs(a.end - b.start) > tol:
            raise ValueError(f"gap or overlap between {a} and {b}")
    for p in phones:
        if p.symbol not in PHONE_SET:
            raise ValueError(f"{p.symbol!r} is not an ARPAbet phone")
        if p.end < p.start:
            raise ValueError(f"negative duration: {p}")
