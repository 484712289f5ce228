"""The log-mel front end (librosa conventions: slaney mel scale and norm, centred frames,
zero padding), its per-utterance centring, and the timing of mel frames against video
frames."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..config import NetworkConfig
from .samples import AudioError

_DEFAULT = NetworkConfig()

# ---------------------------------------------------------------------------------------
# log-mel spectrogram (librosa conventions)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa's default, htk=False): linear below 1 kHz, log above."""
    hz = np.asarray(hz, np.float64)
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, math.log(6.4) / 27.0
    mel = hz / f_sp
    return np.where(
        hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, mel
    )


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, math.log(6.4) / 27.0
    return np.where(
        mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel
    )


def mel_filterbank(cfg: NetworkConfig = _DEFAULT) -> np.ndarray:
    """(n_mels, n_fft//2 + 1) triangular filters, slaney-normalised like librosa's default."""
    fft_freqs = np.arange(cfg.n_fft // 2 + 1) * cfg.sample_rate / cfg.n_fft
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(cfg.fmin), _hz_to_mel(cfg.fmax), cfg.n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


_MelConstants = tuple[np.ndarray, list[tuple[int, int, int, int, np.ndarray]]]
_CACHE: dict[NetworkConfig, _MelConstants] = {}


def _mel_constants(cfg: NetworkConfig) -> _MelConstants:
    """The periodic Hann window (scipy's fftbins=True) and the filterbank as bands: groups
    of 8 filters with the contiguous FFT-bin range they cover, (bin0, bin1, mel0, mel1,
    weights (bin1-bin0, mel1-mel0)). The triangles are sparse, so the banded products do
    ~1/8 of a dense (bins x mels) product's work."""
    if cfg not in _CACHE:
        n = np.arange(cfg.win_length)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / cfg.win_length)
        fb = mel_filterbank(cfg)
        bands = []
        for m0 in range(0, cfg.n_mels, 8):
            m1 = min(cfg.n_mels, m0 + 8)
            nonzero = np.nonzero(fb[m0:m1].any(axis=0))[0]
            b0, b1 = (int(nonzero[0]), int(nonzero[-1]) + 1) if len(nonzero) else (0, 1)
            bands.append((b0, b1, m0, m1, np.ascontiguousarray(fb[m0:m1, b0:b1].T)))
        _CACHE[cfg] = (window, bands)
    return _CACHE[cfg]


def n_mel_frames(n_samples: int, cfg: NetworkConfig = _DEFAULT) -> int:
    """Centred frames: one every hop, the first centred on sample 0."""
    return 1 + int(n_samples) // cfg.hop_length


def log_mel_range(
    audio: np.ndarray, start: int, stop: int, cfg: NetworkConfig = _DEFAULT
) -> np.ndarray:
    """Log-mel frames [start, stop) of the whole signal's spectrogram, (stop-start, n_mels).

    Frame f covers samples f*hop - n_fft/2 ... + n_fft with zeros outside the signal, so a
    range is computed from exactly the samples the whole-signal computation would use."""
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise AudioError(f"log-mel expects mono audio, got shape {audio.shape}")
    stop = min(stop, n_mel_frames(len(audio), cfg))
    start = max(0, start)
    if stop <= start:
        return np.zeros((0, cfg.n_mels), np.float32)
    window, bands = _mel_constants(cfg)
    offset = (cfg.n_fft - cfg.win_length) // 2  # librosa centres the window in n_fft
    s0 = start * cfg.hop_length - cfg.n_fft // 2 + offset
    s1 = (stop - 1) * cfg.hop_length - cfg.n_fft // 2 + offset + cfg.win_length
    segment = np.zeros(s1 - s0, np.float64)
    a, b = max(0, s0), min(len(audio), s1)
    if b > a:
        segment[a - s0 : b - s0] = audio[a:b]
    frames = np.lib.stride_tricks.sliding_window_view(segment, cfg.win_length)[:: cfg.hop_length]
    mel = np.empty((len(frames), cfg.n_mels))
    # Blocks of frames small enough for the temporaries (windowed frames, spectrum, power)
    # to stay in cache: about half the time of one pass over a whole minute, and no
    # full-length temporaries. Frames are independent, so any range gives the same values.
    for f0 in range(0, len(frames), _MEL_BLOCK):
        f1 = min(len(frames), f0 + _MEL_BLOCK)
        # The power spectrum is invariant to where the window sits inside the n_fft frame.
        spec = np.fft.rfft(frames[f0:f1] * window, n=cfg.n_fft)
        power = spec.real**2
        power += spec.imag**2
        for b0, b1, m0, m1, weights in bands:
            np.matmul(power[:, b0:b1], weights, out=mel[f0:f1, m0:m1])
    mel += cfg.log_eps
    return np.log(mel, out=mel).astype(np.float32)


