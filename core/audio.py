"""Audio front end in numpy alone: decode, mono, resample to 16 kHz, log-mel.

Blender ships numpy but neither scipy nor librosa, so everything the network needs is done
here: WAV decoding (the `wave` module, or our own RIFF parser for float/extensible WAVs),
an anti-aliased windowed-sinc resampler, and a log-mel spectrogram that matches
`librosa.feature.melspectrogram` (slaney mel scale and norm, centred frames, zero padding).
Other formats (FLAC/OGG/MP3) are decoded with soundfile or librosa when importable.
"""

from __future__ import annotations

import math
import struct
import warnings
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .config import ModelConfig

_DEFAULT = ModelConfig()
_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_FLOAT = 3
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


class AudioError(Exception):
    """Audio that cannot be decoded or used (bad file, unsupported format, empty)."""


# ---------------------------------------------------------------------------------------
# decoding


def load_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode a file to mono float32 at `sample_rate`: the network's input."""
    samples, sr = read_audio(path)
    mono = to_mono(samples)
    del samples  # a 10-minute stereo file: free 100 MB before resampling
    return resample(mono, sr, sample_rate)


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode a file to float32 (frames, channels) in [-1, 1] and its sample rate.

    WAV is decoded with the standard library (works inside Blender); other formats need
    soundfile or librosa, which are imported only here, only when needed."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return read_wav(path)
    return _read_with_libraries(path)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode a WAV file (8/16/24/32-bit int, 32/64-bit float, extensible) to float32
    (frames, channels). `wave` handles plain PCM; it refuses float and (on Python 3.11)
    extensible headers, which our own RIFF parser reads."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            n = w.getnframes()
            out = np.empty((n, channels), np.float32)
            done = 0
            while done < n:  # in blocks: no full-length temporaries
                data = w.readframes(min(_BLOCK, n - done))
                if not data:
                    break
                block = _decode_pcm(data, channels, width, _WAVE_FORMAT_PCM, str(path))
                out[done : done + len(block)] = block
                done += len(block)
        return out[:done], rate
    except (wave.Error, EOFError):
        pass
    return _read_riff(Path(path))


def _read_riff(path: Path) -> tuple[np.ndarray, int]:
    raw = memoryview(path.read_bytes())  # slices of a memoryview do not copy
    if len(raw) < 12 or bytes(raw[:4]) not in (b"RIFF", b"RF64") or raw[8:12] != b"WAVE":
        raise AudioError(f"{path}: not a little-endian RIFF/WAVE file")
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(raw):
        chunk_id, size = bytes(raw[pos : pos + 4]), struct.unpack("<I", raw[pos + 4 : pos + 8])[0]
        body_start = pos + 8
        body_end = min(len(raw), body_start + size)  # streamed files may claim 0xFFFFFFFF
        if chunk_id == b"fmt ":
            fmt = raw[body_start:body_end]
        elif chunk_id == b"data":
            data = raw[body_start:body_end]
            if fmt is not None:
                break
        pos = body_start + size + (size & 1)
    if fmt is None or len(fmt) < 16:
        raise AudioError(f"{path}: WAV file without a valid 'fmt ' chunk")
    if data is None:
        raise AudioError(f"{path}: WAV file without a 'data' chunk")
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    width = block_align // max(1, channels)
    if tag == _WAVE_FORMAT_EXTENSIBLE:
        if len(fmt) < 26:
            raise AudioError(f"{path}: truncated WAVE_FORMAT_EXTENSIBLE header")
        tag = struct.unpack("<H", fmt[24:26])[0]  # first two bytes of the subformat GUID
    if channels < 1 or block_align < channels or block_align % channels:
        raise AudioError(f"{path}: bad WAV header ({channels} channels, block {block_align})")
    n = len(data) // block_align
    out = np.empty((n, channels), np.float32)
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        block = data[start * block_align : stop * block_align]
        out[start:stop] = _decode_pcm(block, channels, width, tag, str(path))
    return out, rate


_BLOCK = 1 << 18  # frames decoded at a time


