"""Audio augmentation, so the model hears more than clean synthetic speech.

Noise at several SNRs (white, pink, babble), room reverb (synthetic impulse responses: early
reflections + an exponentially decaying tail), EQ / band-limiting (telephone, low-pass),
resampling round trips and gain. Every transform is seeded by the numpy Generator passed in,
returns float32 of exactly the input length, and never moves sound in time: filters run
forward-backward (zero phase), the impulse response's direct path sits at lag 0, and soxr's
resampler compensates its own delay. So the phone timings of the clean clip stay valid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SNR_DB = (0.0, 5.0, 10.0, 15.0, 20.0, 30.0)
NOISE_KINDS = ("white", "pink", "babble")
ROOM_TONES = ("white", "pink", "brown")  # colours of the room tone in long pauses


def _f32(audio: np.ndarray) -> np.ndarray:
    return np.asarray(audio, dtype=np.float32).reshape(-1)


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0


def _limit(x: np.ndarray) -> np.ndarray:
    """Scale down (never clip) if the peak exceeds full scale: no new distortion, same timing."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0.999:
        x = x * (0.999 / peak)
    return x.astype(np.float32)


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise by shaping white noise in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(max(n, 2)))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n=max(n, 2))[:n]
    return (x / (np.std(x) + 1e-12)).astype(np.float32)


