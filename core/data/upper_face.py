"""Upper-face motion that is deliberately not a function of the phones: blinks, brows, squints,
gaze.

Why: MeshTalk learns to take the mouth from the audio and the upper face from a sampled prior.
If the corpus tied blinks or brows to the phones, the network would learn that correlation and
the categorical latent would have nothing left to explain. So these processes see only a seed,
the person's habits and, optionally, prosody (pitch accents raise brows in real speech too).
Each process draws from its own random stream, so changing one never reshuffles another.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..runtime.metrics import eyelid_gap
from ..runtime.template import load_template

SIDES = ("Left", "Right")
UPPER_FACE_UNITS = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight",
)  # fmt: skip
BLINK_OVERSHOOT = 1.03  # eyeBlink never exceeds the closure weight by more than this factor
LID_FOLLOWS_GAZE = 0.3  # the upper lid follows the eye down (eyeBlink per eyeLookDown)
MIN_ACCENT_SPACING = 0.35  # s between two pitch accents
# Energy frames more than 20 dB below the clip's loud end (its 95th percentile; 20 dB like
# the voicing gate of make.frame_pitch) are pauses, not speech: they take no part in finding
# accents. Room tone in a long pause would otherwise pull the mean log energy down and
# stretch its spread, which moves every accent of the speech.
ACCENT_ENERGY_FLOOR = 0.1
# Blink phases (s): a fast close, the lids held shut for 1-3 frames at 30 fps, a slower
# decelerating opening: 190-400 ms from the first movement to open.
BLINK_CLOSE = (0.06, 0.10)
BLINK_HOLD = (0.01, 0.08)
BLINK_OPEN = (0.12, 0.22)


@dataclass(frozen=True)
class UpperFaceHabits:
    """One person's upper-face habits. Blink rate and brow activity vary several-fold between
    people, and the prior should learn that range; a corpus draws them per sequence (or per
    voice, `CorpusConfig.habits`)."""

    blink_rate: float = 15.0  # blinks per minute (typical conversation: 8-25)
    blink_regularity: float = 2.5  # gamma shape of the inter-blink interval (1 = Poisson)
    double_blink: float = 0.08  # chance that a blink is immediately followed by another
    partial_blink: float = 0.06  # chance that a blink does not close the eye fully
    brow_activity: float = 0.5  # 0..1: how often and how far the brows move
    brow_asymmetry: float = 0.0  # > 0: the left outer brow rises more
    frown_rate: float = 3.0  # frowns per minute
    squint_rate: float = 2.0  # squints per minute
    gaze_spread: float = 0.12  # std of gaze targets, in eyeLook weight
    fixation: float = 0.9  # mean fixation duration, s

    @classmethod
    def sample(cls, rng: np.random.Generator | int) -> UpperFaceHabits:
        """A random plausible speaker (seeded). An int seed gets its own stream (0xB120), so
        the same speaker seed used for the other per-speaker traits draws independent values."""
        if not isinstance(rng, np.random.Generator):
            rng = np.random.default_rng(np.random.SeedSequence(rng, spawn_key=(0xB120,)))
        return cls(
            blink_rate=float(np.exp(rng.uniform(np.log(9.0), np.log(22.0)))),
            blink_regularity=float(rng.uniform(1.5, 4.0)),
            double_blink=float(rng.uniform(0.03, 0.15)),
            partial_blink=float(rng.uniform(0.02, 0.10)),
            brow_activity=float(rng.beta(2.0, 2.0)),
            brow_asymmetry=float(rng.uniform(-0.25, 0.25)),
            frown_rate=float(rng.uniform(0.5, 5.0)),
            squint_rate=float(rng.uniform(0.5, 4.0)),
            gaze_spread=float(rng.uniform(0.06, 0.18)),
            fixation=float(rng.uniform(0.5, 1.6)),
        )


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    return load_template().arkit_names


def blink_closure_weight(
    vertices: np.ndarray | None = None, deltas: np.ndarray | None = None
) -> float:
    """eyeBlink weight at which the lids meet at the pupil (mean of both eyes), on the template
    or on a face given by its vertices and (52, V, 3) unit deltas.

    About 0.98 on every face: the asset build refits the blinks so that the lids meet there and
    press together at 1 (core/assets_build/eyelids.py; identities get the same refit). Measured,
    not assumed, so blinks are capped where the lids do meet: a corpus full of over-closed lids
    would teach that."""
    if vertices is None and deltas is None:
        return _template_closure_weight()
    t = load_template()
    vertices = t.vertices if vertices is None else np.asarray(vertices)
    deltas = t.arkit_deltas if deltas is None else np.asarray(deltas)
    grid = np.linspace(0.0, 1.0, 201)
    out = []
    for side in ("left", "right"):
        unit = deltas[t.arkit_names.index("eyeBlink" + side.title())]
        gaps = eyelid_gap(vertices[None] + grid[:, None, None] * unit[None], t, side)
        shut = np.flatnonzero(gaps <= 0)
        if len(shut) == 0 or shut[0] == 0:
            raise ValueError(f"the {side} eyelids never meet between weights 0 and 1")
        k = int(shut[0])  # first weight where the lids touch: interpolate the crossing
        out.append(grid[k - 1] + (grid[k] - grid[k - 1]) * gaps[k - 1] / (gaps[k - 1] - gaps[k]))
    return float(np.mean(out))


@lru_cache(maxsize=1)
def _template_closure_weight() -> float:
    return blink_closure_weight(load_template().vertices)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _pulse(times: np.ndarray, start: float, attack: float, hold: float, release: float):
    """Eased 0 -> 1 -> 0 envelope: rise over `attack`, stay for `hold`, fall over `release`."""
    up = _smoothstep((times - start) / attack)
    down = 1.0 - _smoothstep((times - start - attack - hold) / release)
    return np.minimum(up, down)


def _blinks(times: np.ndarray, fps: float, h: UpperFaceHabits, cap: float, rng) -> np.ndarray:
    """(T, 2) eyeBlink left/right. A renewal process: gamma intervals (more regular than
    Poisson, as measured blink intervals are), fast close, short hold, slower opening.

    A full blink shuts the lids on a frame of the grid (both eyes, whatever their lag: the
    later eye closes a little faster), at the closure weight `cap` pressed by up to 3 %: the
    network can only learn closed eyes if the data has them. Partial blinks stay rare."""
    out = np.zeros((len(times), 2))
    duration = times[-1] + 1.0 / fps if len(times) else 0.0
    mean = 60.0 / h.blink_rate
    t = rng.uniform(0.0, mean)
    while t < duration:
        burst = 2 if rng.random() < h.double_blink else 1
        for _ in range(burst):
            close, hold = rng.uniform(*BLINK_CLOSE), rng.uniform(*BLINK_HOLD)
            opening = rng.uniform(*BLINK_OPEN)
            # Each eye's depth: full blinks meet and press (<= 3 % apart), partial ones stop
            # at 50-85 %; rarely one eye closes clearly less.
            if rng.random() >= h.partial_blink:
                amp = cap * rng.uniform(1.005, BLINK_OVERSHOOT, size=2)
            else:
                amp = cap * rng.uniform(0.5, 0.85) * np.array([1.0, rng.uniform(0.97, 1.0)])
            if rng.random() < 0.03:
                amp[1] = cap * rng.uniform(0.6, 0.8)
            amp = amp[:: 1 if rng.random() < 0.5 else -1]
            lag = np.array([0.0, rng.uniform(0.0, 0.01)])[:: 1 if rng.random() < 0.5 else -1]
            peak = round((t + close) * fps) / fps  # the closed lid lands on a frame
            for eye in range(2):
                c = close - lag[eye]  # the later eye starts later, shuts on the same frame
                rise = _smoothstep((times - (peak - c)) / c)
                u = np.clip((times - peak - hold - lag[eye]) / opening, 0.0, 1.0)
                env = np.where(times <= peak + hold + lag[eye], rise, (1.0 - u) ** 2)
                out[:, eye] = np.maximum(out[:, eye], amp[eye] * env)
            t = peak + hold + opening + rng.uniform(0.05, 0.12)
        t += max(rng.gamma(h.blink_regularity, mean / h.blink_regularity), 0.25)
    return out


def accents(
    pitch: np.ndarray | None, energy: np.ndarray | None, fps: float
) -> list[tuple[float, float]]:
    """Pitch accents / emphasis as (time, strength z): peaks of speaker-normalised log pitch
    (and loudness) that stand out by more than one standard deviation. Unvoiced frames
    (pitch 0/NaN) and pauses (energy below ACCENT_ENERGY_FLOOR) count as none."""
    score = None
    for track, weight, floor in ((pitch, 1.0, 0.0), (energy, 0.6, ACCENT_ENERGY_FLOOR)):
        if track is None:
            continue
        x = np.asarray(track, np.float64)
        ok = np.isfinite(x) & (x > 0)
        if floor and ok.any():  # pauses (digital zero or room tone) are not speech
            ok &= x >= floor * np.percentile(x[ok], 95)
        if ok.sum() < 3:
            continue
        lx = np.log(np.where(ok, x, 1.0))
        z = np.where(ok, (lx - lx[ok].mean()) / (lx[ok].std() + 1e-9), -3.0)
        score = weight * z if score is None else score + weight * z
    if score is None:
        return []
    k = max(int(round(0.08 * fps)), 1)
    score = np.convolve(score, np.ones(k) / k, mode="same")
    peaks = [
        i
        for i in range(1, len(score) - 1)
        if score[i] > 1.0 and score[i] >= score[i - 1] and score[i] > score[i + 1]
    ]
    chosen: list[int] = []
    for i in sorted(peaks, key=lambda i: -score[i]):
        if all(abs(i - j) >= MIN_ACCENT_SPACING * fps for j in chosen):
            chosen.append(i)
    return [(i / fps, float(score[i])) for i in sorted(chosen)]


def _brows(times, fps, h: UpperFaceHabits, rng, accent_list) -> dict[str, np.ndarray]:
    """Brow raises (many on accents, some at random), frowns, and the eye widening of big
    raises."""
    n = len(times)
    duration = n / fps
    act = h.brow_activity
    out = {k: np.zeros(n) for k in ("inner", "outerL", "outerR", "downL", "downR", "wide")}
    raises = [
        (t - rng.uniform(0.05, 0.15), min(0.15 + 0.12 * z, 0.6))
        for t, z in accent_list
        if rng.random() < 0.25 + 0.6 * act
    ]
    rate = (1.0 + 3.0 * act) if accent_list else (2.0 + 10.0 * act)  # per minute
    for t in rng.uniform(0.0, duration, rng.poisson(rate * duration / 60.0)):
        raises.append((t, rng.uniform(0.1, 0.45)))
    for t, a in raises:
        amp = a * (0.5 + act)
        env = amp * _pulse(times, t, rng.uniform(0.08, 0.15), rng.uniform(0.15, 0.6),
                           rng.uniform(0.2, 0.45))  # fmt: skip
        outer = 0.0 if rng.random() < 0.15 else rng.uniform(0.6, 1.1)  # inner-only: concern
        # Overlapping events take the stronger one: muscle activation does not add up.
        out["inner"] = np.maximum(out["inner"], env)
        out["outerL"] = np.maximum(out["outerL"], env * outer * (1.0 + h.brow_asymmetry))
        out["outerR"] = np.maximum(out["outerR"], env * outer * (1.0 - h.brow_asymmetry))
        if amp > 0.35 and rng.random() < 0.4:
            out["wide"] = np.maximum(out["wide"], 0.5 * env)
    for t in rng.uniform(0.0, duration, rng.poisson(h.frown_rate * duration / 60.0)):
        amp = rng.uniform(0.1, 0.35) * (0.7 + 0.6 * act)
        env = amp * _pulse(times, t, rng.uniform(0.15, 0.3), rng.uniform(0.4, 1.6),
                           rng.uniform(0.3, 0.6))  # fmt: skip
        out["downL"] = np.maximum(out["downL"], env * rng.uniform(0.9, 1.1))
        out["downR"] = np.maximum(out["downR"], env * rng.uniform(0.9, 1.1))
    # A slow tonic level: some people hold their brows a little up while talking.
    ou = _ou(n, fps, tau=4.0, sd=0.05 * act, rng=rng)
    out["inner"] += np.clip(ou, 0.0, None)
    return out


def _squints(times, fps, h: UpperFaceHabits, rng) -> np.ndarray:
    """(T, 2) eyeSquint left/right: occasional, both sides, a little uneven."""
    out = np.zeros((len(times), 2))
    duration = len(times) / fps
    for t in rng.uniform(0.0, duration, rng.poisson(h.squint_rate * duration / 60.0)):
        env = rng.uniform(0.1, 0.35) * _pulse(
            times, t, rng.uniform(0.15, 0.3), rng.uniform(0.3, 1.5), rng.uniform(0.3, 0.6)
        )
        out = np.maximum(out, env[:, None] * rng.uniform(0.85, 1.15, size=2))
    return out


def _gaze(times, fps, h: UpperFaceHabits, rng) -> np.ndarray:
    """(T, 2) gaze (horizontal: + = toward the character's left; vertical: + = up), in eyeLook
    weight. Fixations with gamma durations, 30-60 ms saccades, a little fixational drift."""
    n = len(times)
    duration = n / fps
    gaze = np.zeros((n, 2))
    cur = rng.normal(0.0, h.gaze_spread, 2) * (1.0, 0.6)
    gaze[:] = cur
    t = rng.gamma(2.0, h.fixation / 2.0)
    while t < duration:
        centre = rng.random() < 0.5  # speakers keep coming back to the listener
        new = rng.normal(0.0, h.gaze_spread * (0.4 if centre else 1.0), 2) * (1.0, 0.6)
        new[1] -= 0.02  # speaking people look slightly down more often than up
        dur = rng.uniform(0.03, 0.06)
        u = _smoothstep((times - t) / dur)[:, None]
        gaze = gaze + u * (new - cur)
        cur = new
        t += dur + rng.gamma(2.0, h.fixation / 2.0)
    drift = np.stack([_ou(n, fps, 0.5, 0.01, rng) for _ in range(2)], axis=1)
    return np.clip(gaze + drift, -0.35, 0.35)


def _ou(n: int, fps: float, tau: float, sd: float, rng) -> np.ndarray:
    """Ornstein-Uhlenbeck noise (stationary std `sd`, time constant `tau` s)."""
    a = np.exp(-1.0 / (fps * tau))
    noise = rng.normal(0.0, sd * np.sqrt(1.0 - a * a), n)
    out = np.empty(n)
    x = rng.normal(0.0, sd)
    for i in range(n):
        x = a * x + noise[i]
        out[i] = x
    return out


def upper_face(
    n_frames: int,
    fps: float = 30.0,
    seed: int = 0,
    habits: UpperFaceHabits | None = None,
    pitch: np.ndarray | None = None,
    energy: np.ndarray | None = None,
    closure_weight: float | None = None,
) -> np.ndarray:
    """ARKit weights (T, 52) float32 for the upper face only (every other unit 0), so the
    result adds to `articulate`'s. Frame i is at time i / fps.

    `pitch` (Hz, 0/NaN unvoiced) and `energy` are optional per-frame prosody: their accents
    trigger brow raises. `closure_weight`: eyeBlink weight that closes the eye on the face in
    use (`blink_closure_weight(vertices, deltas)`; default: measured on the template)."""
    for name, track in (("pitch", pitch), ("energy", energy)):
        if track is not None and len(track) != n_frames:
            raise ValueError(f"{name} has {len(track)} frames, expected {n_frames}")
    h = habits or UpperFaceHabits()
    cap = blink_closure_weight() if closure_weight is None else float(closure_weight)
    names = _names()
    idx = {k: i for i, k in enumerate(names)}
    times = np.arange(n_frames) / fps
    w = np.zeros((n_frames, len(names)))
    if n_frames == 0:
        return w.astype(np.float32)
    rng_blink, rng_brow, rng_squint, rng_gaze = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    gaze = _gaze(times, fps, h, rng_gaze)
    hor, ver = gaze[:, 0], gaze[:, 1]
    # Looking toward the character's left: the left eye looks out, the right eye looks in.
    w[:, idx["eyeLookOutLeft"]] = w[:, idx["eyeLookInRight"]] = np.clip(hor, 0, None)
    w[:, idx["eyeLookInLeft"]] = w[:, idx["eyeLookOutRight"]] = np.clip(-hor, 0, None)
    down = np.clip(-ver, 0, None)
    for side in SIDES:
        w[:, idx["eyeLookUp" + side]] = np.clip(ver, 0, None)
        w[:, idx["eyeLookDown" + side]] = down
    blinks = _blinks(times, fps, h, cap, rng_blink)
    brows = _brows(times, fps, h, rng_brow, accents(pitch, energy, fps))
    squint = _squints(times, fps, h, rng_squint)
    for e, side in enumerate(SIDES):
        w[:, idx["eyeBlink" + side]] = np.minimum(
            blinks[:, e] + LID_FOLLOWS_GAZE * down, cap * BLINK_OVERSHOOT
        )
        w[:, idx["eyeSquint" + side]] = squint[:, e]
        w[:, idx["cheekSquint" + side]] = 0.4 * squint[:, e]
        w[:, idx["eyeWide" + side]] = brows["wide"]
        w[:, idx["browOuterUp" + side]] = brows["outer" + side[0]]
        w[:, idx["browDown" + side]] = brows["down" + side[0]]
    w[:, idx["browInnerUp"]] = brows["inner"]
    return np.clip(w, 0.0, 1.0).astype(np.float32)