def _decode_pcm(data: bytes | memoryview, channels: int, width: int, tag: int, name: str):
    """Interleaved little-endian samples -> float32 (frames, channels) in [-1, 1]."""
    n = len(data) // (width * channels)
    data = data[: n * width * channels]
    if tag == _WAVE_FORMAT_FLOAT:
        if width not in (4, 8):
            raise AudioError(f"{name}: unsupported float WAV sample width {width * 8} bits")
        out = np.frombuffer(data, dtype="<f4" if width == 4 else "<f8").astype(np.float32)
    elif tag == _WAVE_FORMAT_PCM:
        if width == 1:  # 8-bit WAV is unsigned
            out = np.frombuffer(data, np.uint8).astype(np.float32)
            out -= 128.0
            out *= 1.0 / 128.0
        elif width in (2, 4):
            out = np.frombuffer(data, dtype="<i2" if width == 2 else "<i4").astype(np.float32)
            out *= 1.0 / 2 ** (8 * width - 1)  # exact: a power of two
        elif width == 3:
            b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
            ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
            out = ints.astype(np.float32)
            out *= 1.0 / (1 << 23)
        else:
            raise AudioError(f"{name}: unsupported PCM WAV sample width {width * 8} bits")
    else:
        raise AudioError(f"{name}: unsupported WAV format tag {tag} (PCM and float only)")
    return out.reshape(n, channels)


def _read_with_libraries(path: Path) -> tuple[np.ndarray, int]:
    try:
        import soundfile
    except ImportError:
        soundfile = None
    if soundfile is not None:
        try:
            data, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
            return data, int(sr)
        except Exception as exc:  # soundfile raises its own LibsndfileError and RuntimeError
            sf_error: Exception | None = exc
    else:
        sf_error = None
    try:
        import librosa
    except ImportError:
        hint = f" (soundfile: {sf_error})" if sf_error else ""
        raise AudioError(
            f"{path}: only WAV can be decoded without soundfile or librosa; "
            f"convert the file to WAV or install soundfile{hint}"
        ) from None
    try:
        with warnings.catch_warnings():  # librosa warns when falling back to audioread
            warnings.simplefilter("ignore")
            data, sr = librosa.load(str(path), sr=None, mono=False)
    except Exception as exc:
        raise AudioError(f"{path}: cannot decode audio: {exc}") from exc
    data = np.asarray(data, np.float32)
    return (data[:, None] if data.ndim == 1 else data.T), int(sr)


# ---------------------------------------------------------------------------------------
# sample formats


def to_float32(samples: np.ndarray) -> np.ndarray:
    """Integer PCM (int8/16/32, uint8) or float samples -> float32 in [-1, 1]."""
    x = np.asarray(samples)
    if x.dtype == np.uint8:
        return (x.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(x.dtype, np.signedinteger):
        out = x.astype(np.float32)
        out *= np.float32(1.0 / 2 ** (8 * x.dtype.itemsize - 1))
        return out
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32, copy=False)
    raise AudioError(f"unsupported sample dtype {x.dtype}")


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels: (n,), (n, channels) or channels-first (channels, n) -> (n,).

    A 2-D array is channels-first only when its first axis is short (<= 8) and its second
    long; otherwise it is read as frames x channels (soundfile's and our decoder's layout)."""
    x = to_float32(samples)
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise AudioError(f"audio must be 1-D or 2-D, got shape {x.shape}")
    if x.shape[0] <= 8 < x.shape[1]:
        x = x.T
    out = x[:, 0].copy()
    for c in range(1, x.shape[1]):  # channel by channel: no (n, channels) temporaries
        out += x[:, c]
    if x.shape[1] > 1:
        out *= np.float32(1.0 / x.shape[1])
    return out


def prepare_audio(samples: np.ndarray, sample_rate: int, cfg: ModelConfig = _DEFAULT) -> np.ndarray:
    """Any samples (int or float, mono or multi-channel, any rate) -> the network's input."""
    return resample(to_mono(samples), sample_rate, cfg.sample_rate)


# ---------------------------------------------------------------------------------------
# resampling: Kaiser-windowed sinc, polyphase, written as one matrix product per block


_KAISER_BETA = 8.6  # ~86 dB stopband
_ZEROS = 64  # half-width of the sinc in samples of the lower rate
_MAX_MATRIX = 1 << 22  # entries of the polyphase matrix before falling back to direct


