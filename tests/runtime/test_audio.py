"""core.audio: decoding, resampling, log-mel parity with librosa, chunking, timing."""

from __future__ import annotations

import shutil
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from core.runtime.audio import decode, logmel, resampling, samples
from core.train.config import ModelConfig

CFG = ModelConfig()


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[np.ndarray, int]:
    """Real speech (espeak-ng, 22.05 kHz int16) decoded by our WAV reader."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    text = "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore."
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
    samples, sr = decode.read_audio(path)
    assert samples.shape[1] == 1 and sr == 22050
    return samples[:, 0], sr


def librosa_log_mel(y: np.ndarray) -> np.ndarray:
    librosa = pytest.importorskip("librosa")
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=CFG.sample_rate,
        n_fft=CFG.n_fft,
        hop_length=CFG.hop_length,
        win_length=CFG.win_length,
        n_mels=CFG.n_mels,
        fmin=CFG.fmin,
        fmax=CFG.fmax,
    )
    return np.log(mel + CFG.log_eps).T


def tone(freq: float, sr: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return np.sin(2 * np.pi * freq * t).astype(np.float32)


def spectrum_peak(y: np.ndarray, sr: int) -> tuple[float, float]:
    """(peak frequency, rms) of the steady middle of a signal."""
    seg = y[len(y) // 8 : -len(y) // 8]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    return float(np.fft.rfftfreq(len(seg), 1 / sr)[spec.argmax()]), float(np.sqrt(np.mean(seg**2)))


# ---------------------------------------------------------------------------- log-mel


def test_log_mel_matches_librosa_on_speech(speech):
    x, sr = speech
    y = resampling.resample(x, sr, CFG.sample_rate)
    ours = logmel.log_mel(y)
    ref64 = librosa_log_mel(y.astype(np.float64))
    ref32 = librosa_log_mel(y)
    assert ours.shape == ref64.shape == (logmel.n_mel_frames(len(y)), CFG.n_mels)
    assert ours.dtype == np.float32
    # |log a - log b| < 1e-4 <=> mel power within 1e-4 relative
    assert np.abs(ours - ref64).max() < 1e-4
    assert np.abs(ours - ref32).max() < 1e-4
    assert ours.max() - ours.min() > 10  # real dynamic range, not a degenerate signal


def test_mel_filterbank_matches_librosa():
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(
        sr=CFG.sample_rate, n_fft=CFG.n_fft, n_mels=CFG.n_mels, fmax=CFG.fmax, dtype=np.float64
    )
    np.testing.assert_allclose(logmel.mel_filterbank(CFG), ref, rtol=1e-10, atol=1e-12)


def test_chunked_log_mel_equals_one_shot(speech):
    x, sr = speech
    y = resampling.resample(x, sr, CFG.sample_rate)
    whole = logmel.log_mel(y)
    for chunk in (1, 37, 100, 2048):
        assert np.array_equal(np.concatenate(list(logmel.iter_log_mel(y, CFG, chunk))), whole)
    # arbitrary ranges, including ones touching both ends
    for start, stop in ((0, 5), (3, 250), (len(whole) - 7, len(whole) + 10)):
        assert np.array_equal(logmel.log_mel_range(y, start, stop), whole[start:stop])


def test_silence_and_short_clip():
    silence = logmel.log_mel(np.zeros(16000, np.float32))
    assert np.all(silence == np.float32(np.log(CFG.log_eps)))
    clip = np.random.default_rng(0).standard_normal(1600).astype(np.float32) * 0.1  # 0.1 s
    mel = logmel.log_mel(clip)
    assert mel.shape == (11, CFG.n_mels)
    assert np.abs(mel - librosa_log_mel(clip.astype(np.float64))).max() < 1e-4
    assert logmel.n_video_frames(len(clip)) == 3
    assert logmel.log_mel(np.zeros(0, np.float32)).shape == (1, CFG.n_mels)


def test_speech_mean_reads_the_speech_frames(speech):
    """The centring offset: the mean over frames within 20 dB of the clip's loud end, the same
    wherever the silence around it is and however loud the take; zeros without speech or off."""
    cfg = ModelConfig(mel_centring="utterance")
    speech = resampling.resample(*speech).astype(np.float32)
    padded = np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(8000, np.float32)])
    mel = logmel.log_mel(speech, cfg)
    energy = np.log(np.exp(mel.astype(np.float64)).mean(axis=1))
    loud = energy >= np.percentile(energy, 98) - logmel.SPEECH_RANGE
    assert 0 < loud.sum() < len(mel)
    np.testing.assert_allclose(logmel.speech_mean(mel, cfg), mel[loud].mean(axis=0), rtol=1e-5)
    offset = logmel.utterance_offset(speech, cfg)
    np.testing.assert_allclose(logmel.utterance_offset(padded, cfg), offset, atol=0.05)
    # bands far over eps shift with the gain (frames near eps and the floor, less: 0.2 of 1.39)
    strong = offset > np.log(cfg.log_eps) + 6
    assert strong.sum() > 40
    quieter = logmel.utterance_offset(0.5 * speech, cfg)
    np.testing.assert_allclose(quieter[strong], offset[strong] + np.log(0.25), atol=0.2)
    silent = np.zeros(16000, np.float32)
    assert not logmel.utterance_offset(silent, cfg).any()
    assert not logmel.utterance_offset(silent + 1e-5, cfg).any()  # hiss 100 dB down is no speech
    assert not logmel.utterance_offset(speech, ModelConfig()).any()
    with pytest.raises(ValueError, match="mel_centring must be one of"):
        ModelConfig(mel_centring="speaker")


def test_video_positions_cover_the_clip():
    n = 16000 * 7 + 123
    n_mel, n_video = logmel.n_mel_frames(n), logmel.n_video_frames(n)
    assert n_video == int(np.ceil(n * 30 / 16000))
    i0, i1, w = logmel.video_positions(0, n_video, n_mel)
    assert np.all(np.diff(i0) >= 0) and i0.min() >= 0 and i1.max() <= n_mel - 1
    assert np.all((w >= 0) & (w < 1))
    pos = i0 + w
    t = np.arange(n_video)
    expected = np.clip(t * 100 / 30 - CFG.audio_shift, 0, n_mel - 1)
    np.testing.assert_allclose(pos, expected, atol=1e-5)


# ---------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000, 44099])
def test_resample_preserves_tone(sr):
    for freq in (440.0, 3000.0, 7000.0):
        if freq >= sr / 2:
            continue
        y = resampling.resample(tone(freq, sr), sr, 16000)
        assert len(y) == 16000
        peak, rms = spectrum_peak(y, 16000)
        assert abs(peak - freq) <= 1.0
        assert abs(rms - np.sqrt(0.5)) < 1e-3  # flat passband


@pytest.mark.parametrize("sr", [22050, 44100, 48000, 44099])
def test_resample_suppresses_aliasing(sr):
    for freq in (8400.0, 10000.0):  # would fold back to 7.6 kHz / 6 kHz
        if freq >= sr / 2:
            continue
        _, rms = spectrum_peak(resampling.resample(tone(freq, sr), sr, 16000), 16000)
        assert rms < 1e-3 * np.sqrt(0.5)  # at least 60 dB down


def test_resample_identity_lengths_and_dc():
    x = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    np.testing.assert_array_equal(resampling.resample(x, 16000, 16000), x)
    assert len(resampling.resample(x, 44100, 16000)) == int(np.ceil(1000 * 16000 / 44100))
    assert len(resampling.resample(x, 8000, 16000)) == 2000
    dc = resampling.resample(np.ones(48000, np.float32), 48000, 16000)
    np.testing.assert_allclose(dc[200:-200], 1.0, atol=1e-5)
    assert len(resampling.resample(np.zeros(0, np.float32), 44100)) == 0


# ---------------------------------------------------------------------------- formats


def test_stereo_int_and_float_inputs():
    rng = np.random.default_rng(2)
    left = rng.uniform(-0.5, 0.5, 4410).astype(np.float32)
    right = rng.uniform(-0.5, 0.5, 4410).astype(np.float32)
    stereo = np.stack([left, right], axis=1)
    mono = (left + right) / 2
    np.testing.assert_allclose(samples.to_mono(stereo), mono, atol=1e-7)
    np.testing.assert_allclose(samples.to_mono(stereo.T), mono, atol=1e-7)  # channels-first
    ints = np.round(stereo * 32767).astype(np.int16)
    np.testing.assert_allclose(samples.to_mono(ints), mono, atol=1e-4)
    a = decode.prepare_audio(ints, 44100)
    b = decode.prepare_audio(stereo, 44100)
    assert a.dtype == np.float32 and len(a) == 1600
    np.testing.assert_allclose(a, b, atol=2e-4)
    np.testing.assert_allclose(
        samples.to_float32(np.array([0, 128, 255], np.uint8)), [-1, 0, 127 / 128]
    )
    np.testing.assert_allclose(samples.to_float32(np.array([-(2**31)], np.int32)), [-1.0])


def _write_wav(path: Path, data: bytes, channels: int, rate: int, width: int, tag: int) -> None:
    """A WAV file written by hand (float and extensible headers `wave` cannot write)."""
    block = channels * width
    if tag == 0xFFFE:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, width * 8)
        fmt += struct.pack("<HHI", 22, width * 8, 0) + struct.pack("<H", 1) + guid_tail
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, width * 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # odd chunk with a pad byte
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_wav_decoding_all_sample_formats(tmp_path):
    rng = np.random.default_rng(3)
    ref = rng.uniform(-0.9, 0.9, (500, 2)).astype(np.float32)
    cases = {}
    for width, dtype in ((1, np.uint8), (2, "<i2"), (4, "<i4")):  # via the wave module
        scale = 2 ** (8 * width - 1)
        ints = np.round(ref * (scale - 1)).astype(np.int64)
        raw = (ints + 128).astype(np.uint8) if width == 1 else ints.astype(dtype)
        path = tmp_path / f"pcm{width * 8}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(width)
            w.setframerate(22050)
            w.writeframes(raw.tobytes())
        cases[path] = 1.5 / scale
    ints24 = np.round(ref * (2**23 - 1)).astype(np.int32).reshape(-1)
    b24 = np.stack([ints24 & 0xFF, (ints24 >> 8) & 0xFF, (ints24 >> 16) & 0xFF], 1)
    _write_wav(tmp_path / "pcm24.wav", b24.astype(np.uint8).tobytes(), 2, 22050, 3, 1)
    _write_wav(tmp_path / "ext24.wav", b24.astype(np.uint8).tobytes(), 2, 22050, 3, 0xFFFE)
    _write_wav(tmp_path / "f32.wav", ref.astype("<f4").tobytes(), 2, 22050, 4, 3)
    _write_wav(tmp_path / "f64.wav", ref.astype("<f8").tobytes(), 2, 22050, 8, 3)
    cases.update({tmp_path / n: 1e-6 for n in ("pcm24.wav", "ext24.wav", "f32.wav", "f64.wav")})
    for path, tol in cases.items():
        data, sr = decode.read_audio(path)
        assert sr == 22050 and data.shape == (500, 2) and data.dtype == np.float32, path.name
        np.testing.assert_allclose(data, ref, atol=tol, err_msg=path.name)
    y = decode.load_audio(tmp_path / "f32.wav")
    assert y.ndim == 1 and len(y) == int(np.ceil(500 * 16000 / 22050))


def test_other_formats_and_errors(tmp_path):
    soundfile = pytest.importorskip("soundfile")
    ref = (0.5 * tone(440.0, 16000, 0.5)).astype(np.float32)
    soundfile.write(str(tmp_path / "a.flac"), ref, 16000)
    data, sr = decode.read_audio(tmp_path / "a.flac")
    assert sr == 16000
    np.testing.assert_allclose(data[:, 0], ref, atol=1e-4)
    (tmp_path / "junk.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    with pytest.raises(samples.AudioError, match="fmt"):
        decode.read_audio(tmp_path / "junk.wav")
    (tmp_path / "junk.mp3").write_bytes(b"not audio at all" * 10)
    with pytest.raises(samples.AudioError):
        decode.read_audio(tmp_path / "junk.mp3")
    with pytest.raises(samples.AudioError, match="not found"):
        decode.read_audio(tmp_path / "missing.wav")
