"""Scores of one predicted sequence against its ground truth, and their totals over a test set.

Thresholds are stated here once: a phone counts as "lips closed" when the midline lip gap
falls below CLOSED_MM at some frame inside it, an open vowel as "open" when the gap exceeds
OPEN_MM, and a blink is a dip of an eyelid gap below BLINK_FRACTION of its rest opening.
LVE is also split by what the frame is saying (FRAME_CLASSES): where a method loses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..data.phones import BILABIALS, SIL, Phone, phone_spans
from ..metrics import eyelid_gap, lip_gap, lip_vertex_errors, upper_face_dynamics_deviation
from ..template import Template

CLOSED_MM = 1.0
OPEN_MM = 3.0
OPEN_VOWELS = frozenset(("AA", "AE", "AH", "AO", "AW", "AY"))
BLINK_FRACTION = 0.3
FRAME_CLASSES = ("silence", "bilabial", "open_vowel", "other")  # frame_classes' codes 0-3


@dataclass
class Totals:
    """Running sums over sequences (frame-weighted where the metric is per frame)."""

    frames: int = 0
    lve_sum: float = 0.0
    fdd_sum: float = 0.0
    sequences: int = 0
    bilabials: int = 0
    closed: int = 0
    open_vowels: int = 0
    opened: int = 0
    blinks: float = 0.0
    seconds: float = 0.0
    extra: dict[str, list[float]] = field(default_factory=dict)

    def add(self, other: Totals) -> None:
        for name in (
            "frames",
            "lve_sum",
            "fdd_sum",
            "sequences",
            "bilabials",
            "closed",
            "open_vowels",
            "opened",
            "blinks",
            "seconds",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.extra.items():
            self.extra.setdefault(k, []).extend(v)

    def summary(self) -> dict[str, float]:
        def ratio(a: float, b: float) -> float:
            return a / b if b else float("nan")  # nothing to count: not 0, not 1

        out = {
            "LVE_mm": 1000 * ratio(self.lve_sum, self.frames),
            "FDD_mm": 1000 * ratio(self.fdd_sum, self.sequences),
            "pbm_closure": ratio(self.closed, self.bilabials),
            "open_vowel_rate": ratio(self.opened, self.open_vowels),
            "blinks_per_min": 60 * ratio(self.blinks, self.seconds),
        }
        out.update({k: float(np.mean(v)) if v else float("nan") for k, v in self.extra.items()})
        return out


def frame_classes(phones: Sequence[Phone], n: int, fps: float) -> np.ndarray:
    """(n,) codes into FRAME_CLASSES: inside a P/B/M (as the closure score counts it), an open
    vowel, other speech, or silence (no phone but "sil")."""
    classes = np.zeros(n, np.int8)
    for p in phones:
        if p.symbol != SIL:
            classes[max(0, int(p.start * fps)) : int(np.ceil(p.end * fps))] = 3
    for code, symbols in ((2, OPEN_VOWELS), (1, BILABIALS)):
        for frames in phone_spans(phones, symbols, n, fps):
            classes[frames] = code
    return classes


def count_blinks(gap: np.ndarray, rest: float) -> int:
    """Closures: entries into gap < BLINK_FRACTION * rest (a double blink counts twice)."""
    closed = gap < BLINK_FRACTION * rest
    return int(np.count_nonzero(closed[1:] & ~closed[:-1]) + int(closed[0]))


def score(
    pred: np.ndarray,
    truth: np.ndarray | None,
    rest: np.ndarray,
    phones: Sequence[Phone],
    template: Template,
    fps: float = 30.0,
) -> Totals:
    """Totals of one sequence: pred (T, V, 3) vertices, rest (V, 3) the neutral face, truth
    (T, V, 3) or None for recordings without captured faces (then no LVE and FDD)."""
    n = len(pred) if truth is None else min(len(pred), len(truth))
    pred = pred[:n]
    t = Totals(frames=n, sequences=1, seconds=n / fps)
    if truth is not None:
        truth = truth[:n]
        errors = lip_vertex_errors(pred, truth, template.region("lips"))
        t.lve_sum = float(errors.sum())
        classes = frame_classes(phones, n, fps)
        for code, name in enumerate(FRAME_CLASSES):  # frame-weighted means in the summary
            t.extra[f"LVE_{name}_mm"] = (1000 * errors[classes == code]).tolist()
        upper = template.region("upper_face")
        t.fdd_sum = upper_face_dynamics_deviation(pred, truth, rest, upper)
    gap = lip_gap(pred, template)
    for frames in phone_spans(phones, BILABIALS, n, fps):
        t.bilabials += 1
        t.closed += int(gap[frames].min() < CLOSED_MM / 1000)
    for frames in phone_spans(phones, OPEN_VOWELS, n, fps):
        t.open_vowels += 1
        t.opened += int(gap[frames].max() > OPEN_MM / 1000)
    for side in ("left", "right"):  # blinks, not lids: the mean of both eyes
        lid = eyelid_gap(pred, template, side)
        t.blinks += count_blinks(lid, float(eyelid_gap(rest, template, side))) / 2
    return t