def resample(x: np.ndarray, sr_in: int, sr_out: int = 16000) -> np.ndarray:
    """Band-limited resampling of a mono signal from `sr_in` to `sr_out` (float32).

    Output sample n sits at input position n*sr_in/sr_out. The low-pass (cutoff just below
    the lower Nyquist, stopband from it on) removes aliasing when downsampling and images
    when upsampling; every polyphase filter is normalised to unit DC gain."""
    x = to_float32(x)
    if x.ndim != 1:
        raise AudioError(f"resample expects mono audio, got shape {x.shape}")
    sr_in, sr_out = int(sr_in), int(sr_out)
    if sr_in <= 0 or sr_out <= 0:
        raise AudioError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out or len(x) == 0:
        return x.copy()
    g = math.gcd(sr_in, sr_out)
    up, down = sr_out // g, sr_in // g
    n_out = -(-len(x) * up // down)
    f_low = min(sr_in, sr_out)
    atten = _KAISER_BETA / 0.1102 + 8.7
    transition = (atten - 8.0) / (2.285 * 2 * math.pi * 2 * _ZEROS) * f_low
    cutoff = (f_low / 2 - transition / 2) / sr_in  # cycles per input sample
    half = _ZEROS * sr_in / f_low  # half-width of the filter in input samples
    width = int(math.ceil(half)) + 1
    k = max(1, -(-64 // up))  # group outputs so that each matrix product is wide enough
    up_b, down_b = up * k, down * k
    if (down_b + 2 * width + 1) * up_b <= _MAX_MATRIX:
        return _resample_matrix(x, up_b, down_b, width, n_out, cutoff, half)
    return _resample_direct(x, up, down, width, n_out, cutoff, half)


def _kernel(dist: np.ndarray, cutoff: float, half: float) -> np.ndarray:
    """Windowed sinc at distances (input samples) from the output position."""
    u = np.clip(dist / half, -1.0, 1.0)
    window = np.i0(_KAISER_BETA * np.sqrt(1.0 - u * u)) / np.i0(_KAISER_BETA)
    h = 2 * cutoff * np.sinc(2 * cutoff * dist) * window
    return np.where(np.abs(dist) < half, h, 0.0)


def _resample_matrix(
    x: np.ndarray, period_out: int, period_in: int, width: int, n_out: int, cutoff, half
) -> np.ndarray:
    """Polyphase resampling as matrix products: every `period_in` input samples give
    `period_out` outputs with the same taps. When it saves work, the outputs of a period
    are split into groups of consecutive outputs, each with a (span, group) tap matrix over
    just the inputs that group reaches: one matrix for the whole period would be mostly
    zeros (22.05 kHz: 622 taps per output of which ~176 are non-zero; grouped: 225)."""
    n_blocks = -(-n_out // period_out)
    # input sample i sits at padded[width + i]; block b's inputs start at b * period_in
    padded = np.zeros(width + n_blocks * period_in + 2 * width + 1, np.float32)
    padded[width : width + len(x)] = x[: len(padded) - width]
    out = np.empty((n_blocks, period_out), np.float32)
    for outs, first, span in _output_groups(period_out, period_in, width):
        pos = outs * period_in / period_out  # output positions in input samples
        taps = _kernel(pos[None, :] - (first + np.arange(span))[:, None], cutoff, half)
        taps = (taps / taps.sum(axis=0, keepdims=True)).astype(np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(padded[width + first :], span)
        windows = windows[::period_in][:n_blocks]
        # windows no longer than the period do not overlap: a strided view that BLAS reads
        # directly; overlapping ones are copied first (numpy's matmul skips BLAS for
        # overlapping views), in pieces of ~16 MB
        overlap = span > period_in
        step = max(1, (1 << 24) // (span * 4)) if overlap else n_blocks
        g0, g1 = int(outs[0]), int(outs[-1]) + 1
        for b in range(0, n_blocks, step):
            block = windows[b : b + step]
            out[b : b + step, g0:g1] = (np.ascontiguousarray(block) if overlap else block) @ taps
    return out.reshape(-1)[:n_out]


def _output_groups(
    period_out: int, period_in: int, width: int
) -> list[tuple[np.ndarray, int, int]]:
    """(outputs, first input sample, span) per group of a period's outputs: groups of about
    width * period_out / (2 * period_in) outputs (the inputs a group reaches are then ~1.5
    filter lengths; fewer if that keeps the spans within a period), or one group when
    grouping does not save at least a third of the work."""
    size = min(period_out, max(8, -(-width * period_out // (2 * period_in))))
    fits = (period_in - 2 * width - 2) * period_out // period_in  # spans <= the period
    if 8 <= fits < size:
        size = fits  # groups whose windows do not overlap need no copy (see above)
    groups = []
    for g0 in range(0, period_out, size):
        outs = np.arange(g0, min(period_out, g0 + size))
        first = (g0 * period_in) // period_out - width  # floor of the first output's position
        last = -(-(int(outs[-1]) * period_in) // period_out)  # ceil of the last one's
        groups.append((outs, first, last + width + 1 - first))
    whole = (np.arange(period_out), -width, period_in + 2 * width + 1)
    grouped_work = sum(len(o) * span for o, _, span in groups)
    return groups if 1.5 * grouped_work < period_out * whole[2] else [whole]


def _resample_direct(
    x: np.ndarray, up: int, down: int, width: int, n_out: int, cutoff, half
) -> np.ndarray:
    """Rates whose ratio has a huge denominator (e.g. 44099 Hz): too many phases to store,
    so the taps come from a table of 1024 phases, linearly interpolated (the table error is
    far below the filter's own stopband)."""
    n_phases = 1024
    offsets = np.arange(-width + 1, width + 1)
    grid = np.arange(n_phases + 1) / n_phases
    table = _kernel(grid[:, None] - offsets[None, :], cutoff, half)
    table = (table / table.sum(axis=1, keepdims=True)).astype(np.float32)
    padded = np.concatenate([np.zeros(width, np.float32), x, np.zeros(width + 1, np.float32)])
    frames = np.lib.stride_tricks.sliding_window_view(padded, len(offsets))
    out = np.empty(n_out, np.float32)
    for start in range(0, n_out, 4096):
        n = np.arange(start, min(n_out, start + 4096), dtype=np.int64)
        base = n * down // up  # input sample at or before the output position
        pos = (n * down % up) * (n_phases / up)
        i = np.minimum(pos.astype(np.int64), n_phases - 1)
        a = (pos - i).astype(np.float32)[:, None]
        taps = table[i] * (1 - a) + table[i + 1] * a
        # frames[base + 1] starts at input sample base - width + 1 = base + offsets[0]
        out[start : start + len(n)] = np.einsum("ij,ij->i", frames[base + 1], taps)
    return out


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


def mel_filterbank(cfg: ModelConfig = _DEFAULT) -> np.ndarray:
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
_CACHE: dict[ModelConfig, _MelConstants] = {}


def _mel_constants(cfg: ModelConfig) -> _MelConstants:
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


def n_mel_frames(n_samples: int, cfg: ModelConfig = _DEFAULT) -> int:
    """Centred frames: one every hop, the first centred on sample 0."""
    return 1 + int(n_samples) // cfg.hop_length


def log_mel_range(
    audio: np.ndarray, start: int, stop: int, cfg: ModelConfig = _DEFAULT
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
    audio: np.ndarray, cfg: ModelConfig = _DEFAULT, chunk_frames: int = 2048
) -> Iterator[np.ndarray]:
    """The log-mel spectrogram in pieces of `chunk_frames` frames (bounded memory)."""
    n = n_mel_frames(len(audio), cfg)
    for start in range(0, n, chunk_frames):
        yield log_mel_range(audio, start, start + chunk_frames, cfg)


def log_mel(audio: np.ndarray, cfg: ModelConfig = _DEFAULT) -> np.ndarray:
    """(n_frames, n_mels) float32 log(mel power + eps), the network's audio input.

    Equals `np.log(librosa.feature.melspectrogram(y, sr, n_fft, hop_length, win_length,
    n_mels, fmin, fmax) + eps).T` (librosa defaults otherwise)."""
    return np.concatenate(list(iter_log_mel(audio, cfg)), axis=0)


# ---------------------------------------------------------------------------------------
# per-utterance centring (ModelConfig.mel_centring)

SPEECH_RANGE = 4.6  # nats (20 dB): speech frames are this close to a clip's loud end ...
SPEECH_FLOOR = 4.6  # ... and at least this far (20 dB) above the log floor (digital silence)


def speech_mean(mel: np.ndarray, cfg: ModelConfig = _DEFAULT) -> np.ndarray:
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


def utterance_offset(audio: np.ndarray, cfg: ModelConfig = _DEFAULT) -> np.ndarray:
    """(n_mels,) what the front end subtracts from every log-mel frame of this whole clip:
    its `speech_mean` with `mel_centring = "utterance"`, zeros with "none"."""
    if cfg.mel_centring == "none":
        return np.zeros(cfg.n_mels, np.float32)
    return speech_mean(log_mel(audio, cfg), cfg)


# ---------------------------------------------------------------------------------------
# timing: mel frames (100 fps) -> video frames (30 fps)


def n_video_frames(n_samples: int, cfg: ModelConfig = _DEFAULT) -> int:
    """Video frames t = 0, 1/fps, ... that start before the audio ends."""
    return -(-int(n_samples) * cfg.fps // cfg.sample_rate)


def video_positions(
    start: int, stop: int, n_mel: int, cfg: ModelConfig = _DEFAULT
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For video frames [start, stop): the two mel-rate encoder frames to interpolate
    between and the weight of the second, (i0, i1, w). A frame at time t reads the encoder
    at mel position t*mel_fps - audio_shift (clamped to the sequence)."""
    t = np.arange(start, stop, dtype=np.float64)
    pos = t * cfg.sample_rate / (cfg.hop_length * cfg.fps) - cfg.audio_shift
    pos = np.clip(pos, 0.0, n_mel - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_mel - 1)
    return i0, i1, (pos - i0).astype(np.float32)
