"""flite 2.2 (Debian package ``flite``): ``-psdur`` prints every segment with its end time.

Those are the synthesiser's own segment boundaries, so the timing is exact. Rate uses flite's
``duration_stretch``; pitch uses ``f0_shift`` where the voice honours it (slt, awb, kal16) and a
length-preserving pitch shift otherwise (rms ignores every F0 feature); volume is a gain.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import soundfile as sf

from .base import EngineResult, EngineUnavailableError, as_float32, pause_timeline
from .pitch import shift_pitch

#: Voices built into Debian's flite and whether flite's f0_shift feature changes their pitch.
VOICES: dict[str, bool] = {"slt": True, "awb": True, "rms": False, "kal16": True}


def available() -> bool:
    return shutil.which("flite") is not None


def synthesize(
    text: str, voice: str, rate: float = 1.0, pitch: float = 1.0, volume: float = 1.0
) -> EngineResult:
    """Speak text with a flite voice ("slt", "awb", "rms", "kal16")."""
    exe = shutil.which("flite")
    if exe is None:
        raise EngineUnavailableError(
            f"voice 'flite:{voice}' needs the Debian package 'flite': apt-get install flite"
        )
    if voice not in VOICES:
        raise EngineUnavailableError(f"flite has no voice {voice!r}; known: {sorted(VOICES)}")
    engine_pitch = VOICES[voice]
    args = [exe, "-voice", voice, "--setf", f"duration_stretch={1.0 / rate:.6f}"]
    if engine_pitch and pitch != 1.0:
        args += ["--setf", f"f0_shift={pitch:.6f}"]
    with tempfile.TemporaryDirectory(prefix="flite-") as tmp:
        wav = Path(tmp) / "out.wav"
        done = subprocess.run(
            [*args, "-psdur", "-t", text, "-o", str(wav)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not wav.exists():
            raise RuntimeError(f"flite failed ({done.returncode}): {done.stderr.strip()}")
        samples, sr = sf.read(str(wav), dtype="int16", always_2d=False)
    audio = as_float32(samples, volume)
    if not engine_pitch and pitch != 1.0:
        audio = shift_pitch(audio, sr, pitch)
    marks = [token.rpartition(":")[::2] for token in done.stdout.split()]
    timeline = pause_timeline(((name, float(end)) for name, end in marks), "flite", len(audio) / sr)
    return EngineResult(audio, sr, *timeline)
