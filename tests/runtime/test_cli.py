"""`python -m core animate`: the contract other tools rely on (schema, frame rates, batch,
exit status and a one-line reason on bad input), run as real subprocesses."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from core.runtime.outputs import read_pc2

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "core", *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _wav(path: Path, seconds: float, rate: int = 22050, channels: int = 1) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    pcm = (np.repeat(tone[:, None], channels, axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


@pytest.mark.parametrize("fps", [24, 30, 60])
def test_animate_writes_the_schema(tmp_path, random_weights, template, fps):
    audio = _wav(tmp_path / "a.wav", 1.5, channels=2)
    out = tmp_path / "a.npz"
    res = _cli("animate", audio, "--out", out, "--fps", fps, "--weights", random_weights)
    assert res.returncode == 0, res.stderr
    with np.load(out) as d:
        t = d["vertices"].shape[0]
        assert abs(t - 1.5 * fps) <= 1
        assert d["vertices"].dtype == np.float32 and d["vertices"].shape[1:] == (5084, 3)
        assert float(d["fps"]) == fps
        assert np.array_equal(d["source_index"], template.source_index)
        assert list(d["arkit_names"]) == list(template.arkit_names)
        w = d["arkit_weights"]
        assert w.shape == (t, 52) and w.dtype == np.float32 and w.min() >= 0 and w.max() <= 1


def test_lips_only_and_template_and_pc2(tmp_path, random_weights, template):
    audio = _wav(tmp_path / "a.wav", 1.0)
    face = tmp_path / "face.npz"
    np.savez(face, vertices=template.vertices * 1.05)
    out = tmp_path / "a.pc2"
    flags = ["--format", "pc2", "--lips-only", "--template", face, "--weights", random_weights]
    res = _cli("animate", audio, "--out", out, *flags)
    assert res.returncode == 0, res.stderr
    pc2 = read_pc2(out)
    upper = template.region("upper_face")
    assert np.allclose(pc2.frames[:, upper], template.vertices[upper] * 1.05, atol=1e-6)


def test_pc2_streams_across_chunks(tmp_path, random_weights):
    """Over a minute of audio: the network's chunked coefficients equal the one-shot pass,
    and the streamed PC2 (several chunks, converted to 24 fps block by block) holds exactly
    the session's frames."""
    from core.runtime.audio import prepare_audio, read_audio
    from core.runtime.network import Animator
    from core.runtime.session import Session
    from core.runtime.settings import Settings

    audio = _wav(tmp_path / "long.wav", 61.0)
    out = tmp_path / "long.pc2"
    res = _cli("animate", audio, "--out", out, "--format", "pc2", "--fps", 24,
               "--weights", random_weights)  # fmt: skip
    assert res.returncode == 0, res.stderr
    anim = Animator(random_weights)
    speech = prepare_audio(*read_audio(audio), 16000)
    chunked = np.concatenate([c for _, c in anim.iter_coefficients(speech, chunk_frames=600)])
    one_shot = np.concatenate([c for _, c in anim.iter_coefficients(speech, chunk_frames=10**6)])
    assert len(one_shot) > 1800  # several network chunks
    assert np.abs(chunked - one_shot).max() <= 1e-5 * np.abs(one_shot).max()
    session = Session(Settings(fps=24, weights=random_weights))
    expected = np.concatenate([session.vertices(b) for b in session.run(speech, 16000)])
    pc2 = read_pc2(out)
    assert pc2.frames.shape == expected.shape
    np.testing.assert_array_equal(pc2.frames, expected)


def test_batch_uses_out_dir(tmp_path, random_weights):
    inputs = [_wav(tmp_path / f"{n}.wav", 0.5) for n in ("one", "two", "three")]
    res = _cli("animate", *inputs, "--out-dir", tmp_path / "out", "--weights", random_weights)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "one.npz",
        "three.npz",
        "two.npz",
    ]


def _bad_cases(d: Path, weights: Path) -> dict[str, tuple[list, str]]:
    """Name -> (CLI arguments, a word the one-line reason must contain)."""
    good = _wav(d / "a.wav", 0.5)
    return {
        "missing audio": (["animate", d / "missing.wav", "--weights", weights], "not found"),
        "corrupt audio": (["animate", _junk(d / "bad.wav"), "--weights", weights], "bad.wav"),
        "corrupt weights": (["animate", good, "--weights", _junk(d / "w.npz")], "w.npz"),
        "no weights": (["animate", good, "--weights", d / "none.npz"], "weights"),
        "bad template": (
            ["animate", good, "--weights", weights, "--template", _junk(d / "t.npz")],
            "t.npz",
        ),
    }


@pytest.mark.parametrize(
    "case", ["missing audio", "corrupt audio", "corrupt weights", "no weights", "bad template"]
)
def test_bad_input_exits_nonzero_with_one_line(tmp_path, random_weights, case):
    args, reason = _bad_cases(tmp_path, random_weights)[case]
    res = _cli(*args)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and reason in lines[0], res.stderr


def _junk(path: Path) -> Path:
    path.write_bytes(
        b"RIFF\x00\x00\x00\x00WAVEjunk" if path.suffix == ".wav" else b"PK\x03\x04junk"
    )
    return path