_MEL_BLOCK = 256  # frames per block: ~1.6 MB of float64 windowed frames


def iter_log_mel(
    audio: np.ndarray, cfg: NetworkConfig = _DEFAULT, chunk_frames: int = 2048
) -> Iterator[np.ndarray]:
    """The log-mel spectrogram in pieces of `chunk_frames` frames (bounded memory)."""
    n = n_mel_frames(len(audio), cfg)
    for start in range(0, n, chunk_frames):
        yield log_mel_range(audio, start, start + chunk_frames, cfg)


def log_mel(audio: np.ndarray, cfg: NetworkConfig = _DEFAULT) -> np.ndarray:
    """(n_frames, n_mels) float32 log(mel power + eps), the network's audio input.

    Equals `np.log(librosa.feature.melspectrogram(y, sr, n_fft, hop_length, win_length,
    n_mels, fmin, fmax) + eps).T` (librosa defaults otherwise)."""
    return np.concatenate(list(iter_log_mel(audio, cfg)), axis=0)


# ---------------------------------------------------------------------------------------
# per-utterance centring (NetworkConfig.mel_centring)

SPEECH_RANGE = 4.6  # nats (20 dB): speech frames are this close to a clip's loud end ...
SPEECH_FLOOR = 4.6  # ... and at least this far (20 dB) above the log floor (digital silence)


def speech_mean(mel: np.ndarray, cfg: NetworkConfig = _DEFAULT) -> np.ndarray:
    """(n_mels,) float32 mean log-mel of a clip's speech frames; zeros if it has none (a
    silent clip stays as it is). Speech frames: a frame power (log of the mean mel power)
    within SPEECH_RANGE of the clip's 98th percentile (robust to a click) and SPEECH_FLOOR
    above digital silence."""
    mel = np.asarray(mel, np.float32)
    if not len(mel):
        return np.zeros(cfg.n_mels, np.float32)
    energy = frame_power(mel)
    floor = math.log(cfg.log_eps) + SPEECH_FLOOR
    speech = energy >= max(float(np.percentile(energy, 98)) - SPEECH_RANGE, floor)
    if not speech.any():
        return np.zeros(cfg.n_mels, np.float32)
    return mel[speech].mean(axis=0)


def frame_power(mel: np.ndarray) -> np.ndarray:
    """(n_frames,) log of each frame's mean mel power: its loudness, led by its loud bands."""
    return np.log(np.exp(np.asarray(mel, np.float64)).mean(axis=1))


def utterance_offset(audio: np.ndarray, cfg: NetworkConfig = _DEFAULT) -> np.ndarray:
    """(n_mels,) what the front end subtracts from every log-mel frame of this whole clip:
    its `speech_mean` with `mel_centring = "utterance"`, zeros with "none"."""
    if cfg.mel_centring == "none":
        return np.zeros(cfg.n_mels, np.float32)
    return speech_mean(log_mel(audio, cfg), cfg)


# ---------------------------------------------------------------------------------------
# timing: mel frames (100 fps) -> video frames (30 fps)


def n_video_frames(n_samples: int, cfg: NetworkConfig = _DEFAULT) -> int:
    """Video frames t = 0, 1/fps, ... that start before the audio ends."""
    return -(-int(n_samples) * cfg.fps // cfg.sample_rate)


def video_positions(
    start: int, stop: int, n_mel: int, cfg: NetworkConfig = _DEFAULT, clamp: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For video frames [start, stop): the two feature-rate encoder frames to interpolate
    between and the weight of the second, (i0, i1, w). A frame at time t reads the encoder
    at position t*mel_fps - audio_shift - feature_delay, clamped to the sequence (the
    log-mel networks) or not (the phonetic front end reads encoder frames past the ends,
    made from the repeated end frames, as its training windows do)."""
    t = np.arange(start, stop, dtype=np.float64)
    pos = t * cfg.sample_rate / (cfg.hop_length * cfg.fps) - cfg.audio_shift - cfg.feature_delay
    if clamp:
        pos = np.clip(pos, 0.0, n_mel - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_mel - 1) if clamp else i0 + 1
    return i0, i1, (pos - i0).astype(np.float32)
