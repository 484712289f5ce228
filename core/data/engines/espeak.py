"""espeak-ng through libespeak-ng (ctypes), with phoneme events giving sample positions.

Why ctypes: the espeak-ng CLI prints no timing; the library's PHONEME events carry the sample
index at which each phoneme starts. Rate, pitch and volume use espeak's own parameters, so the
events stay exact for the audio it produces. (Its stop consonants are marked at the burst, after
the closure, hence the re-alignment the registry applies; see docs/DATA.md.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
    """The process-wide libespeak-ng instance (the library keeps global state)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as exc:
            msg = f"espeak voices need the Debian package {_INSTALL}"
            raise EngineUnavailableError(msg) from exc
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
        self, text: str, voice: str, rate: float, pitch: float, volume: float
    ) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
        with self.lock:
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


_instance: _Espeak | None = None
_instance_lock = threading.Lock()


def _espeak() -> _Espeak:
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = _Espeak()
        return _instance


def available() -> bool:
    try:
        _espeak()
    except EngineUnavailableError:
        return False
    return True


def synthesize(
    text: str, voice: str, rate: float = 1.0, pitch: float = 1.0, volume: float = 1.0
) -> EngineResult:
    """Speak text with an espeak-ng voice name such as "en-gb-x-rp+f4"."""
    eng = _espeak()
    samples, events = eng.synth(text, voice, rate, pitch, volume)
    sr = eng.sample_rate
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
