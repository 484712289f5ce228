"""Mouth and upper-face strength (runtime): openings scale, seals stay sealed, blinks still
close, 0 means still — on the bundled network and speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.runtime.audio import prepare_audio, read_audio
from core.runtime.metrics import eyelid_gap, lip_gap
from core.runtime.session import Session
from core.runtime.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
SEALED = 0.001  # metres: the evaluation's P/B/M closure threshold


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    samples, rate = read_audio(ROOT / "demo" / "speech.wav")
    return np.tile(prepare_audio(samples, rate, 16000), 3)  # ~14 s: several blinks


def vertices(speech: np.ndarray, **settings) -> np.ndarray:
    session = Session(Settings(seed=2, **settings))
    return np.concatenate([session.vertices(b) for b in session.run(speech, 16000)])


@pytest.fixture(scope="module")
def as_made(speech, template) -> np.ndarray:
    return vertices(speech)


@pytest.mark.parametrize("mouth", [0.5, 1.5, 2.0])
def test_openings_scale_and_seals_stay_sealed(speech, template, as_made, mouth):
    base = lip_gap(as_made, template)
    gap = lip_gap(vertices(speech, mouth_strength=mouth), template)
    wide = np.percentile(base, 95)
    ratio = np.percentile(gap, 95) / wide
    # openings beyond a seal scale: 1.5 opens ~1.45x wider at p95 (the issue asks >= 1.3)
    assert abs(ratio - (SEALED + mouth * (wide - SEALED)) / wide) < 0.03
    assert ratio >= 1.3 if mouth >= 1.5 else ratio <= 0.6
    sealed = base <= SEALED
    assert sealed.sum() > 10 and (gap[sealed] <= SEALED).all()
    assert gap.min() >= -0.001  # the lips never pass through each other by more than 1 mm


def test_upper_strength_0_keeps_the_lids_still_and_mouth_0_the_lips(speech, template, as_made):
    still_lids = vertices(speech, upper_strength=0.0)
    for side in ("left", "right"):
        assert np.ptp(eyelid_gap(still_lids, template, side)) < 1e-5
        assert np.ptp(eyelid_gap(as_made, template, side)) > 0.003  # it blinks otherwise
    assert np.allclose(lip_gap(still_lids, template), lip_gap(as_made, template), atol=1e-6)
    still_mouth = vertices(speech, mouth_strength=0.0)
    assert np.ptp(lip_gap(still_mouth, template)) < 1e-5


@pytest.mark.parametrize("upper", [0.6, 1.0, 1.5, 2.0])
def test_blinks_still_close_above_half_strength(template, upper):
    """A shut lid stays shut at every upper strength above 0.5; smaller lid motion scales
    (up to the lids meeting); nothing opens past the rest gap."""
    session = Session(Settings(upper_strength=upper))
    lids = session.strength.keepers[1]
    rest = eyelid_gap(template.vertices, template, "left")
    closure = np.linspace(0, 1, 101)
    kept = 1 - lids.intended(rest * (1 - closure), rest) / rest
    shut = closure >= 0.9
    assert np.allclose(kept[shut], np.maximum(closure[shut], np.minimum(upper * closure[shut], 1)))
    small = closure <= 0.5
    assert np.allclose(kept[small], np.minimum(upper * closure[small], 1))
    assert (np.diff(kept) >= -1e-9).all() and kept.max() <= 1 + 1e-9


def test_upper_strength_keeps_the_networks_deepest_blink(speech, template, as_made):
    rest = eyelid_gap(template.vertices, template, "left")
    base = eyelid_gap(as_made, template, "left") / rest
    gap = eyelid_gap(vertices(speech, upper_strength=0.6), template, "left") / rest
    deepest = np.argmin(base)
    # as deep, or shut either way (the blink seal may press the hidden back edge further)
    assert base[deepest] < 0.3 and gap[deepest] <= max(base[deepest], 0.0) + 0.02


def test_strength_settings_are_checked():
    with pytest.raises(SettingsError, match="mouth_strength"):
        Settings(mouth_strength=2.5)
    with pytest.raises(SettingsError, match="upper_strength"):
        Settings.from_mapping({"upper_strength": "loud"})
    assert Settings(lips_only=True).effective_upper_strength == 0.0
