"""Rough edges users met with the runtime: a full disk, a truncated WAV, a decoder error
without a message. Each must end in one line that names the file and the cause."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys
import types
import wave
from pathlib import Path

import numpy as np
import pytest

from core.runtime import cli
from core.runtime.audio import AudioError, decode
from core.runtime.outputs import files, pc2

ROOT = Path(__file__).resolve().parents[2]
ENOSPC = os.strerror(errno.ENOSPC)


def _wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * np.sin(2 * np.pi * 180 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def _full_disk(self, *args, **kwargs):
    raise OSError(errno.ENOSPC, ENOSPC)


# ------------------------------------------------------------------------ writing errors


@pytest.mark.parametrize(
    ("suffix", "writer", "method"),
    [
        (".npz", files.NpzFileWriter, "store"),  # the vertices' entry, block by block
        (".pc2", pc2.PC2Writer, "write"),
        (".csv", files.LiveLinkCsv, "write_weights"),  # the rows, once the clip is fitted
    ],
)
def test_full_disk_names_the_output_and_keeps_the_previous_file(
    tmp_path, monkeypatch, capsys, suffix, writer, method
):
    audio = _wav(tmp_path / "a.wav", 0.4)
    out = tmp_path / "out" / f"x{suffix}"
    out.parent.mkdir()
    out.write_bytes(b"the previous take")
    monkeypatch.setattr(writer, method, _full_disk)
    assert cli.main(["animate", str(audio), "--out", str(out)]) == 1
    assert _one_error_line(capsys) == f"error: cannot write {out}: {ENOSPC}"
    assert out.read_bytes() == b"the previous take"
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no partial file


def test_a_real_enospc_from_the_kernel(tmp_path):
    """/dev/full fails every write with ENOSPC: the writer's temporary file points there."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    audio = _wav(tmp_path / "a.wav", 0.4)
    out = tmp_path / "x.csv"
    out.with_name("x.csv.tmp").symlink_to("/dev/full")
    done = subprocess.run(
        [sys.executable, "-m", "core", "animate", str(audio), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: cannot write {out}: {ENOSPC}"
    assert not out.exists() and not out.with_name("x.csv.tmp").exists()


def test_batch_names_the_output_that_failed(tmp_path, monkeypatch, capsys):
    """Several inputs on worker processes (forked: they inherit the patch): the error names
    the output being written when the disk filled up, not the first or the last one."""
    inputs = [_wav(tmp_path / f"{n}.wav", 0.3) for n in ("one", "two", "three")]
    real = pc2.PC2Writer.write

    def fails_on_two(self, frames):
        if self.path.stem == "two":
            _full_disk(self)
        real(self, frames)

    monkeypatch.setattr(pc2.PC2Writer, "write", fails_on_two)
    out = tmp_path / "out"
    args = ["animate", *map(str, inputs), "--out-dir", str(out), "--format", "pc2"]
    assert cli.main(args) == 1
    assert f"error: cannot write {out / 'two.pc2'}: {ENOSPC}" in capsys.readouterr().err
    assert not (out / "two.pc2").exists() and not (out / "two.pc2.tmp").exists()


def test_output_folder_that_is_a_file(tmp_path, capsys):
    audio = _wav(tmp_path / "a.wav", 0.3)
    (tmp_path / "taken").write_text("a file, not a folder")
    out = tmp_path / "taken" / "x.npz"
    assert cli.main(["animate", str(audio), "--out", str(out)]) == 1
    line = _one_error_line(capsys)
    assert line == f"error: cannot write {out}: {tmp_path / 'taken'} is a file, not a folder"


def test_template_command_names_its_output(tmp_path, monkeypatch, capsys):
    from core.runtime import npzio

    monkeypatch.setattr(npzio, "save_npz", _full_disk)
    out = tmp_path / "t.npz"
    assert cli.main(["template", "--out", str(out)]) == 1
    assert _one_error_line(capsys) == f"error: cannot write {out}: {ENOSPC}"


# ------------------------------------------------------------------------ truncated WAVs


def test_truncated_wav_says_how_much_is_there(tmp_path, capsys):
    whole = _wav(tmp_path / "whole.wav", 2.0).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: 44 + 2 * 8000])  # the header and the first 0.5 s
    with pytest.raises(decode.TruncatedAudioError) as info:
        decode.read_audio(cut)
    message = str(info.value)
    assert str(cut) in message
    assert "announces 32000 frames (2.00 s)" in message and "holds 8000 (0.50 s)" in message
    assert cli.main(["animate", str(cut), "--out", str(tmp_path / "cut.npz")]) == 1
    assert _one_error_line(capsys) == f"error: {message}"
    assert not (tmp_path / "cut.npz").exists()


