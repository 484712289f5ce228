"""Scores of one predicted sequence against its ground truth, and their totals over a test set.

Thresholds are stated here once: a phone counts as "lips closed" when the midline lip gap
falls below CLOSED_MM at some frame inside it, an open vowel as "open" when the gap exceeds
OPEN_MM, a W/UW/OW as "rounded" when the mouth (corner to corner) narrows below ROUNDED_WIDTH
of the clip's median width, and a blink is a dip of an eyelid gap below BLINK_FRACTION of its
rest opening ("full" when it dips below FULL_BLINK_FRACTION; "sealed" when, at its deepest
frame, the lid margins stand no more than SEALED_MARGIN_MM apart anywhere across the eye: a
gap at the pupil alone can hide a slit beside it). LVE is also split by what the
frame is saying (FRAME_CLASSES): where a method loses. The lip gap's correlation with a
reference (the truth, or the articulation model on the forced alignment) is pooled over clips
at every lag within LAGS: a method can be right but late.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..assets_build.eyelids import EyeLids, template_lids, widest_margin_gap
from ..data.phones import BILABIALS, SIL, Phone, phone_spans
from ..runtime.metrics import (
    eyelid_gap,
    lip_gap,
    lip_vertex_errors,
    mouth_width,
    upper_face_dynamics_deviation,
)
from ..runtime.template import Template

CLOSED_MM = 1.0
OPEN_MM = 3.0
OPEN_VOWELS = frozenset(("AA", "AE", "AH", "AO", "AW", "AY"))
ROUNDED = frozenset(("W", "UW", "OW"))
ROUNDED_WIDTH = 0.94  # of the clip's median mouth width (full mouthPucker: 0.84, jawOpen 0.97)
BLINK_FRACTION = 0.3
FULL_BLINK_FRACTION = 0.15
SEALED_MARGIN_MM = 0.3  # the data's closed lids: <= 0.21 mm (p90 of corpus faces at the cap)
EYES_OPEN_FRACTION = 0.6  # of the neutral eyelid gap: "eyes open" in a pause
SLACK = 3  # frames either side of a P/B/M in which a seal counts as a timing slip, not a miss
LAGS = tuple(range(-5, 6))  # frames; > 0: the prediction is late
FLAT_M = 1e-6  # a signal whose standard deviation is under 1 micrometre does not move
FRAME_CLASSES = ("silence", "bilabial", "open_vowel", "other")  # frame_classes' codes 0-3
SIDES = ("left", "right")


@dataclass
class LagSums:
    """Pooled sums for Pearson's r between a predicted and a reference signal at each lag of
    LAGS (pred[t + lag] against ref[t]), each clip centred on its own mean first: pooling
    clips must not reward getting their mean levels right."""

    n: np.ndarray = field(default_factory=lambda: np.zeros(len(LAGS)))
    sp: np.ndarray = field(default_factory=lambda: np.zeros(len(LAGS)))
    sr: np.ndarray = field(default_factory=lambda: np.zeros(len(LAGS)))
    spp: np.ndarray = field(default_factory=lambda: np.zeros(len(LAGS)))
    srr: np.ndarray = field(default_factory=lambda: np.zeros(len(LAGS)))
    spr: np.ndarray = field(default_factory=lambda: np.zeros(len(LAGS)))

    def add_clip(self, pred: np.ndarray, ref: np.ndarray) -> None:
        n = min(len(pred), len(ref))
        p = np.asarray(pred[:n], np.float64)
        r = np.asarray(ref[:n], np.float64)
        p, r = p - p.mean(), r - r.mean()
        for k, lag in enumerate(LAGS):
            if abs(lag) >= n:  # a clip shorter than the lag has no pairs at it
                continue
            a, b = (p[lag:], r[: n - lag]) if lag >= 0 else (p[: n + lag], r[-lag:])
            self.n[k] += len(a)
            self.sp[k] += a.sum()
            self.sr[k] += b.sum()
            self.spp[k] += a @ a
            self.srr[k] += b @ b
            self.spr[k] += a @ b

    def add(self, other: LagSums) -> None:
        for name in ("n", "sp", "sr", "spp", "srr", "spr"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def correlations(self) -> np.ndarray:
        """(len(LAGS),) Pearson's r; NaN where a signal does not vary (a static face: its
        centred lip gap is float rounding, under FLAT_M)."""
        cov = self.n * self.spr - self.sp * self.sr
        var_p, var_r = self.n * self.spp - self.sp**2, self.n * self.srr - self.sr**2
        moving = (var_p > (self.n * FLAT_M) ** 2) & (var_r > (self.n * FLAT_M) ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(moving, cov / np.sqrt(np.maximum(var_p * var_r, 1e-300)), np.nan)

    def best(self) -> tuple[float, float]:
        """The lag (frames) of the highest correlation and that correlation (NaN, NaN when
        a signal never moves)."""
        corr = self.correlations()
        if np.all(np.isnan(corr)):
            return float("nan"), float("nan")
        k = int(np.nanargmax(corr))
        return float(LAGS[k]), float(corr[k])

    def spreads(self) -> tuple[float, float]:
        """Standard deviations of the (centred) predicted and reference signals at lag 0."""
        k = LAGS.index(0)
        n = max(self.n[k], 1.0)
        var_p = self.spp[k] / n - (self.sp[k] / n) ** 2
        var_r = self.srr[k] / n - (self.sr[k] / n) ** 2
        return float(np.sqrt(max(var_p, 0.0))), float(np.sqrt(max(var_r, 0.0)))


_COUNTS = (
    "frames",
    "lve_sum",
    "fdd_sum",
    "sequences",
    "bilabials",
    "closed",
    "closed_near",
    "open_vowels",
    "opened",
    "rounds",
    "rounded",
    "blinks",
    "blink_events",
    "full_blinks",
    "sealed_blinks",
    "seconds",
    "pause_blinks",
    "pause_seconds",
)


@dataclass
class Totals:
    """Running sums over sequences (frame-weighted where the metric is per frame)."""

    frames: int = 0
    lve_sum: float = 0.0
    fdd_sum: float = 0.0
    sequences: int = 0
    bilabials: int = 0
    closed: int = 0
    closed_near: int = 0  # P/B/M sealed within SLACK frames of the phone
    open_vowels: int = 0
    opened: int = 0
    rounds: int = 0
    rounded: int = 0
    blinks: float = 0.0  # closures, mean of both eyes
    blink_events: int = 0  # closures, both eyes counted
    full_blinks: int = 0
    sealed_blinks: int = 0  # margins met all across the eye at the blink's deepest frame
    seconds: float = 0.0
    pause_blinks: float = 0.0  # closures starting in silence (no phone but "sil"), both eyes' mean
    pause_seconds: float = 0.0  # silence in the transcript's phones
    pbm_gap_mm: list[float] = field(default_factory=list)  # smallest lip gap in each P/B/M
    gap_mm: list[float] = field(default_factory=list)  # the lip gap of every frame
    pause_frames: dict[str, int] = field(default_factory=dict)  # kind of silence -> eye-frames
    pause_open: dict[str, int] = field(default_factory=dict)  # ... with the eyes open
    lag: LagSums | None = None
    extra: dict[str, list[float]] = field(default_factory=dict)

    def add(self, other: Totals) -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.pbm_gap_mm.extend(other.pbm_gap_mm)
        self.gap_mm.extend(other.gap_mm)
        for name in ("pause_frames", "pause_open"):
            mine = getattr(self, name)
            for k, v in getattr(other, name).items():
                mine[k] = mine.get(k, 0) + v
        if other.lag is not None:
            if self.lag is None:
                self.lag = LagSums()
            self.lag.add(other.lag)
        for k, v in other.extra.items():
            self.extra.setdefault(k, []).extend(v)

    def summary(self) -> dict[str, float]:
        def ratio(a: float, b: float) -> float:
            return a / b if b else float("nan")  # nothing to count: not 0, not 1

        out = {
            "LVE_mm": 1000 * ratio(self.lve_sum, self.frames),
            "FDD_mm": 1000 * ratio(self.fdd_sum, self.sequences),
            "pbm_closure": ratio(self.closed, self.bilabials),
            f"pbm_closure_within_{SLACK}f": ratio(self.closed_near, self.bilabials),
            "open_vowel_rate": ratio(self.opened, self.open_vowels),
            "rounding_rate": ratio(self.rounded, self.rounds),
            "blinks_per_min": 60 * ratio(self.blinks, self.seconds),
            # where blinks fall: the data's are independent of speech, sampled ones need not be
            "blinks_per_min_speech": 60
            * ratio(self.blinks - self.pause_blinks, self.seconds - self.pause_seconds),
            "blinks_per_min_pauses": 60 * ratio(self.pause_blinks, self.pause_seconds),
            "full_blink_share": ratio(self.full_blinks, self.blink_events),
            "sealed_blink_share": ratio(self.sealed_blinks, self.blink_events),
            # how wide the mouth opens (what mouth strength scales)
            "lip_gap_p95_mm": float(np.percentile(self.gap_mm, 95)) if self.gap_mm else np.nan,
        }
        if self.lag is not None:
            lag, corr = self.lag.best()
            out["lip_corr_lag0"] = float(self.lag.correlations()[LAGS.index(0)])
            out["lip_corr_best"] = corr
            out["lip_lag_frames"] = lag
        for kind in sorted(self.pause_frames):
            out[f"eyes_open_pause_{kind}"] = ratio(self.pause_open[kind], self.pause_frames[kind])
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


def blink_spans(gap: np.ndarray, rest: float) -> list[tuple[int, int]]:
    """Each closure (a run of gap < BLINK_FRACTION * rest; a double blink is two): its
    frames [first, stop)."""
    closed = np.concatenate([[False], np.asarray(gap) < BLINK_FRACTION * rest, [False]])
    edges = np.flatnonzero(np.diff(closed.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def blink_depths(gap: np.ndarray, rest: float) -> list[float]:
    """Each closure's smallest gap as a fraction of rest."""
    return [float(np.min(gap[a:b]) / rest) for a, b in blink_spans(gap, rest)]