def brown_noise(n: int, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """1/f^2 (Brownian) noise, the rumble of ventilation and traffic in a quiet room. Nothing
    below 20 Hz: a microphone chain drops it, and unbounded infrasound would carry all the
    power, leaving nothing audible at a given level."""
    m = max(n, 2)
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.fft.rfftfreq(m, 1.0 / sample_rate)
    spec = np.where(f >= 20.0, spec / np.maximum(f, 20.0), 0.0)
    x = np.fft.irfft(spec, n=m)[:n]
    return (x / (np.std(x) + 1e-12)).astype(np.float32)


def room_tone(
    n: int, sample_rate: int, rng: np.random.Generator, kind: str, dbfs: float
) -> np.ndarray:
    """`n` samples of steady low-level noise at `dbfs` (RMS re full scale): what a recording
    holds between the lines when the editor kept the room (`ROOM_TONES`)."""
    if kind == "white":
        x = white_noise(n, rng)
    elif kind == "pink":
        x = pink_noise(n, rng)
    elif kind == "brown":
        x = brown_noise(n, rng, sample_rate)
    else:
        raise ValueError(f"room tone must be one of {ROOM_TONES}, not {kind!r}")
    rms = np.sqrt(_power(x))
    return (x * (10.0 ** (dbfs / 20.0) / rms) if rms > 0 else x).astype(np.float32)


def babble_noise(
    audio: np.ndarray,
    rng: np.random.Generator,
    others: Sequence[np.ndarray] | None = None,
    talkers: int = 5,
) -> np.ndarray:
    """Several talkers mixed: other utterances if given, else reversed, shifted copies of this
    one (reversed speech has speech's spectrum and rhythm but no words to follow)."""
    n = len(audio)
    pool = [_f32(o) for o in others if len(o)] if others else []
    if not pool:
        pool = [_f32(audio)[::-1].copy()]
    mix = np.zeros(n, dtype=np.float64)
    for _ in range(talkers):
        src = pool[int(rng.integers(len(pool)))]
        if len(src) < n:
            src = np.resize(src, n)  # tile a short talker
        start = int(rng.integers(max(len(src), 1)))
        seg = np.roll(src, -start)[:n]
        mix += seg / (np.std(seg) + 1e-9)
    return (mix / (np.std(mix) + 1e-12)).astype(np.float32)


def add_noise(
    audio: np.ndarray,
    rng: np.random.Generator,
    snr_db: float,
    kind: str = "white",
    others: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Add noise of a kind at a signal-to-noise ratio (dB, over the whole clip)."""
    x = _f32(audio)
    if kind == "white":
        noise = white_noise(len(x), rng)
    elif kind == "pink":
        noise = pink_noise(len(x), rng)
    elif kind == "babble":
        noise = babble_noise(x, rng, others)
    else:
        raise ValueError(f"noise kind must be one of {NOISE_KINDS}, not {kind!r}")
    ps, pn = _power(x), _power(noise)
    if ps == 0.0 or pn == 0.0:
        return x.copy()
    scale = np.sqrt(ps / (pn * 10.0 ** (snr_db / 10.0)))
    return _limit(x + scale * noise)


def room_impulse_response(
    sample_rate: int, rng: np.random.Generator, rt60: float, direct_to_reverb_db: float = 3.0
) -> np.ndarray:
    """Synthetic room IR: unit direct path at lag 0, a few early reflections (2–40 ms), and a
    noise tail decaying by 60 dB over ``rt60`` seconds."""
    n = max(int(rt60 * sample_rate), 8)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    onset = int(0.005 * sample_rate)
    tail[:onset] *= np.linspace(0.0, 1.0, onset, endpoint=False)  # tail builds up after 5 ms
    for _ in range(int(rng.integers(3, 8))):
        lag = int(rng.uniform(0.002, 0.040) * sample_rate)
        if 0 < lag < n:
            tail[lag] += rng.uniform(-0.7, 0.7)
    tail[0] = 0.0
    tail *= np.sqrt(10.0 ** (-direct_to_reverb_db / 10.0) / (np.sum(tail**2) + 1e-12))
    ir = tail
    ir[0] = 1.0
    return ir.astype(np.float32)


def reverb(
    audio: np.ndarray, sample_rate: int, rng: np.random.Generator, rt60: float = 0.4
) -> np.ndarray:
    """Convolve with a synthetic room IR; the tail past the clip's end is cut (same length)."""
    from scipy.signal import fftconvolve

    x = _f32(audio)
    ir = room_impulse_response(sample_rate, rng, rt60, float(rng.uniform(0.0, 8.0)))
    y = fftconvolve(x.astype(np.float64), ir.astype(np.float64), mode="full")[: len(x)]
    y *= np.sqrt(_power(x) / (_power(y) + 1e-20))  # keep the loudness
    return _limit(y)


def band_limit(
    audio: np.ndarray, sample_rate: int, low_hz: float | None, high_hz: float | None
) -> np.ndarray:
    """Zero-phase Butterworth band-pass / low-pass / high-pass (forward-backward: no delay)."""
    from scipy.signal import butter, sosfiltfilt

    x = _f32(audio)
    nyq = sample_rate / 2.0
    lo = low_hz if low_hz and low_hz > 0 else None
    hi = high_hz if high_hz and high_hz < 0.98 * nyq else None
    if lo is None and hi is None or len(x) < 64:
        return x.copy()
    if lo and hi:
        sos = butter(4, [lo / nyq, hi / nyq], btype="bandpass", output="sos")
    elif hi:
        sos = butter(6, hi / nyq, btype="lowpass", output="sos")
    else:
        sos = butter(4, lo / nyq, btype="highpass", output="sos")
    return _limit(sosfiltfilt(sos, x.astype(np.float64)))


def telephone(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Telephone band (300–3400 Hz)."""
    return band_limit(audio, sample_rate, 300.0, 3400.0)


def resample_round_trip(audio: np.ndarray, sample_rate: int, via_rate: int) -> np.ndarray:
    """Down to ``via_rate`` and back (loses the band above via_rate/2, adds resampler colour)."""
    import soxr

    x = _f32(audio)
    if via_rate >= sample_rate or len(x) == 0:
        return x.copy()
    down = soxr.resample(x, sample_rate, via_rate, quality="HQ")
    up = soxr.resample(down, via_rate, sample_rate, quality="HQ")
    out = np.zeros(len(x), dtype=np.float32)
    m = min(len(x), len(up))
    out[:m] = up[:m]
    return _limit(out)


def gain(audio: np.ndarray, db: float) -> np.ndarray:
    """Level change in dB (limited so that it never clips)."""
    return _limit(_f32(audio) * np.float32(10.0 ** (db / 20.0)))


def augment(
    audio: np.ndarray,
    sample_rate: int,
    rng: np.random.Generator,
    others: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, str]:
    """A random chain of the transforms above; returns (audio, description).

    At least one transform is applied. ``others`` (other utterances at the same rate) feed the
    babble noise; without them babble comes from this clip reversed.
    """
    x = _f32(audio)
    n = len(x)
    steps: list[str] = []
    while not steps:
        if rng.random() < 0.3:
            if rng.random() < 0.5:
                x = telephone(x, sample_rate)
                steps.append("telephone")
            else:
                cut = float(rng.uniform(2500.0, 7000.0))
                x = band_limit(x, sample_rate, None, cut)
                steps.append(f"lowpass({cut:.0f}Hz)")
        if rng.random() < 0.25:
            via = int(rng.choice([8000, 11025, 12000]))
            x = resample_round_trip(x, sample_rate, via)
            steps.append(f"resample({via})")
        if rng.random() < 0.4:
            rt60 = float(rng.uniform(0.15, 0.9))
            x = reverb(x, sample_rate, rng, rt60)
            steps.append(f"reverb(rt60={rt60:.2f})")
        if rng.random() < 0.6:
            kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
            snr = float(rng.choice(SNR_DB)) + float(rng.uniform(-2.0, 2.0))
            x = add_noise(x, rng, snr, kind, others)
            steps.append(f"noise({kind},snr={snr:.1f})")
        if rng.random() < 0.5:
            db = float(rng.uniform(-18.0, 6.0))
            x = gain(x, db)
            steps.append(f"gain({db:+.1f}dB)")
    if len(x) != n:  # every transform keeps the length; this guards future edits
        raise RuntimeError(f"augmentation changed the length {n} -> {len(x)}")
    return x.astype(np.float32), "+".join(steps)


def warp_mel(mel: np.ndarray, factor: float) -> np.ndarray:
    """Log-mel (N, n_mels) with its frequency axis stretched by `factor` (> 1 moves formants
    up, like a shorter vocal tract): vocal-tract-length perturbation at training time, so the
    network hears more speakers than the corpus has voices. Linear interpolation between
    bands; the top band repeats past the edge. Timing is untouched."""
    n = mel.shape[-1]
    pos = np.minimum(np.arange(n) / factor, n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = (pos - lo).astype(mel.dtype)
    return mel[..., lo] * (1 - frac) + mel[..., hi] * frac


def colour_mel(mel: np.ndarray, gains: np.ndarray, blur: float) -> np.ndarray:
    """Log-mel (N, n_mels) recoloured: `gains` (n_mels,) added to every frame (a brighter or
    duller voice, another microphone), then each frame blurred over `blur` bands (Gaussian
    sigma; 0 = none), like a vocoder's over-smoothed envelope. Timing is untouched."""
    out = mel + gains.astype(mel.dtype)
    if blur <= 0:
        return out
    offsets = np.arange(-int(3 * blur + 1), int(3 * blur + 1) + 1)
    kernel = np.exp(-0.5 * (offsets / blur) ** 2)
    idx = np.clip(np.arange(mel.shape[-1])[:, None] + offsets, 0, mel.shape[-1] - 1)
    return (out[..., idx] @ (kernel / kernel.sum())).astype(mel.dtype)


def random_colour(n_mels: int, strength: float, rng: np.random.Generator):
    """Draws for `colour_mel`: a tilt of up to -/+ 2 x strength nats across the band plus
    smooth ripples (cosines 1-4, amplitude strength / k), and in half the draws a blur of
    up to 2 bands."""
    x = np.linspace(0.0, 1.0, n_mels)
    gains = strength * rng.uniform(-2, 2) * (x - 0.5)
    for k in range(1, 5):
        gains += rng.normal(0.0, strength / k) * np.cos(np.pi * k * x)
    blur = float(rng.uniform(0.0, 2.0)) if rng.random() < 0.5 else 0.0
    return gains, blur


def mask_mel(
    mel: np.ndarray, masks: int, rng: np.random.Generator, max_bands: int = 8, max_frames: int = 4
) -> np.ndarray:
    """SpecAugment: `masks` bands of up to `max_bands` mel bands and `masks` spans of up to
    `max_frames` frames set to the window's mean, so the encoder cannot lean on any one band
    (a voice's own harmonics) or instant. Spans are short (40 ms), so timing survives."""
    out = mel.copy()
    fill = out.mean()
    n, bands = out.shape
    for _ in range(masks):
        w = int(rng.integers(0, max_bands + 1))
        b = int(rng.integers(0, bands - w + 1))
        out[:, b : b + w] = fill
        w = int(rng.integers(0, max_frames + 1))
        t = int(rng.integers(0, max(n - w, 0) + 1))
        out[t : t + w] = fill
    return out
