"""Phones -> ARKit jaw and mouth weight curves with a dominance-function coarticulation model.

Why a model and not a viseme lookup: visible speech is not a string of poses. Every phone pulls
each articulator toward its target with a strength (dominance) that rises before the sound and
fades after it, and neighbours compete (Cohen & Massaro 1993). That gives anticipatory rounding,
lips that borrow the vowel's shape during /k/ or /h/, and a jaw that rides the vowels. What the
blend cannot promise (lips sealed on P/B/M) is enforced afterwards on the mesh itself.

Targets are physical (mm of lip opening, mm of mouth width) and become ARKit weights through
slopes measured on the face (`calibrate`), so one table serves the template and every identity's
own deformation-transferred units. See docs/FACE_MOTION.md for the table and the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from ..runtime.template import load_template
from .mouth import (
    MM,
    TUCK_CONTACT,
    TUCK_JAW,
    FaceCalibration,
    template_calibration,
)
from .phones import BILABIALS, PHONE_SET, SIL, Phone, phone_spans

#: Blended articulatory parameters (units in the Viseme docstring).
PARAMS = ("jaw", "sep", "spread", "pucker", "funnel", "close", "tuck", "tongue")
P = {name: i for i, name in enumerate(PARAMS)}
SEALED_MAX_APERTURE = -0.1 * MM  # every rim column at or below this on P/B/M: the lips touch
CLOSED_MIDLINE_APERTURE = -0.8 * MM  # what full "close" aims for at the midline: lips pressed
TUCK_REACHED = 1.5 * MM  # F/V frames farther than this from the teeth get the contact solve
REACH = 0.6  # s: dominance is negligible (< e^-6) farther than this from a segment
PRIOR_DOMINANCE = 1e-3  # a faint pull to rest, so the blend is defined everywhere
# Decay rates (1/s) before (anticipation) and after (carry-over) each segment, per parameter.
# Lip shape anticipates far (rounding starts up to ~200 ms early); closures are local.
THETA_BEFORE = np.array([20.0, 18.0, 10.0, 9.0, 9.0, 22.0, 22.0, 25.0])
THETA_AFTER = np.array([16.0, 18.0, 16.0, 16.0, 16.0, 45.0, 30.0, 25.0])
# Share of the speaker's lead by which each parameter's plateau moves ahead of the sound. Lip
# contact (close, tuck) is what makes the sound, so its plateau stays on the acoustics; its
# approach still starts early through the anticipatory decay.
LEAD_SHARE = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Viseme:
    """Articulatory targets of one phone. Why physical units: they are measured on the mesh
    (calibrate) instead of guessed as blendshape weights, and stay valid for other faces."""

    jaw: float = 0.0  # mm of midline lip opening produced by the jaw (vowel height)
    sep: float = 0.0  # mm of extra opening by the lips themselves (upper lip up, lower down)
    spread: float = 0.0  # mm of mouth widening (stretch + a little smile)
    pucker: float = 0.0  # mm of mouth narrowing by mouthPucker (rounding)
    funnel: float = 0.0  # mm of mouth narrowing by mouthFunnel (rounding with flared lips)
    close: float = 0.0  # 1 = lips sealed (bilabials)
    tuck: float = 0.0  # 1 = lower lip against the upper incisors (labiodentals)
    tongue: float = 0.0  # tongueOut weight (dental fricatives show the tongue tip)

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, f.name) for f in fields(self)], dtype=np.float64)


def _round(mm: float, funnel_share: float) -> dict[str, float]:
    return {"pucker": mm * (1.0 - funnel_share), "funnel": mm * funnel_share}


V = Viseme
#: ARPAbet -> targets. Openings follow vowel height (open AA/AE > mid > close IY/UW); rounding
#: and spreading widths are typical lip-width changes (~-20 % for /u/, +10 % for /i/).
VISEMES: dict[str, Viseme] = {
    SIL: V(),
    "AA": V(jaw=12.0, sep=1.5),
    "AE": V(jaw=10.0, sep=2.0, spread=3.0),
    "AH": V(jaw=8.0, sep=1.0),
    "AO": V(jaw=10.0, sep=1.0, **_round(4.0, 0.5)),
    "EH": V(jaw=7.0, sep=1.5, spread=3.0),
    "ER": V(jaw=5.0, **_round(3.0, 0.6)),
    "IH": V(jaw=5.0, sep=0.5, spread=3.0),
    "IY": V(jaw=3.0, sep=0.5, spread=5.0),
    "UH": V(jaw=4.5, **_round(4.0, 0.4)),
    "UW": V(jaw=3.0, **_round(8.0, 0.25)),
    "P": V(jaw=2.0, close=1.0),
    "B": V(jaw=2.0, close=1.0),
    "M": V(jaw=2.0, close=1.0),
    "F": V(jaw=TUCK_JAW / MM, tuck=1.0),
    "V": V(jaw=TUCK_JAW / MM, tuck=1.0),
    "TH": V(jaw=3.0, tongue=0.12),
    "DH": V(jaw=3.0, tongue=0.10),
    "S": V(jaw=1.0, spread=1.5),
    "Z": V(jaw=1.0, spread=1.5),
    "SH": V(jaw=2.0, **_round(4.0, 0.8)),
    "ZH": V(jaw=2.0, **_round(4.0, 0.8)),
    "CH": V(jaw=2.0, **_round(4.0, 0.8)),
    "JH": V(jaw=2.0, **_round(4.0, 0.8)),
    "T": V(jaw=3.0),
    "D": V(jaw=3.0),
    "N": V(jaw=3.0),
    "L": V(jaw=4.5),
    "R": V(jaw=3.0, **_round(3.0, 0.5)),
    "K": V(jaw=4.0),
    "G": V(jaw=4.0),
    "NG": V(jaw=4.0),
    "HH": V(jaw=5.0),
    "W": V(jaw=2.0, **_round(9.0, 0.15)),
    "Y": V(jaw=2.5, spread=3.0),
}
#: Diphthongs glide between two qualities: first half, second half.
DIPHTHONGS = {"AW": ("AA", "UH"), "AY": ("AA", "IY"), "EY": ("EH", "IY"), "OW": ("AO", "UW"),
              "OY": ("AO", "IY")}  # fmt: skip
# Dominance (alpha) per parameter, in PARAMS order, by articulatory class. A class that does
# not need an articulator has a low alpha for it, so that articulator follows the neighbours.
_CLASS_ALPHA = {
    "silence": (0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4),
    "vowel": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.6),
    "round": (1.0, 1.0, 1.0, 1.6, 1.6, 1.0, 1.0, 0.6),
    "bilabial": (0.35, 0.5, 0.25, 0.3, 0.6, 1.5, 2.0, 2.0),
    "labiodental": (0.9, 2.0, 0.3, 2.5, 2.5, 2.0, 2.0, 2.0),
    "dental": (0.8, 0.4, 0.3, 0.3, 0.3, 2.0, 2.0, 3.0),
    "sibilant": (1.5, 0.5, 0.5, 0.3, 0.3, 2.0, 2.0, 2.0),
    "postalveolar": (1.0, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0),
    "alveolar": (0.6, 0.3, 0.2, 0.2, 0.2, 1.0, 1.0, 1.0),
    "lateral": (0.7, 0.3, 0.3, 0.3, 0.3, 1.0, 1.0, 1.0),
    "velar": (0.5, 0.2, 0.15, 0.15, 0.15, 1.0, 1.0, 1.0),
    "glottal": (0.15, 0.1, 0.1, 0.1, 0.1, 0.3, 0.3, 0.3),
    "rhotic": (0.6, 0.4, 0.5, 1.2, 1.2, 1.0, 1.0, 1.0),
    "w": (0.6, 0.5, 1.5, 2.5, 2.5, 1.0, 1.0, 1.0),
    "y": (0.6, 0.4, 1.0, 0.5, 0.5, 1.0, 1.0, 1.0),
}
_CLASS_OF = {
    SIL: "silence", "P": "bilabial", "B": "bilabial", "M": "bilabial", "F": "labiodental",
    "V": "labiodental", "TH": "dental", "DH": "dental", "S": "sibilant", "Z": "sibilant",
    "SH": "postalveolar", "ZH": "postalveolar", "CH": "postalveolar", "JH": "postalveolar",
    "T": "alveolar", "D": "alveolar", "N": "alveolar", "L": "lateral", "K": "velar",
    "G": "velar", "NG": "velar", "HH": "glottal", "R": "rhotic", "W": "w", "Y": "y",
    "UW": "round", "UH": "round", "AO": "round", "OW": "round", "ER": "round",
}  # fmt: skip
LABIODENTAL_PHONES = frozenset(("F", "V"))


@dataclass(frozen=True)
class SpeakerStyle:
    """How one speaker articulates. Why: a corpus of one articulation style would teach the
    network a single mouth; real speakers differ in range, jaw use, lip habits and timing."""

    amplitude: float = 1.0  # scales lip gestures (hypo- vs hyper-articulation)
    jaw_scale: float = 1.0  # jaw habit: how far the jaw opens for the same vowel
    jaw_forward: float = 0.0  # jaw habit: jawForward per unit of jawOpen
    jaw_lateral: float = 0.0  # jaw habit: sideways drift per unit of jawOpen (+ = left)
    smile: float = 0.0  # resting smile bias (mouthSmile, both sides), also in silence
    asymmetry: float = 0.0  # > 0: the left side of the mouth moves more
    lead: float = 0.05  # s by which visible gestures lead the sound
    coarticulation: float = 1.0  # > 1: gestures spread farther into the neighbours

    @classmethod
    def sample(cls, rng: np.random.Generator | int) -> SpeakerStyle:
        """A random plausible speaker (seeded). An int seed gets its own stream (0x57E1), so
        the same speaker seed used for the other per-speaker traits draws independent values."""
        if not isinstance(rng, np.random.Generator):
            rng = np.random.default_rng(np.random.SeedSequence(rng, spawn_key=(0x57E1,)))
        return cls(
            amplitude=float(rng.uniform(0.8, 1.2)),
            jaw_scale=float(rng.uniform(0.75, 1.25)),
            jaw_forward=float(rng.uniform(0.0, 0.15)),
            jaw_lateral=float(rng.normal(0.0, 0.04)),
            smile=float(rng.uniform(0.0, 0.15)),
            asymmetry=float(rng.uniform(-0.15, 0.15)),
            lead=float(rng.uniform(0.03, 0.07)),
            coarticulation=float(rng.uniform(0.8, 1.25)),
        )

    @classmethod
    def mean(cls) -> SpeakerStyle:
        """The average speaker of `sample`: the best single guess for a speaker one has not
        seen (the phone-recognition baseline's; the default style has no smile or jaw habit)."""
        return cls(jaw_forward=0.075, smile=0.075, coarticulation=1.025)


def _recipes(cal: FaceCalibration) -> dict[str, tuple[np.ndarray, float]]:
    """Per parameter: a direction in ARKit weight space and the mm it gives per unit."""
    n = len(cal.names)

    def vec(**w: float) -> np.ndarray:
        out = np.zeros(n)
        for k, v in w.items():
            out[cal.index(k)] = v
        return out

    mid = cal.aperture_slope[:, cal.midline]
    recipes = {
        "jaw": (vec(jawOpen=1.0), "aperture"),
        "sep": (
            vec(
                mouthUpperUpLeft=0.5,
                mouthUpperUpRight=0.5,
                mouthLowerDownLeft=0.5,
                mouthLowerDownRight=0.5,
            ),
            "aperture",
        ),  # fmt: skip
        "spread": (
            vec(
                mouthStretchLeft=0.6, mouthStretchRight=0.6, mouthSmileLeft=0.4, mouthSmileRight=0.4
            ),
            "width",
        ),  # fmt: skip
        "pucker": (vec(mouthPucker=1.0), "-width"),
        "funnel": (vec(mouthFunnel=1.0), "-width"),
    }
    out = {}
    for k, (direction, measure) in recipes.items():
        if measure == "aperture":
            per_unit = direction @ mid
        else:
            per_unit = (direction @ cal.width_slope) * (-1.0 if measure == "-width" else 1.0)
        out[k] = (direction, float(per_unit) / MM)  # mm per unit of the direction
    return out


def _segments(phones: Sequence[Phone]) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    """(start, end, targets, alphas) per segment; diphthongs become two segments."""
    out = []
    for ph in phones:
        sym = ph.symbol if ph.symbol == SIL else ph.symbol.rstrip("012").upper()
        if sym not in PHONE_SET:
            raise ValueError(f"{ph.symbol!r} is not an ARPAbet phone (or {SIL!r})")
        alpha = np.array(_CLASS_ALPHA[_CLASS_OF.get(sym, "vowel")])
        if sym in DIPHTHONGS:
            mid = ph.start + 0.5 * (ph.end - ph.start)
            first, second = DIPHTHONGS[sym]
            out.append((ph.start, mid, VISEMES[first].vector(), alpha))
            out.append((mid, ph.end, VISEMES[second].vector(), alpha))
        else:
            out.append((ph.start, ph.end, VISEMES[sym].vector(), alpha))
    return out


def blend_parameters(phones: Sequence[Phone], times: np.ndarray, style: SpeakerStyle) -> np.ndarray:
    """Cohen-Massaro blend: (T, len(PARAMS)) = sum_s D_s(t) T_s / sum_s D_s(t).

    D_s(t) = alpha_s inside the segment (shifted `lead` earlier: we see the gesture before we
    hear it), alpha_s * exp(-theta * distance) outside, with separate anticipatory and
    carry-over rates."""
    num = np.zeros((len(times), len(PARAMS)))
    den = np.full((len(times), len(PARAMS)), PRIOR_DOMINANCE)
    th_b = THETA_BEFORE / style.coarticulation
    th_a = THETA_AFTER / style.coarticulation
    for start, end, target, alpha in _segments(phones):
        s = start - style.lead * LEAD_SHARE  # (P,) per parameter
        e = np.maximum(end - 0.5 * style.lead * LEAD_SHARE, s)
        lo, hi = np.searchsorted(times, (s.min() - REACH, e.max() + REACH))
        if hi <= lo:
            continue
        t = times[lo:hi, None]
        dom = alpha * np.exp(-th_b * np.clip(s - t, 0, None) - th_a * np.clip(t - e, 0, None))
        num[lo:hi] += dom * target
        den[lo:hi] += dom
    return num / den


def loudness_gain(rms: np.ndarray) -> np.ndarray:
    """Per-frame jaw gain from an RMS envelope: louder speech opens the jaw more.
    Normalised by the speaker's own loud level so that recording gain does not matter."""
    rms = np.asarray(rms, np.float64)
    voiced = rms[rms > 0.05 * rms.max()] if rms.max() > 0 else rms
    ref = np.percentile(voiced, 90) if voiced.size else 0.0
    if ref <= 0:
        return np.ones_like(rms)
    return np.clip(0.45 + 0.65 * rms / ref, 0.45, 1.3)


def rest_weights(
    style: SpeakerStyle | None = None, names: Sequence[str] | None = None
) -> np.ndarray:
    """The speaker's resting mouth: zeros plus the smile bias. Silence relaxes to this."""
    names = tuple(names or load_template().arkit_names)
    w = np.zeros(len(names), np.float32)
    if style is not None and style.smile:
        w[names.index("mouthSmileLeft")] = np.clip(style.smile * (1 + style.asymmetry), 0, 1)
        w[names.index("mouthSmileRight")] = np.clip(style.smile * (1 - style.asymmetry), 0, 1)
    return w


def phone_frames(
    phones: Sequence[Phone], n_frames: int, fps: float, symbols: frozenset[str]
) -> np.ndarray:
    """(n_frames,) bool: the frames of `phone_spans` of the phones in `symbols`."""
    mask = np.zeros(n_frames, bool)
    for frames in phone_spans(phones, symbols, n_frames, fps):
        mask[frames] = True
    return mask


def articulate(
    phones: Sequence[Phone],
    fps: float = 30.0,
    style: SpeakerStyle | None = None,
    rms: np.ndarray | None = None,
    n_frames: int | None = None,
    calibration: FaceCalibration | None = None,
) -> np.ndarray:
    """ARKit weights (T, 52) float32 for the jaw and mouth; frame i is at time i / fps.

    `rms`: optional per-frame loudness envelope (T,) that scales the jaw. `n_frames` defaults
    to round(last phone end * fps). `calibration`: the face the weights are meant for (an
    identity's `calibrate(vertices, deltas)`); default the template. Upper-face units are 0."""
    if not phones:
        raise ValueError("no phones")
    style = style or SpeakerStyle()
    cal = calibration or template_calibration()
    n = int(round(phones[-1].end * fps)) if n_frames is None else int(n_frames)
    times = np.arange(n) / fps
    par = blend_parameters(phones, times, style)
    if rms is not None:
        if len(rms) != n:
            raise ValueError(f"rms has {len(rms)} frames, expected {n}")
        gain = loudness_gain(rms)
        par[:, P["jaw"]] *= gain
        par[:, P["sep"]] *= gain
    par[:, P["jaw"]] *= style.jaw_scale
    for k in ("sep", "spread", "pucker", "funnel"):
        par[:, P[k]] *= style.amplitude

    w = np.zeros((n, len(cal.names)))
    for k, (direction, mm_per_unit) in _recipes(cal).items():
        w += np.outer(np.clip(par[:, P[k]] / mm_per_unit, 0, None), direction)
    # Lips in contact are all or nothing; smoothstep keeps a neighbour's faint closure from
    # half-closing a vowel while the approach still eases in.
    close = _smoothstep(par[:, P["close"]])
    tuck = _smoothstep(par[:, P["tuck"]])
    w += np.outer(tuck, cal.tuck_recipe)
    idx = cal.index
    w[:, idx("tongueOut")] = par[:, P["tongue"]]
    # Sealed lips are pressed a little: both rolled in.
    w[:, idx("mouthRollUpper")] += 0.12 * close
    w[:, idx("mouthRollLower")] += 0.12 * close
    jaw = w[:, idx("jawOpen")]
    w[:, idx("jawForward")] = style.jaw_forward * jaw
    w[:, idx("jawLeft" if style.jaw_lateral > 0 else "jawRight")] = abs(style.jaw_lateral) * jaw
    _asymmetry(w, cal.names, style.asymmetry)
    w += rest_weights(style, cal.names)
    w = np.clip(w, 0.0, 1.0)
    w[:, idx("mouthClose")] = _closure(w, close, tuck, cal)
    fv = phone_frames(phones, n, fps, LABIODENTAL_PHONES)
    if fv.any():
        w[fv] = _tuck_contact(w[fv], cal)
    hard = phone_frames(phones, n, fps, BILABIALS)
    w[hard, idx("mouthClose")] = _seal(w[hard], cal)
    return np.clip(w, 0.0, 1.0).astype(np.float32)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _asymmetry(w: np.ndarray, names: Sequence[str], asym: float) -> None:
    for i, name in enumerate(names):
        if name.startswith("mouth") and name.endswith("Left"):
            w[:, i] *= 1.0 + asym
        elif name.startswith("mouth") and name.endswith("Right"):
            w[:, i] *= 1.0 - asym


def _closure(w: np.ndarray, close: np.ndarray, tuck: np.ndarray, cal: FaceCalibration):
    """mouthClose that brings the midline aperture from its open value toward 'pressed' in
    proportion to `close` (anticipation comes from the blend), and that cancels any jaw
    opening beyond the labiodental one while the lower lip is tucked."""
    ic, ij = cal.index("mouthClose"), cal.index("jawOpen")
    mid = cal.apertures(w)[:, cal.midline]
    desired = (1.0 - close) * mid + close * CLOSED_MIDLINE_APERTURE
    need = np.clip(mid - desired, 0, None) / -cal.aperture_slope[ic, cal.midline]
    jaw_tuck = TUCK_JAW / cal.aperture_slope[ij, cal.midline]
    need = np.maximum(need, tuck * np.clip(w[:, ij] - jaw_tuck, 0, None))
    return np.clip(need, 0.0, 1.0)


def _seal(w: np.ndarray, cal: FaceCalibration) -> np.ndarray:
    """The hard P/B/M constraint: raise mouthClose until every rim column is sealed (exact,
    since apertures are linear in the weights)."""
    ic = cal.index("mouthClose")
    ap = cal.apertures(w)
    slope = cal.aperture_slope[ic]  # negative: mouthClose closes every column
    extra = np.max((ap - SEALED_MAX_APERTURE) / -slope, axis=1)
    return np.clip(w[:, ic] + np.clip(extra, 0, None), 0.0, 1.0)


def _tuck_contact(w: np.ndarray, cal: FaceCalibration) -> np.ndarray:
    """The F/V constraint: where the blend left the lower lip off the incisors (rounding from
    a neighbour pushes it forward), search the lip roll, and if needed less rounding, for
    the pose nearest TUCK_CONTACT without passing into the teeth."""
    w = w.copy()
    far = cal.teeth_distance(w) > TUCK_REACHED
    roll = cal.index("mouthRollLower")
    forward = [cal.index(k) for k in ("mouthPucker", "mouthFunnel", "mouthLowerDownLeft",
                                      "mouthLowerDownRight")]  # fmt: skip
    rolls, keeps = np.meshgrid(np.linspace(0.0, 1.0, 21), (1.0, 0.6, 0.3, 0.0))
    rolls, keeps = rolls.ravel(), keeps.ravel()
    for i in np.flatnonzero(far):
        trial = np.repeat(w[i][None], len(rolls), axis=0)
        trial[:, roll] = np.maximum(trial[:, roll], rolls)
        trial[:, forward] *= keeps[:, None]
        d = cal.teeth_distance(trial)
        cost = np.abs(d - TUCK_CONTACT) + 10.0 * np.clip(0.5 * TUCK_CONTACT - d, 0, None)
        cost += 0.3 * MM * (1.0 - keeps) + 0.1 * MM * rolls  # prefer the smallest change
        w[i] = trial[int(np.argmin(cost))]
    return w
