"""Decoding: audio files to float32 samples, mono, at the network's rate.

Blender ships numpy but neither scipy nor librosa: WAV is decoded with the `wave` module or
our own RIFF parser (float and extensible WAVs); other formats (FLAC/OGG/MP3) with soundfile
or librosa when importable (`pip install meshtalk[formats]`; inside Blender the add-on
decodes them with Blender's own `aud`).
"""

from __future__ import annotations

import struct
import warnings
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .resampling import resample
from .samples import AudioError, to_mono

_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_FLOAT = 3
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# Writers that cannot seek back (pipes, live recorders) leave a placeholder data size:
# 0xFFFFFFFF (ffmpeg), 0x7FFFFFFF / 0x7FFFF000 (arecord, sox), or 0xFFFFFFFF with the real
# size in a ds64 chunk (RF64). A size this large means "read to the end", not "truncated".
_UNKNOWN_SIZE = 0x7FFF0000
_UNKNOWN_SIZE_64 = 1 << 62


class TruncatedAudioError(AudioError):
    """A WAV file that ends before its header says it should (a cut-off copy or download).
    Not worth a second decoder: the audio that is missing is missing for every decoder,
    and animating the part that is there would silently drop the rest of the clip."""


def describe(exc: BaseException) -> str:
    """An exception as words, never empty: some decoders raise exceptions without a
    message (audioread's NoBackendError), which printed as 'cannot decode audio: '."""
    text = str(exc).strip()
    return text if text else type(exc).__name__


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
    extensible headers, which our own RIFF parser reads. A file cut short of what its
    header announces raises `TruncatedAudioError` (both readers would decode the part that
    is there without a word)."""
    try:
        wav_layout(path)
    except TruncatedAudioError:
        raise
    except AudioError:
        pass  # malformed in another way: the readers below say how, as they always did
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


@dataclass(frozen=True)
class WavLayout:
    """Where a WAV file's samples are and how many there should be (its header only)."""

    tag: int  # format tag (PCM 1, float 3; an extensible header's subformat)
    channels: int
    rate: int
    block_align: int  # bytes per frame (all channels)
    data_offset: int  # byte offset of the first sample
    frames: int  # frames in the file (to its end when the header's size is a placeholder)
    announced_frames: int | None  # frames the header announces (None: a placeholder size)

    @property
    def width(self) -> int:
        return self.block_align // self.channels

    @property
    def seconds(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


def is_wav(path: str | Path) -> bool:
    """Does the file start like a WAV (RIFF, RIFX or RF64 with the WAVE form)?"""
    with open(path, "rb") as f:
        head = f.read(12)
    return head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE"


def wav_layout(path: str | Path) -> WavLayout:
    """Walk a WAV file's chunk headers (seeks, no sample data read) and check that the file
    holds what they announce; raises `TruncatedAudioError` for a file that ends early (the
    announced and the present amount in the message) and `AudioError` for other damage."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            raise AudioError(f"{path}: not a little-endian RIFF/WAVE file")
        pos, fmt, data, ds64_size = 12, None, None, None
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            body = pos + 8
            if chunk_id in (b"fmt ", b"ds64"):
                raw = f.read(min(chunk_size, 64))
                if len(raw) < min(chunk_size, 64):
                    raise TruncatedAudioError(
                        f"{path}: truncated WAV: the file ({size} bytes) ends inside its "
                        f"'{chunk_id.decode()}' chunk"
                    )
                if chunk_id == b"fmt ":
                    fmt = raw
                elif head[:4] == b"RF64" and len(raw) >= 16:
                    ds64_size = struct.unpack("<Q", raw[8:16])[0]  # riff size, then data
            elif chunk_id == b"data":
                data = (body, chunk_size)
                if fmt is not None:
                    break
            pos = body + chunk_size + (chunk_size & 1)
    if fmt is None and data is None:
        raise TruncatedAudioError(
            f"{path}: truncated WAV: the file ({size} bytes) ends before its 'fmt ' chunk"
        )
    if fmt is None or len(fmt) < 16:
        raise AudioError(f"{path}: WAV file without a valid 'fmt ' chunk")
    if data is None:
        raise TruncatedAudioError(
            f"{path}: truncated WAV: the file ({size} bytes) ends before its 'data' chunk"
        )
    tag, channels, rate, _, block_align, _ = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _WAVE_FORMAT_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # first two bytes of the subformat GUID
    if channels < 1 or block_align < channels or block_align % channels:
        raise AudioError(f"{path}: bad WAV header ({channels} channels, block {block_align})")
    offset, announced = data
    if announced == 0xFFFFFFFF and ds64_size is not None:
        announced, unknown = ds64_size, ds64_size >= _UNKNOWN_SIZE_64
    else:
        unknown = announced >= _UNKNOWN_SIZE
    present = max(0, size - offset) // block_align
    layout = WavLayout(
        tag,
        channels,
        rate,
        block_align,
        offset,
        present if unknown else min(present, announced // block_align),
        None if unknown else announced // block_align,
    )
    if layout.announced_frames is not None and present < layout.announced_frames:
        want = layout.announced_frames
        raise TruncatedAudioError(
            f"{path}: truncated WAV: the header announces {want} frames "
            f"({_seconds(want, rate)}), the file holds {present} ({_seconds(present, rate)}); "
            "it was probably cut off while copying or downloading"
        )
    return layout


def _seconds(frames: int, rate: int) -> str:
    return f"{frames / rate:.2f} s" if rate else "? s"


def check_wav(path: str | Path, seconds: float = 1.0) -> WavLayout:
    """Cheap proof that a WAV file will decode: its header, its length against what the
    header announces, and its first `seconds` of samples (the sample format). Raises
    `AudioError` (`TruncatedAudioError` when cut short) naming the file."""
    path = Path(path)
    layout = wav_layout(path)
    if layout.rate <= 0:
        raise AudioError(f"{path}: bad WAV header (sample rate {layout.rate})")
    if layout.frames == 0:
        raise AudioError(f"{path}: the WAV file holds no audio (its 'data' chunk is empty)")
    n = min(layout.frames, max(1, int(seconds * layout.rate)))
    with open(path, "rb") as f:
        f.seek(layout.data_offset)
        raw = f.read(n * layout.block_align)
    _decode_pcm(raw, layout.channels, layout.width, layout.tag, str(path))
    return layout


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
        hint = f" (soundfile: {describe(sf_error)})" if sf_error else ""
        raise AudioError(
            f"{path}: only WAV can be decoded without soundfile or librosa; "
            f"convert the file to WAV or install soundfile{hint}"
        ) from None
    try:
        with warnings.catch_warnings():  # librosa warns when falling back to audioread
            warnings.simplefilter("ignore")
            data, sr = librosa.load(str(path), sr=None, mono=False)
    except Exception as exc:  # audioread's NoBackendError has no message at all
        raise AudioError(f"{path}: cannot decode audio: {describe(exc)}") from exc
    data = np.asarray(data, np.float32)
    return (data[:, None] if data.ndim == 1 else data.T), int(sr)


def prepare_audio(samples: np.ndarray, sample_rate: int, target_rate: int = 16000) -> np.ndarray:
    """Any samples (int or float, mono or multi-channel, any rate) -> the network's input."""
    return resample(to_mono(samples), sample_rate, target_rate)
