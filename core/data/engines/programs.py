"""Speech programs of Debian contrib/non-free (docs/DATA.md says how to enable them): MBROLA
diphone voices (espeak-ng writes the phone file, mbrola speaks it), RHVoice and SVOX Pico.

Why they are worth it: each is another recorded English speaker (women among them), and
recorded speakers are what the audio encoder lacks. MBROLA's timeline is its phone file's
durations, exact like flite's. RHVoice and Pico print none: their phones come from the text
(the first cmudict pronunciation of each word), spread evenly over the clip as a placeholder
that the registry always replaces by pocketsphinx forced alignment ("aligned" timing). Rate
uses each program's own control; pitch too for MBROLA and Pico, while RHVoice gets the
length-preserving shift; volume is a gain.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..phones import Phone, segments_to_phones
from ..sentences import cmudict, words_of
from .base import EngineResult, EngineUnavailableError, as_float32, pause_timeline
from .pitch import shift_pitch


@dataclass(frozen=True)
class Program:
    """One program: its executable, its Debian packages, and the file that shows a voice is
    installed (formatted with the voice's name)."""

    exe: str
    packages: str  # what `apt-get install` needs (after enabling contrib/non-free)
    voice_path: str


MBROLA_DB = "/usr/share/mbrola/{voice}/{voice}"
PROGRAMS: dict[str, Program] = {
    "mbrola": Program("espeak-ng", "espeak-ng mbrola mbrola-{voice}", MBROLA_DB),
    "rhvoice": Program(
        "RHVoice-test", "rhvoice rhvoice-english", "/usr/share/RHVoice/voices/{voice}"
    ),
    "pico": Program("pico2wave", "libttspico-utils", "/usr/share/pico/lang/{voice}_ta.bin"),
}
UNTIMED = ("rhvoice", "pico")  # programs that print no phone timeline
ESPEAK_WPM = 175  # espeak-ng's default speaking rate, words per minute


def available(engine: str, voice: str) -> bool:
    prog = PROGRAMS[engine]
    return shutil.which(prog.exe) is not None and Path(prog.voice_path.format(voice=voice)).exists()


def install_hint(engine: str, voice: str) -> str:
    return f"apt-get install {PROGRAMS[engine].packages.format(voice=voice)}"


def _run(argv: list[str], stdin: str) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()}"
        )
    return done.stdout


def _speak(engine: str, voice: str, text: str, rate: float, pitch: float, wav: Path) -> str:
    """Write `text` spoken at `rate` to `wav`; MBROLA and Pico also at `pitch`, with their own
    controls (a phase-vocoder shift of their diphones confuses the aligner). Returns MBROLA's
    phone file (phones and durations), else ""."""
    exe = shutil.which(PROGRAMS[engine].exe) or PROGRAMS[engine].exe
    if engine == "mbrola":  # espeak-ng writes the phones, durations and F0; mbrola speaks them
        wpm = str(round(ESPEAK_WPM * rate))
        pho = _run([exe, "-v", f"mb-{voice}", "-s", wpm, "-q", "--pho"], text)
        (wav.parent / "in.pho").write_text(pho)
        db = MBROLA_DB.format(voice=voice)  # -e: skip a missing diphone, as espeak-ng does
        _run(["mbrola", "-e", "-f", f"{pitch:.4f}", db, str(wav.parent / "in.pho"), str(wav)], "")
        return pho
    if engine == "rhvoice":
        _run([exe, "-p", voice, "-r", str(round(100 * rate)), "-o", str(wav)], text)
    else:  # pico2wave reads its text (here SSML, for the rate and pitch) from the command line
        ssml = f"<speed level='{round(100 * rate)}'><pitch level='{round(100 * pitch)}'>{text}"
        _run([exe, "-l", voice, "-w", str(wav), f"{ssml}</pitch></speed>"], "")
    return ""


def pho_timeline(pho: str, total: float) -> tuple[list[Phone], list[list[str]]]:
    """MBROLA's phone file -> (ARPAbet phones with their times, words between pauses). Exact:
    mbrola renders every phone for the duration the file gives it."""
    rows = [line.split() for line in pho.splitlines() if line.strip() and line[0] != ";"]
    ends = np.cumsum([float(row[1]) / 1000.0 for row in rows])
    return pause_timeline(zip((row[0] for row in rows), ends, strict=True), "mbrola", total)


def _placeholder(text: str, total: float) -> tuple[list[Phone], list[list[str]]]:
    """The text's cmudict phones spread evenly over the clip, grouped by word."""
    lexicon = cmudict()
    words = [list(lexicon[w][0]) for w in words_of(text) if w in lexicon]
    phones = [p for word in words for p in word]
    step = total / max(1, len(phones))
    segs = [((p,), i * step, (i + 1) * step) for i, p in enumerate(phones)]
    return segments_to_phones(segs, total), words


def synthesize(
    text: str, engine: str, voice: str, rate: float = 1.0, pitch: float = 1.0, volume: float = 1.0
) -> EngineResult:
    """Speak text with one program's voice: MBROLA's exact timeline, or a placeholder."""
    if not available(engine, voice):
        raise EngineUnavailableError(
            f"voice '{engine}:{voice}' needs Debian contrib/non-free packages: "
            f"{install_hint(engine, voice)} (docs/DATA.md)"
        )
    with tempfile.TemporaryDirectory(prefix=f"{engine}-") as tmp:
        wav = Path(tmp) / "out.wav"
        pho = _speak(engine, voice, text, rate, pitch, wav)
        if not wav.exists() or wav.stat().st_size <= 44:
            raise RuntimeError(f"{engine} wrote no audio for {text!r}")
        samples, sr = sf.read(str(wav), dtype="int16", always_2d=False)
    audio = as_float32(samples, volume)
    if pitch != 1.0 and engine == "rhvoice":
        audio = shift_pitch(audio, sr, pitch)
    total = len(audio) / sr
    return EngineResult(
        audio, sr, *(pho_timeline(pho, total) if pho else _placeholder(text, total))
    )