def count_blinks(gap: np.ndarray, rest: float) -> int:
    """Closures: entries into gap < BLINK_FRACTION * rest (a double blink counts twice)."""
    return len(blink_spans(gap, rest))


def score(
    pred: np.ndarray,
    truth: np.ndarray | None,
    rest: np.ndarray,
    phones: Sequence[Phone],
    template: Template,
    fps: float = 30.0,
    reference: np.ndarray | None = None,
) -> Totals:
    """Totals of one sequence: pred (T, V, 3) vertices, rest (V, 3) the neutral face, truth
    (T, V, 3) or None for recordings without captured faces (then no LVE and FDD).
    `reference` (T, V, 3): what the lip gap is correlated with when there is no truth (the
    articulation model on the forced alignment); neither given: no correlation."""
    n = len(pred) if truth is None else min(len(pred), len(truth))
    pred = pred[:n]
    t = Totals(frames=n, sequences=1, seconds=n / fps)
    gap = lip_gap(pred, template)
    t.gap_mm = (1000 * gap).tolist()
    classes = frame_classes(phones, n, fps)
    if truth is not None:
        truth = truth[:n]
        errors = lip_vertex_errors(pred, truth, template.region("lips"))
        t.lve_sum = float(errors.sum())
        for code, name in enumerate(FRAME_CLASSES):  # frame-weighted means in the summary
            t.extra[f"LVE_{name}_mm"] = (1000 * errors[classes == code]).tolist()
        upper = template.region("upper_face")
        t.fdd_sum = upper_face_dynamics_deviation(pred, truth, rest, upper)
        reference = truth
    if reference is not None:
        t.lag = LagSums()
        t.lag.add_clip(gap, lip_gap(reference[:n], template))
    for frames in phone_spans(phones, BILABIALS, n, fps):
        t.bilabials += 1
        inside = float(gap[frames].min())
        t.closed += int(inside < CLOSED_MM / 1000)
        near = gap[max(0, frames.min() - SLACK) : frames.max() + 1 + SLACK]
        t.closed_near += int(near.min() < CLOSED_MM / 1000)
        t.pbm_gap_mm.append(1000 * inside)
    for frames in phone_spans(phones, OPEN_VOWELS, n, fps):
        t.open_vowels += 1
        t.opened += int(gap[frames].max() > OPEN_MM / 1000)
    width = mouth_width(pred, template)
    median = float(np.median(width)) if n else 0.0
    for frames in phone_spans(phones, ROUNDED, n, fps):
        t.rounds += 1
        t.rounded += int(width[frames].min() < ROUNDED_WIDTH * median)
    silent = classes == 0
    t.pause_seconds = float(silent.sum()) / fps
    for side in SIDES:  # blinks, not lids: the mean of both eyes
        lid = eyelid_gap(pred, template, side)
        open_gap = float(eyelid_gap(rest, template, side))
        spans = blink_spans(lid, open_gap)
        t.blinks += len(spans) / 2
        t.blink_events += len(spans)
        t.full_blinks += sum(
            float(lid[a:b].min()) < FULL_BLINK_FRACTION * open_gap for a, b in spans
        )
        deepest = [pred[a + int(np.argmin(lid[a:b]))] for a, b in spans]
        t.sealed_blinks += sum(
            widest_margin_gap(v, [_lids(template)[side]]) <= SEALED_MARGIN_MM / 1000
            for v in deepest
        )
        t.pause_blinks += sum(bool(silent[a]) for a, _ in spans) / 2
    return t


_LIDS: dict[int, tuple[Template, dict[str, EyeLids]]] = {}


def _lids(template: Template) -> dict[str, EyeLids]:
    """The template's lid margins, found once per template (a mesh walk; kept by identity,
    as a Template holds arrays and has no hash)."""
    if id(template) not in _LIDS:
        _LIDS[id(template)] = template, template_lids(template)
    return _LIDS[id(template)][1]


def score_pause(
    pred: np.ndarray, rest: np.ndarray, frames: slice, kind: str, template: Template
) -> Totals:
    """Eyes open in a long pause: of the pause's frames (both eyes counted), how many have an
    eyelid gap of at least EYES_OPEN_FRACTION of the neutral face's (a network that learned
    "silence = end of clip" may close or droop the eyes there)."""
    t = Totals()
    t.pause_frames[kind] = t.pause_open[kind] = 0
    for side in SIDES:
        lid = eyelid_gap(pred[frames], template, side)
        t.pause_frames[kind] += len(lid)
        t.pause_open[kind] += int(
            np.count_nonzero(lid >= EYES_OPEN_FRACTION * eyelid_gap(rest, template, side))
        )
    return t
