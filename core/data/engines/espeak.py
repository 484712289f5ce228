"""espeak-ng through libespeak-ng (ctypes), with phoneme events giving sample positions.

Why ctypes: the espeak-ng CLI prints no timing; the library's PHONEME events carry the sample
index at which each phoneme starts. Rate, pitch and volume use espeak's own parameters, so the
events stay exact for the audio it produces. (Its stop consonants are marked at the burst, after
the closure, hence the re-alignment the registry applies; see docs/DATA.md.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pickle
import threading

import numpy as np

from ..phones import SIL, Phone, espeak_to_arpabet, segments_to_phones
from .base import EngineResult, EngineUnavailableError, as_float32

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_EV_LIST_TERMINATED, _EV_WORD, _EV_PHONEME = 0, 1, 7
_P_RATE, _P_VOLUME, _P_PITCH = 1, 2, 3
DEFAULT_RATE_WPM = 175

#: Accents whose phoneme tables are rhotic (r-coloured vowels keep their R).
RHOTIC_LANGS = frozenset(("en-us", "en-us-nyc", "en-gb-scotland"))
_INSTALL = "libespeak-ng1 (and espeak-ng-data): apt-get install libespeak-ng1"


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class _Espeak:
    """A libespeak-ng instance (the library keeps global state: one per process)."""

    def __init__(self) -> None:
        self.lib = _library()
        flags = _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, flags)
        if self.sample_rate <= 0:
            raise EngineUnavailableError(f"libespeak-ng failed to initialise; install {_INSTALL}")
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, str]] = []
        self._cb = _CALLBACK(self._on_audio)
        self.lib.espeak_SetSynthCallback(self._cb)
        self.lock = threading.Lock()
        # espeak draws breath/aspiration noise from libc rand(): seed it per call so the same
        # arguments give the same samples.
        self.libc = ctypes.CDLL(None)

    def _on_audio(self, wav, n, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EV_LIST_TERMINATED:
            ev = events[i]
            if ev.type in (_EV_WORD, _EV_PHONEME):
                name = ev.id.decode("utf-8", "replace") if ev.type == _EV_PHONEME else ""
                self._events.append((ev.type, ev.sample, name))
            i += 1
        return 0

    def synth(
        self, text: str, voice: str, rate: float, pitch: float, volume: float, seed: int = 0
    ) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
        with self.lock:
            self.libc.srand(ctypes.c_uint(seed & 0xFFFFFFFF))
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EngineUnavailableError(
                    f"espeak-ng has no voice {voice!r}; install espeak-ng-data (apt-get install "
                    "espeak-ng-data)"
                )
            params = (
                (_P_RATE, int(np.clip(round(DEFAULT_RATE_WPM * rate), 80, 450))),
                (_P_PITCH, int(np.clip(round(50 * pitch), 0, 99))),
                (_P_VOLUME, int(np.clip(round(100 * volume), 0, 200))),
            )
            for key, value in params:
                self.lib.espeak_SetParameter(key, value, 0)
            self._chunks, self._events = [], []
            data = text.encode("utf-8") + b"\0"
            self.lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            return audio, list(self._events)


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        return ctypes.CDLL(name)
    except OSError as exc:
        msg = f"espeak voices need the Debian package {_INSTALL}"
        raise EngineUnavailableError(msg) from exc


def available() -> bool:
    try:
        _library()
    except EngineUnavailableError:
        return False
    return True


def _synth_in_fresh_process(
    text: str, voice: str, rate: float, pitch: float, volume: float, seed: int
) -> tuple[np.ndarray, list[tuple[int, int, str]], int]:
    """Run libespeak-ng in a forked child. Why: the library keeps state between utterances
    (the same call returns a few samples more or less, different noise, depending on what was
    spoken before), so only a fresh instance is reproducible. A fork costs ~30 ms."""
    _library()  # fail early, in the parent, with the install hint
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        try:
            os.close(read_fd)
            eng = _Espeak()
            audio, events = eng.synth(text, voice, rate, pitch, volume, seed)
            payload = pickle.dumps(("ok", (audio, events, eng.sample_rate)))
        except BaseException as exc:  # noqa: BLE001 - handed to the parent
            payload = pickle.dumps(("error", exc))
        with os.fdopen(write_fd, "wb") as f:
            f.write(payload)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        payload = f.read()
    os.waitpid(pid, 0)
    if not payload:
        raise RuntimeError("the espeak-ng child process died without an answer")
    status, value = pickle.loads(payload)
    if status == "error":
        raise value
    return value


def synthesize(
    text: str,
    voice: str,
    rate: float = 1.0,
    pitch: float = 1.0,
    volume: float = 1.0,
    seed: int = 0,
) -> EngineResult:
    """Speak text with an espeak-ng voice name such as "en-gb-x-rp+f4"."""
    samples, events, sr = _synth_in_fresh_process(text, voice, rate, pitch, volume, seed)
    total = len(samples) / sr
    rhotic = voice.split("+")[0].lower() in RHOTIC_LANGS
    marks = [(s, name) for kind, s, name in events if kind == _EV_PHONEME]
    word_starts = sorted({s for kind, s, _ in events if kind == _EV_WORD})
    segs = []
    words: list[list[str]] = []
    word_idx = -1
    for k, (start, name) in enumerate(marks):
        end = marks[k + 1][0] if k + 1 < len(marks) else len(samples)
        arpa = espeak_to_arpabet(name, rhotic)
        segs.append((arpa, start / sr, end / sr))
        # Group the spoken phones by the WORD event that precedes them, for alignment.
        w = sum(1 for ws in word_starts if ws <= start) - 1
        spoken = [p for p in arpa if p != SIL]
        if spoken:
            if w != word_idx or not words:
                words.append([])
                word_idx = w
            words[-1].extend(spoken)
    phones: list[Phone] = segments_to_phones(segs, total)
    return EngineResult(as_float32(samples), sr, phones, words)
