"""Articulation model checked on the template mesh itself: sealed lips on P/B/M, open AA, lower
lip on the teeth for F/V, rounding vs spreading, anticipation, rest in silence, seeding."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from core.data.articulation import (
    LABIODENTAL_PHONES,
    SpeakerStyle,
    articulate,
    phone_frames,
    rest_weights,
)
from core.data.mouth import mouth_geometry
from core.data.phones import BILABIALS, Phone, phone_spans
from core.data.upper_face import UPPER_FACE_UNITS
from core.runtime import metrics

FPS = 30.0
# "Bob made my map of five blue moons, Fay." in ARPAbet (hand-made, no TTS involved).
SENTENCE = (
    "sil B AA B M EY D M AY M AE P AH V F AY V B L UW M UW N Z sil F EY sil"
)  # fmt: skip
_TYPICAL = {"vowel": 0.13, "stop": 0.07, "fricative": 0.09, "nasal": 0.075, "other": 0.06}
_KINDS = {
    "stop": ("P", "B", "T", "D", "K", "G"),
    "fricative": ("F", "V", "S", "Z", "SH", "TH", "DH", "HH"),
    "nasal": ("M", "N", "NG"),
}
_KIND = {p: kind for kind, phones in _KINDS.items() for p in phones}


def phones_from(spec: str) -> list[Phone]:
    """'sil:0.3 B:0.08 AA:0.2' -> contiguous phones starting at 0."""
    out, t = [], 0.0
    for token in spec.split():
        symbol, dur = token.split(":")
        out.append(Phone(symbol, t, t + float(dur)))
        t += float(dur)
    return out


def sentence(seed: int = 0, pause: float = 0.5) -> list[Phone]:
    """SENTENCE with plausible, slightly varied durations (seeded)."""
    rng = np.random.default_rng(seed)
    spec = []
    for s in SENTENCE.split():
        if s == "sil":
            dur = pause
        else:
            kind = _KIND.get(s, "vowel" if s[0] in "AEIOU" else "other")
            dur = _TYPICAL[kind] * rng.uniform(0.7, 1.4)
        spec.append(f"{s}:{dur:.4f}")
    return phones_from(" ".join(spec))


def loud_envelope(phones: list[Phone], n: int, fps: float = FPS) -> np.ndarray:
    """A crude RMS envelope: loud vowels, quieter consonants, silent pauses."""
    rms = np.zeros(n)
    t = np.arange(n) / fps
    for p in phones:
        level = 0.0 if p.symbol == "sil" else (1.0 if p.symbol[0] in "AEIOU" else 0.4)
        rms[(t >= p.start) & (t < p.end)] = level
    return rms


def frames_of(phones: list[Phone], n: int, symbols: set[str], fps: float = FPS) -> list[np.ndarray]:
    """Per phone in `symbols`: its frame indices."""
    out = []
    for p in phones:
        if p.symbol in symbols:
            out.append(phone_frames([p], n, fps, frozenset(symbols)))
    return [np.flatnonzero(m) for m in out]


STYLES = [SpeakerStyle()] + [SpeakerStyle.sample(s) for s in range(5)]


@pytest.mark.parametrize("style", STYLES, ids=lambda s: f"lead{s.lead:.3f}")
def test_lips_touch_during_every_bilabial(template, style):
    phones = sentence(1)
    n = int(round(phones[-1].end * FPS))
    w = articulate(phones, FPS, style, rms=loud_envelope(phones, n))
    verts = template.pose(w)
    geo = mouth_geometry()
    frames = frames_of(phones, n, set(BILABIALS))
    assert len(frames) == sum(s in BILABIALS for s in SENTENCE.split()) == 8
    for idx in frames:
        assert len(idx) >= 1
        gap = metrics.lip_gap(verts[idx], template)
        assert (gap <= 0.0).all(), gap  # hm08 474/523: touching or pressed
        # ... and across the middle of the mouth, not only at the midline.
        assert (geo.apertures(verts[idx]) <= 0.0).all()


def test_lips_close_even_with_the_jaw_open_from_loud_open_vowels(template):
    phones = phones_from("sil:0.4 AA:0.3 B:0.06 AA:0.3 M:0.05 AE:0.3 sil:0.4")
    n = int(round(phones[-1].end * FPS))
    w = articulate(phones, FPS, rms=loud_envelope(phones, n))
    jaw = w[:, template.arkit_names.index("jawOpen")]
    for idx in frames_of(phones, n, {"B", "M"}):
        assert jaw[idx].max() > 0.15  # the jaw stays partly open from the neighbours ...
        assert (metrics.lip_gap(template.pose(w[idx]), template) <= 0.0).all()  # lips meet


def test_mouth_opens_on_aa_and_more_when_loud(template):
    phones = phones_from("sil:0.4 AA:0.3 sil:0.4")
    n = int(round(phones[-1].end * FPS))
    quiet = articulate(phones, FPS, rms=0.3 * loud_envelope(phones, n) + 0.05)
    neutral = articulate(phones, FPS)
    rms = loud_envelope(phones, n)
    rms[rms > 0] = np.linspace(0.2, 1.0, int((rms > 0).sum()))  # crescendo
    loud = articulate(phones, FPS, rms=rms)
    gaps = [metrics.lip_gap(template.pose(w), template).max() for w in (quiet, neutral, loud)]
    assert gaps[1] > 0.010  # > 10 mm on its own
    # A quiet envelope normalises to itself (speaker-relative), a crescendo opens wider.
    assert gaps[2] > 0.9 * gaps[1]
    jaw = loud[:, template.arkit_names.index("jawOpen")]
    aa = phone_frames(phones, n, FPS, frozenset({"AA"}))
    assert np.corrcoef(jaw[aa], rms[aa])[0, 1] > 0.5  # jaw follows loudness


def test_open_vowels_in_running_speech(template):
    phones = sentence(2)
    n = int(round(phones[-1].end * FPS))
    gap = metrics.lip_gap(template.pose(articulate(phones, FPS)), template)
    peaks = [gap[idx].max() for idx in frames_of(phones, n, {"AA", "AE", "AY"})]
    assert len(peaks) == 4
    # Short open vowels between lip closures still open visibly: > 4 mm each, ~6 mm typical
    # (vs 12 mm for a long AA on its own: coarticulation undershoot).
    assert min(peaks) > 0.004
    assert np.median(peaks) > 0.005


def test_jaw_follows_vowel_height(template):
    peaks = {}
    for v in ("AA", "EH", "IY"):
        w = articulate(phones_from(f"sil:0.4 {v}:0.25 sil:0.4"), FPS)
        peaks[v] = metrics.lip_gap(template.pose(w), template).max()
    assert peaks["AA"] > peaks["EH"] > peaks["IY"]


def test_lower_lip_on_upper_teeth_for_f_and_v(template):
    geo = mouth_geometry()
    phones = sentence(3)
    n = int(round(phones[-1].end * FPS))
    verts = template.pose(articulate(phones, FPS, SpeakerStyle.sample(7)))
    fv = frames_of(phones, n, set(LABIODENTAL_PHONES))
    assert len(fv) == sum(s in LABIODENTAL_PHONES for s in SENTENCE.split()) == 4
    for idx in fv:
        assert max(geo.teeth_distance(verts[i]) for i in idx) < 0.002
    for idx in frames_of(phones, n, {"AA"}):
        assert min(geo.teeth_distance(verts[i]) for i in idx) > 0.003
    assert geo.teeth_distance(template.vertices) > 0.0035  # at rest the lip is off the teeth


def test_rounding_narrows_and_spreading_widens(template):
    geo = mouth_geometry()
    rest = geo.width(template.vertices)
    width = {}
    for v in ("UW", "IY", "W", "SH"):
        w = articulate(phones_from(f"sil:0.4 {v}:0.25 sil:0.4"), FPS)
        width[v] = geo.width(template.pose(w[int(0.525 * FPS)]))
    assert width["UW"] < rest - 0.004
    assert width["W"] < rest - 0.004
    assert width["SH"] < rest - 0.002
    assert width["IY"] > rest + 0.002
    assert width["UW"] < width["IY"] - 0.007


def test_silence_relaxes_to_rest(template):
    style = SpeakerStyle.sample(11)
    phones = sentence(4, pause=1.5)
    n = int(round(phones[-1].end * FPS))
    w = articulate(phones, FPS, style)
    rest = rest_weights(style, template.arkit_names)
    tail = w[-int(0.8 * FPS) :]
    head = w[: int(0.8 * FPS)]
    assert np.abs(tail - rest).max() < 2e-3
    assert np.abs(head - rest).max() < 2e-3
    mouth = template.region("mouth")
    drift = np.linalg.norm(template.pose(tail)[:, mouth] - template.pose(rest)[mouth], axis=-1)
    assert drift.max() < 1e-4  # < 0.1 mm
    assert len(w) == n


def test_anticipation_lips_close_and_round_before_the_sound(template):
    fps = 100.0
    phones = phones_from("sil:0.4 AA:0.25 B:0.08 AA:0.25 sil:0.4")
    b = phones[2]
    gap = metrics.lip_gap(template.pose(articulate(phones, fps)), template)
    t = np.arange(len(gap)) / fps
    before = (t > phones[1].start) & (t < b.start)
    peak = gap[before].max()
    assert gap[int(round((b.start - 0.05) * fps))] < 0.75 * peak  # closing under way
    onset = t[before][gap[before] >= 0.9 * peak].max()
    assert b.start - onset >= 0.08  # the closing gesture starts >= 80 ms before the /b/
    # Anticipatory rounding: "IY S T UW", the lips round during S T already.
    phones = phones_from("sil:0.4 IY:0.15 S:0.1 T:0.07 UW:0.25 sil:0.4")
    pucker = articulate(phones, fps)[:, template.arkit_names.index("mouthPucker")]
    uw = phones[4]
    assert pucker[int(round((uw.start - 0.1) * fps))] > 0.4 * pucker.max()
    assert pucker[int(round((phones[1].start + 0.07) * fps))] < 0.25 * pucker.max()


def test_speaker_styles_are_seeded_and_matter(template):
    assert SpeakerStyle.sample(5) == SpeakerStyle.sample(5)
    assert SpeakerStyle.sample(5) != SpeakerStyle.sample(6)
    phones = sentence(5)
    a = articulate(phones, FPS, SpeakerStyle.sample(5))
    b = articulate(phones, FPS, SpeakerStyle.sample(5))
    c = articulate(phones, FPS, SpeakerStyle.sample(6))
    assert a.dtype == np.float32 and a.shape == (int(round(phones[-1].end * FPS)), 52)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.05
    left, right = (template.arkit_names.index(f"mouthSmile{s}") for s in ("Left", "Right"))
    lopsided = articulate(phones, FPS, SpeakerStyle(asymmetry=0.15, smile=0.1))
    assert (lopsided[:, left] > lopsided[:, right]).all()


def test_mean_style_is_the_average_speaker():
    """The phone baseline's style for an unseen speaker is the mean of the corpus's draws."""
    draws = [SpeakerStyle.sample(np.random.default_rng(s)) for s in range(4000)]
    mean = SpeakerStyle.mean()
    for field in fields(SpeakerStyle):
        values = np.array([getattr(d, field.name) for d in draws])
        spread = values.max() - values.min()
        assert abs(values.mean() - getattr(mean, field.name)) < 0.02 * spread, field.name


def test_only_jaw_and_mouth_units_move(template):
    w = articulate(sentence(6), FPS, SpeakerStyle.sample(2))
    upper = [template.arkit_names.index(u) for u in UPPER_FACE_UNITS]
    assert not w[:, upper].any()
    assert (w >= 0).all() and (w <= 1).all()


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="not an ARPAbet phone"):
        articulate(phones_from("sil:0.2 XX:0.1 sil:0.2"))
    with pytest.raises(ValueError, match="rms has"):
        articulate(phones_from("sil:0.2 AA:0.1 sil:0.2"), rms=np.ones(3))
    with pytest.raises(ValueError, match="no phones"):
        articulate([])


def test_phone_spans_one_definition_of_a_phones_frames():
    """The articulation model, training and the evaluation read a phone's frames from
    `phone_spans`: stress marks ignored, float times on a frame count, at least the middle."""
    start = 0.1 + 0.2  # 0.30000000000000004 s: frame 9.000000000000002, which counts as 9
    phones = [Phone("M", start, 0.4), Phone("AA1", 0.4, 0.41), Phone("B", 0.5, 0.6)]
    spans = [f.tolist() for f in phone_spans(phones, BILABIALS, 17, 30.0)]
    assert spans == [[9, 10, 11, 12], [15, 16]]  # B's frames past the clip's end are dropped
    assert [f.tolist() for f in phone_spans(phones, frozenset({"AA"}), 17, 30.0)] == [[12]]
    mask = phone_frames(phones, 17, 30.0, BILABIALS)
    assert np.flatnonzero(mask).tolist() == [9, 10, 11, 12, 15, 16]