def test_truncated_header_and_empty_files(tmp_path):
    whole = _wav(tmp_path / "whole.wav", 0.5).read_bytes()
    tiny = tmp_path / "tiny.wav"
    tiny.write_bytes(whole[:20])  # RIFF, WAVE and the 'fmt ' chunk's header only
    with pytest.raises(decode.TruncatedAudioError, match=r"\(20 bytes\) ends inside its 'fmt '"):
        decode.check_wav(tiny)
    no_data = tmp_path / "no_data.wav"
    no_data.write_bytes(whole[:36])  # the header up to the 'data' chunk
    with pytest.raises(decode.TruncatedAudioError, match="ends before its 'data' chunk"):
        decode.read_audio(no_data)
    empty = _wav(tmp_path / "empty.wav", 0.0)
    with pytest.raises(AudioError, match="holds no audio"):
        decode.check_wav(empty)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(np.random.default_rng(0).bytes(3000))
    assert not decode.is_wav(junk)
    with pytest.raises(AudioError, match="not a little-endian RIFF/WAVE"):
        decode.check_wav(junk)


def _riff(fmt_tag: int, data: bytes, announced: int, rf64_size: int | None = None) -> bytes:
    """A mono 16-bit WAV whose 'data' chunk announces `announced` bytes (RF64 with a ds64
    chunk holding `rf64_size` when given)."""
    fmt = struct.pack("<HHIIHH", fmt_tag, 1, 16000, 32000, 2, 16)
    body = b"WAVE"
    if rf64_size is not None:
        body += b"ds64" + struct.pack("<IQQQI", 28, 0, rf64_size, rf64_size // 2, 0)
    body += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", announced) + data
    magic = b"RIFF" if rf64_size is None else b"RF64"
    return magic + struct.pack("<I", 0xFFFFFFFF if rf64_size else len(body)) + body


def test_valid_and_streamed_wavs_read_as_before(tmp_path):
    """Exactly what the file holds, for a complete file and for files whose writer could
    not seek back to fill in the size (ffmpeg's 0xFFFFFFFF, arecord's 0x7FFFFFFF, RF64)."""
    samples = (np.arange(-4000, 4000, 7, dtype=np.int64) * 4).astype("<i2")
    data = samples.tobytes()
    expected = samples.astype(np.float32)[:, None] / 32768
    cases = {
        "complete": _riff(1, data, len(data)),
        "ffmpeg_pipe": _riff(1, data, 0xFFFFFFFF),
        "arecord_pipe": _riff(1, data, 0x7FFFFFFF),
        "rf64": _riff(1, data, 0xFFFFFFFF, rf64_size=len(data)),
    }
    for name, raw in cases.items():
        path = tmp_path / f"{name}.wav"
        path.write_bytes(raw)
        got, rate = decode.read_audio(path)
        assert rate == 16000, name
        np.testing.assert_array_equal(got, expected, err_msg=name)
        assert decode.check_wav(path).frames == len(samples), name
    short = tmp_path / "rf64_cut.wav"
    short.write_bytes(_riff(1, data, 0xFFFFFFFF, rf64_size=2 * len(data)))
    with pytest.raises(decode.TruncatedAudioError, match=f"holds {len(samples)} "):
        decode.read_audio(short)


def test_check_wav_reads_the_sample_format(tmp_path):
    """A header this decoder does not read (ADPCM) is an AudioError but not a truncation:
    another decoder (Blender's) may still read it."""
    path = tmp_path / "adpcm.wav"
    path.write_bytes(_riff(2, bytes(4000), 4000))
    with pytest.raises(AudioError, match="unsupported WAV format tag 2") as info:
        decode.check_wav(path)
    assert not isinstance(info.value, decode.TruncatedAudioError)


# ------------------------------------------------------------------ errors without words


class NoBackendError(Exception):
    """audioread's exception when no backend decodes the file: raised without a message."""


def test_decoder_error_without_a_message(tmp_path, monkeypatch, capsys):
    fake_librosa = types.ModuleType("librosa")

    def load(*args, **kwargs):
        raise NoBackendError()

    fake_librosa.load = load
    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile -> ImportError
    monkeypatch.setitem(sys.modules, "librosa", fake_librosa)
    clip = tmp_path / "clip.m4a"
    clip.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(64))
    with pytest.raises(AudioError) as info:
        decode.read_audio(clip)
    assert str(info.value) == f"{clip}: cannot decode audio: NoBackendError"
    assert cli.main(["animate", str(clip), "--out", str(tmp_path / "c.npz")]) == 1
    assert _one_error_line(capsys) == f"error: {clip}: cannot decode audio: NoBackendError"


def test_describe_is_never_empty():
    assert decode.describe(RuntimeError("   ")) == "RuntimeError"
    assert decode.describe(ValueError("bad header")) == "bad header"
    assert cli._message(KeyError("vertices")) == "vertices"
    assert cli._message(OSError()) == "OSError"
    assert cli._message(PermissionError(errno.EACCES, "Permission denied", "w.npz")) == (
        "w.npz: Permission denied"
    )
