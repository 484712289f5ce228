"""Augmentation: seeded, same length, no timing shift, and each effect does what it says."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import augment as A
from core.data import voices

SR = 16000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    u = voices.synthesize("Bob may buy a map by the pump.", "flite:awb")
    assert u.sample_rate == SR
    return u.audio


def _lag(a: np.ndarray, b: np.ndarray, max_lag: int = 400) -> int:
    """Lag (samples) of b relative to a at the cross-correlation peak."""
    from scipy.signal import correlate

    c = correlate(b.astype(np.float64), a.astype(np.float64), mode="full", method="fft")
    mid = len(a) - 1
    window = c[mid - max_lag : mid + max_lag + 1]
    return int(np.argmax(window)) - max_lag


TRANSFORMS = {
    "white": lambda x, r: A.add_noise(x, r, 10.0, "white"),
    "pink": lambda x, r: A.add_noise(x, r, 10.0, "pink"),
    "babble": lambda x, r: A.add_noise(x, r, 10.0, "babble"),
    "reverb": lambda x, r: A.reverb(x, SR, r, 0.5),
    "telephone": lambda x, r: A.telephone(x, SR),
    "lowpass": lambda x, r: A.band_limit(x, SR, None, 3000.0),
    "resample": lambda x, r: A.resample_round_trip(x, SR, 8000),
    "gain": lambda x, r: A.gain(x, -6.0),
    "chain": lambda x, r: A.augment(x, SR, r)[0],
}


@pytest.mark.parametrize("name", TRANSFORMS)
def test_length_dtype_seed_and_timing(speech, name):
    f = TRANSFORMS[name]
    y1 = f(speech, np.random.default_rng(7))
    y2 = f(speech, np.random.default_rng(7))
    assert y1.dtype == np.float32 and y1.shape == speech.shape
    assert np.array_equal(y1, y2)
    assert np.max(np.abs(y1)) <= 1.0
    assert _lag(speech, y1) == 0  # nothing moved in time


@pytest.mark.parametrize("kind", A.NOISE_KINDS)
@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_noise_hits_the_requested_snr(speech, kind, snr):
    x = speech * 0.5
    y = A.add_noise(x, np.random.default_rng(1), snr, kind)
    measured = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((y - x) ** 2.0))
    assert measured == pytest.approx(snr, abs=0.2)
    assert not np.array_equal(y, A.add_noise(x, np.random.default_rng(2), snr, kind))


def test_babble_uses_other_utterances(speech):
    other = voices.synthesize("Seven lazy sailors sang songs.", "flite:slt").audio
    a = A.babble_noise(speech, np.random.default_rng(0), [other])
    b = A.babble_noise(speech, np.random.default_rng(0))
    assert a.shape == b.shape == speech.shape and not np.allclose(a, b)


def _band_db(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return 10 * np.log10(spec[(f >= lo) & (f < hi)].sum() + 1e-20)


def test_telephone_and_lowpass_remove_the_band(speech):
    tel = A.telephone(speech, SR)
    assert _band_db(speech, 4500, 7500) - _band_db(tel, 4500, 7500) > 25
    assert _band_db(speech, 50, 200) - _band_db(tel, 50, 200) > 15
    assert abs(_band_db(speech, 800, 2500) - _band_db(tel, 800, 2500)) < 3
    lp = A.band_limit(speech, SR, None, 2500.0)
    assert _band_db(speech, 4000, 7500) - _band_db(lp, 4000, 7500) > 30


def test_resample_round_trip_drops_the_top_band(speech):
    y = A.resample_round_trip(speech, SR, 8000)
    assert _band_db(speech, 4200, 7500) - _band_db(y, 4200, 7500) > 40
    assert abs(_band_db(speech, 300, 3000) - _band_db(y, 300, 3000)) < 1


def test_reverb_tail_decays_with_rt60():
    rng = np.random.default_rng(0)
    for rt60 in (0.2, 0.8):
        ir = A.room_impulse_response(SR, rng, rt60)
        assert ir[0] == 1.0 and len(ir) == int(rt60 * SR)
        tail = ir[1:].astype(np.float64) ** 2
        # Energy in the last 20% is ~ -48 dB below the first 20% for an exponential decay.
        n = len(tail) // 5
        drop = 10 * np.log10(tail[:n].sum() / tail[-n:].sum())
        assert 30 < drop < 70
    impulse = np.zeros(SR, np.float32)
    impulse[SR // 4] = 0.5
    wet = A.reverb(impulse, SR, np.random.default_rng(3), 0.6)
    assert np.argmax(np.abs(wet)) == SR // 4  # the direct path stays where it was
    assert np.abs(wet[: SR // 4]).max() < 1e-6  # nothing before the sound (FFT rounding)
    assert np.abs(wet[SR // 4 + 800 :]).max() > 0.0  # a tail after it


def test_gain_is_exact_and_never_clips(speech):
    y = A.gain(speech * 0.1, -6.0)
    assert np.allclose(y, speech * 0.1 * 10 ** (-6 / 20), atol=1e-6)
    loud = A.gain(speech, 30.0)
    assert np.max(np.abs(loud)) <= 1.0 and np.max(np.abs(loud)) > 0.99


def test_augment_names_its_chain_and_varies_with_the_seed(speech):
    names = set()
    for seed in range(12):
        y, name = A.augment(speech, SR, np.random.default_rng(seed))
        assert name and y.shape == speech.shape
        names.add(name)
    assert len(names) >= 10
    parts = {p.split("(")[0] for n in names for p in n.split("+")}
    assert {"noise", "reverb", "gain"} <= parts


def test_warp_mel_stretches_the_frequency_axis_only():
    """Vocal-tract-length perturbation: factor 1 is the identity, > 1 moves a formant up
    the bands, < 1 down; frames (time) never mix."""
    mel = np.full((3, 80), -5.0, np.float32)
    mel[:, 20] = 0.0  # a formant at band 20
    mel[1] -= 1.0  # frames differ
    assert np.array_equal(A.warp_mel(mel, 1.0), mel)
    up, down = A.warp_mel(mel, 1.2), A.warp_mel(mel, 0.8)
    assert up.shape == mel.shape and up.dtype == np.float32
    assert np.argmax(up[0]) == 24 and np.argmax(down[0]) == 16
    assert np.allclose(up[1], up[0] - 1.0)  # each frame warped on its own
    assert np.allclose(down[:, -1], mel[:, -1])  # past the top band: the top band


def test_colour_mel_recolours_each_frame_alone():
    """Random EQ and spectral blur: no gain and no blur is the identity, a gain curve adds
    to every frame, a blur spreads a formant but leaves a flat spectrum flat, and frames
    (time) never mix."""
    mel = np.full((3, 80), -5.0, np.float32)
    mel[:, 20] = 0.0
    mel[1] -= 1.0
    flat = np.zeros(80)
    assert np.array_equal(A.colour_mel(mel, flat, 0.0), mel)
    tilt = np.linspace(-1, 1, 80)
    assert np.allclose(A.colour_mel(mel, tilt, 0.0), mel + tilt)
    blurred = A.colour_mel(mel, flat, 1.5)
    assert blurred.dtype == np.float32 and np.argmax(blurred[0]) == 20
    assert blurred[0, 20] < 0.0 and blurred[0, 22] > -5.0  # the peak spreads
    assert np.allclose(blurred[0, 50:], -5.0)  # far from it, the flat floor stays
    assert np.allclose(blurred[1], blurred[0] - 1.0)
    gains, blur = A.random_colour(80, 1.0, np.random.default_rng(3))
    again = A.random_colour(80, 1.0, np.random.default_rng(3))
    assert np.array_equal(gains, again[0]) and blur == again[1]
    assert gains.shape == (80,) and 0.0 <= blur <= 2.0 and np.abs(gains).max() < 6.0


def test_mask_mel_blanks_bands_and_instants():
    """SpecAugment: masked cells take the window's mean, the rest is untouched, and no mask
    is wider than its limit."""
    rng = np.random.default_rng(0)
    mel = rng.normal(size=(200, 80)).astype(np.float32)
    out = A.mask_mel(mel, 2, np.random.default_rng(1), max_bands=8, max_frames=4)
    assert out.shape == mel.shape and out.dtype == np.float32 and out is not mel
    changed = out != mel
    assert np.allclose(out[changed], mel.mean())
    full_bands = changed.all(axis=0).sum()
    full_frames = changed.all(axis=1).sum()
    assert 0 < full_bands <= 16 and full_frames <= 8
    assert np.array_equal(A.mask_mel(mel, 0, rng), mel)
