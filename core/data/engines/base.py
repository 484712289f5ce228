"""Types shared by the speech engines: the synthesised utterance and the errors they raise,
and the timeline of engines that print phones with end times but no words."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ..phones import SIL, Phone, segments_to_phones, to_arpabet


class EngineUnavailableError(RuntimeError):
    """An engine (library, program or voice data) is not installed; the message says what to
    install."""


@dataclass
class Utterance:
    """Synthesised speech with its phone timeline.

    ``phones`` tile the whole clip (0 .. len(audio)/sample_rate) in ARPAbet + "sil".
    ``timing`` says where their times come from: "engine" (the synthesiser's own timeline) or
    "aligned" (pocketsphinx forced alignment to the engine's own phone sequence).
    ``engine_phones`` keeps the engine's own timeline for diagnostics either way.
    """

    audio: np.ndarray
    sample_rate: int
    phones: list[Phone]
    voice_id: str
    text: str
    timing: str = "engine"
    engine_phones: list[Phone] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.audio) / float(self.sample_rate)


@dataclass(frozen=True)
class EngineResult:
    """What an engine module returns: audio plus its own phone timeline and word grouping.

    ``words`` groups the spoken ARPAbet phones by word (no "sil"), for alignment.
    """

    audio: np.ndarray
    sample_rate: int
    phones: list[Phone]
    words: list[list[str]]


def as_float32(samples: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """int16 or float samples → contiguous float32 mono in [-1, 1]."""
    a = np.asarray(samples)
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / 32768.0
    a = a.astype(np.float32).reshape(-1) * np.float32(scale)
    return np.ascontiguousarray(np.clip(a, -1.0, 1.0))


def pause_timeline(
    marks: Iterable[tuple[str, float]], engine: str, total: float
) -> tuple[list[Phone], list[list[str]]]:
    """(engine symbol, end time) marks -> (ARPAbet phones over [0, total], words). Such engines
    print no words, so the phones between two pauses stand for one."""
    segs, words, start = [], [[]], 0.0
    for symbol, end in marks:
        arpa = to_arpabet(symbol, engine)
        segs.append((arpa, start, end))
        start = end
        if arpa == (SIL,):
            words.append([])
        else:
            words[-1].extend(arpa)
    return segments_to_phones(segs, total), [w for w in words if w]
