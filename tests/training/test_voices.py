"""Real engines, real audio: the voice registry, phone timing per engine, controls, errors."""

from __future__ import annotations

import os
import pickle
import subprocess

import numpy as np
import pytest

from core.data import voices
from core.data.align import AlignmentError, align_phones, onset_offsets
from core.data.engines import festival
from core.data.engines.base import EngineUnavailableError
from core.data.phones import (
    BILABIALS,
    MAPS,
    PHONE_SET,
    SIL,
    VOWELS,
    UnknownPhoneError,
    to_arpabet,
)
from core.data.sentences import TextError

BILABIAL_TEXT = "Bob may buy a map, by the pump."
# Voices of other languages read English with their own diphones, which lack clusters such as
# word-final "mp"; timing is checked on bilabials between vowels, which every language has.
OTHER_BILABIAL_TEXT = "Papa, mama, baba, pipa, bomba, pumpa."
# English, the other languages and the contrib/non-free extras
ALL_IDS = [v.id for v in voices.list_voices(languages=None, extras=True)]
PROGRAM_IDS = ["mbrola:us1", "rhvoice:clb", "pico:en-GB"]  # one voice of each program
UNTIMED_IDS = PROGRAM_IDS[1:]  # programs that print no phone timeline


def band_db(audio: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """1–4 kHz energy per 5 ms frame (dB). Lips closed → the mouth radiates almost nothing
    there, while nasal murmur and voice bars (which fool plain RMS) live below 1 kHz."""
    import librosa

    hop = int(sr * 0.005)
    n_fft = 512 if sr <= 24000 else 1024
    spec = np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=hop, win_length=int(sr * 0.02)))
    f = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    return 10 * np.log10((spec[(f >= 1000) & (f <= 4000)] ** 2).sum(0) + 1e-10), hop


def bilabial_drops(utt: voices.Utterance, shift: float = 0.0) -> list[float]:
    """Per P/B/M: mean band level of nearby vowels minus the level inside the closure (dB)."""
    e, hop = band_db(utt.audio, utt.sample_rate)
    sr = utt.sample_rate

    def level(p, s=shift):
        a = int((p.start + 0.25 * p.duration + s) * sr / hop)
        b = max(int((p.end - 0.25 * p.duration + s) * sr / hop), a + 1)
        return float(np.median(e[a:b]))

    out = []
    for i, p in enumerate(utt.phones):
        if p.symbol in BILABIALS:
            near = [q for q in utt.phones[max(0, i - 2) : i + 3] if q.symbol in VOWELS]
            out.append(float(np.mean([level(q) for q in near])) - level(p))
    return out


@pytest.fixture(scope="module")
def bilabial_utts() -> dict[str, voices.Utterance]:
    return {vid: voices.synthesize(_bilabial_text(vid), vid) for vid in ALL_IDS}


def _bilabial_text(voice_id: str) -> str:
    return BILABIAL_TEXT if voices.get_voice(voice_id).language == "en" else OTHER_BILABIAL_TEXT


def test_registry_has_15_voices_from_3_engines_all_installed():
    vs = voices.list_voices()
    assert len(vs) >= 15 and {v.language for v in vs} == {"en"}
    others = [v for v in voices.list_voices(languages=None) if v.language != "en"]
    assert len({v.speaker for v in others}) >= 9
    assert {"female", "child"} <= {v.gender for v in others}
    vs = vs + others
    assert len({v.engine for v in vs}) >= 3
    assert len({v.id for v in vs}) == len(vs)
    assert len({v.speaker for v in vs if v.engine != "espeak"}) >= 6  # recorded speakers
    missing = [f"{v.id}: {v.install}" for v in vs if not v.available()]
    assert not missing, "install deps/apt.txt and deps/data-requirements.txt: " + str(missing)


def test_extras_are_more_recorded_english_speakers_outside_the_default_list():
    extras = [v for v in voices.list_voices(extras=True) if v.extra]
    assert not set(extras) & set(voices.list_voices())
    assert {v.engine for v in extras} == {"mbrola", "rhvoice", "pico"}
    default_speakers = {v.speaker for v in voices.list_voices(languages=None)}
    assert len({v.speaker for v in extras} - default_speakers) >= 9
    assert sum(v.gender == "female" for v in extras) >= 4
    assert all(v.language == "en" for v in extras)
    assert {v.id for v in extras if v.timing == "engine"} == {"mbrola:us1", "mbrola:us2",
                                                             "mbrola:en1"}  # fmt: skip
    missing = [f"{v.id}: {v.install}" for v in extras if not v.available()]
    assert not missing, "make system-deps enables contrib/non-free: " + str(missing)


@pytest.mark.parametrize("voice_id", UNTIMED_IDS)
def test_programs_without_a_timeline_refuse_engine_timing(voice_id):
    with pytest.raises(ValueError, match="no phone timeline"):
        voices.synthesize("Hello there.", voice_id, timing="engine")


@pytest.mark.parametrize("voice_id", ALL_IDS)
def test_utterance_is_well_formed(bilabial_utts, voice_id):
    u = bilabial_utts[voice_id]
    assert u.voice_id == voice_id and u.text == _bilabial_text(voice_id)
    assert u.audio.dtype == np.float32 and u.audio.ndim == 1
    assert u.sample_rate in (16000, 22050, 24000, 32000, 44100)
    assert 1.0 < u.duration < 5.0
    assert np.max(np.abs(u.audio)) <= 1.0 and np.max(np.abs(u.audio)) > 0.05
    assert u.phones[0].start == 0.0 and u.phones[-1].end == pytest.approx(u.duration)
    for a, b in zip(u.phones, u.phones[1:], strict=False):
        assert a.end == pytest.approx(b.start) and a.end > a.start
    assert {p.symbol for p in u.phones} <= PHONE_SET
    spoken = [p.symbol for p in u.phones if p.symbol != SIL]
    assert spoken.count("P") >= 2 and spoken.count("B") >= 3 and spoken.count("M") >= 2
    if voices.get_voice(voice_id).timing == "engine":
        assert u.timing == "engine"
    else:  # full alignment, or one of its two documented fallbacks
        assert u.timing in ("aligned", "aligned-words", "engine-corrected")


@pytest.mark.parametrize("voice_id", ALL_IDS)
def test_lips_are_closed_during_bilabials(bilabial_utts, voice_id):
    """The timing is exact where it matters most: during P/B/M the 1–4 kHz band drops far
    below the neighbouring vowels, and a 60 ms shift of the timeline spoils that."""
    u = bilabial_utts[voice_id]
    drops = bilabial_drops(u)
    assert np.median(drops) >= 15.0, drops
    assert np.mean(np.asarray(drops) >= 6.0) >= 0.7, drops
    shifted = bilabial_drops(u, shift=0.06)
    assert np.median(drops) > np.median(shifted) + 10.0, (drops, shifted)


# English voices, so the English aligner can check them
ENGINE_TIMED = [v.id for v in voices.list_voices(extras=True) if v.timing == "engine"]


@pytest.mark.parametrize("voice_id", ENGINE_TIMED)
def test_engine_timing_agrees_with_forced_alignment(voice_id):
    """flite/festival/MBROLA times vs pocketsphinx on the same phones: measured median
    |offset| 9–13 ms for flite/festival (docs/DATA.md), 6–9 ms for MBROLA; allow 25 ms."""
    v = voices.get_voice(voice_id)
    res = voices._engine_result(v, "We should all go home before dark.", 1.0, 1.0, 1.0, 0)
    aligned = align_phones(res.audio, res.sample_rate, res.words)
    offs = np.array([d for _, d in onset_offsets(res.phones, aligned)])
    assert len(offs) >= 18  # 19 for the non-rhotic MBROLA en1 (no R in "before dark")
    assert np.median(np.abs(offs)) < 0.025, offs


@pytest.mark.parametrize(
    "name", [n for n, v in festival.VOICES.items() if v.phoneset != "festival"]
)
def test_phone_map_covers_the_whole_phone_set_of_each_other_language_voice(name):
    """Every symbol the voice's phone set defines (not only those one sentence used) maps."""
    script = (
        f"(voice_{name})\n"
        '(mapcar (lambda (p) (format t "%s\\n" (car p)))'
        " (cadr (assoc 'phones (PhoneSet.description))))\n"
    )
    done = subprocess.run(["festival", "--pipe"], input=script, capture_output=True, text=True)
    symbols = done.stdout.split()
    assert len(symbols) >= 30, done.stderr
    missing = [s for s in symbols if s not in MAPS[festival.VOICES[name].phoneset]]
    assert not missing


@pytest.mark.parametrize(
    ("voice_id", "text"),
    [
        ("festival:hy_fi_mv_diphone", "Followed by Martinez."),
        ("festival:hy_fi_mv_diphone", "In Iraq."),
        ("festival:suo_fi_lj_diphone", "They trill their r's."),
        ("festival:pc_diphone", "Do you really think so?"),
    ],
)
def test_text_a_voice_cannot_say_is_respelled(voice_id, text):
    """Festival's Finnish rules stop at a final z, q or 's, its Italian intonation at some
    questions; the engine respells those (RESPELL), so every corpus sentence can be said."""
    u = voices.synthesize(text, voice_id)
    assert u.phones[-2].symbol in ("S", "K", "OW") and u.duration > 0.5


def test_espeak_marks_stops_late_which_alignment_fixes():
    """espeak's own event for a stop comes at the burst (~30 ms after the closure starts)."""
    v = voices.get_voice("espeak:en-us")
    text = "Put the big pot back by the top of the deep tub."
    res = voices._engine_result(v, text, 1.0, 1.0, 1.0, 0)
    aligned = align_phones(res.audio, res.sample_rate, res.words)
    stops = [d for s, d in onset_offsets(res.phones, aligned) if s in "PBTDKG"]
    assert len(stops) >= 10
    assert 0.010 < np.median(stops) < 0.060


@pytest.mark.parametrize("voice_id", ["espeak:en-gb-x-rp+m2", "flite:awb", "festival:kal_diphone",
                                      "piper:joe", *PROGRAM_IDS])  # fmt: skip
def test_same_arguments_give_identical_output(voice_id):
    a = voices.synthesize("Seven brave men.", voice_id, rate=1.1, pitch=0.9, volume=0.8, seed=3)
    b = voices.synthesize("Seven brave men.", voice_id, rate=1.1, pitch=0.9, volume=0.8, seed=3)
    assert np.array_equal(a.audio, b.audio) and a.phones == b.phones


def test_piper_seed_changes_the_voice_not_the_words():
    a = voices.synthesize("Seven brave men.", "piper:joe", seed=1)
    b = voices.synthesize("Seven brave men.", "piper:joe", seed=2)
    assert not np.array_equal(a.audio[:2000], b.audio[:2000])
    strip = lambda u: [p.symbol for p in u.phones if p.symbol != SIL]  # noqa: E731
    assert strip(a) == strip(b)


def median_f0(u: voices.Utterance) -> float:
    import librosa

    f0 = librosa.yin(u.audio, fmin=60, fmax=500, sr=u.sample_rate, frame_length=2048)
    rms = librosa.feature.rms(y=u.audio, frame_length=2048, hop_length=512)[0][: len(f0)]
    return float(np.median(f0[: len(rms)][rms > 0.3 * rms.max()]))


@pytest.mark.parametrize("voice_id", ["espeak:en-us+f3", "flite:slt", "flite:rms",
                                      "festival:ked_diphone", "festival:cmu_us_slt_arctic_hts",
                                      "piper:joe", *PROGRAM_IDS])  # fmt: skip
def test_rate_pitch_volume_controls(voice_id):
    text = "The rain in the valley stays mainly on the plain."
    timing = "aligned" if voices.get_voice(voice_id).extra else "engine"
    base = voices.synthesize(text, voice_id, timing=timing)
    fast = voices.synthesize(text, voice_id, rate=1.4, timing=timing)
    high = voices.synthesize(text, voice_id, pitch=1.3, timing=timing)
    quiet = voices.synthesize(text, voice_id, volume=0.5, timing=timing)
    assert fast.duration < 0.88 * base.duration
    speech = lambda u: sum(p.duration for p in u.phones if p.symbol != SIL)  # noqa: E731
    assert speech(fast) < 0.85 * speech(base)
    assert median_f0(high) > 1.12 * median_f0(base)
    assert high.duration == pytest.approx(base.duration, rel=0.02)
    ratio = np.sqrt(np.mean(quiet.audio**2) / np.mean(base.audio**2))
    assert 0.4 < ratio < 0.6


def test_unknown_voice_lists_valid_ids():
    with pytest.raises(voices.UnknownVoiceError) as exc:
        voices.synthesize("Hello.", "espeak:klingon")
    assert "flite:slt" in str(exc.value) and "piper:joe" in str(exc.value)


@pytest.mark.parametrize("text", ["", "   \n", "12345 !!!", "zzqxv blorfq", "こんにちは"])
def test_text_without_english_words_is_refused(text):
    with pytest.raises(TextError):
        voices.synthesize(text, "flite:slt")


@pytest.mark.parametrize("kw", [{"rate": 0}, {"rate": 5.0}, {"pitch": -1}, {"volume": 3.0},
                                {"rate": float("nan")}, {"timing": "exactish"}])  # fmt: skip
def test_bad_controls_are_refused(kw):
    with pytest.raises(ValueError):
        voices.synthesize("Hello there.", "flite:slt", **kw)


def test_missing_engine_names_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EngineUnavailableError, match="apt-get install flite"):
        voices.synthesize("Hello there.", "flite:slt")
    with pytest.raises(EngineUnavailableError, match="festvox-kdlpc16k"):
        voices.synthesize("Hello there.", "festival:ked_diphone")
    with pytest.raises(EngineUnavailableError, match="contrib/non-free.*mbrola-us2"):
        voices.synthesize("Hello there.", "mbrola:us2")
    assert not voices.get_voice("flite:awb").available()
    assert os.environ["PATH"] == "/nonexistent"


def test_unknown_engine_symbol_names_symbol_and_engine():
    with pytest.raises(UnknownPhoneError, match=r"'q9'.*'festival'"):
        to_arpabet("q9", "festival")
    with pytest.raises(UnknownPhoneError, match="espeak"):
        to_arpabet("@@@", "espeak")
    assert to_arpabet("@L", "espeak") == ("AH", "L")
    # a corpus worker process sends it back to the build whole (pickled)
    again = pickle.loads(pickle.dumps(UnknownPhoneError("q9", "mbrola")))
    assert str(again) == str(UnknownPhoneError("q9", "mbrola")) and again.engine == "mbrola"


def test_alignment_failure_is_an_error_not_a_guess():
    noise = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    with pytest.raises(AlignmentError):
        align_phones(noise, 16000, [["M", "AY"], ["P", "AY", "P"]] * 20)


def _espeak_english_phonemes() -> set[str]:
    """Phoneme mnemonics of espeak-ng's English tables, read from its compiled phontab."""
    import struct
    from pathlib import Path

    data = Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data/phontab").read_bytes()
    pos, names = 4, set()
    for _ in range(data[0]):
        count = data[pos]
        table = data[pos + 4 : pos + 36].split(b"\0")[0].decode()
        pos += 36
        for k in range(count):
            mnemonic, _, _, _, kind = struct.unpack_from("<IIHBB", data, pos + 16 * k)
            name = struct.pack("<I", mnemonic).split(b"\0")[0].decode("latin-1")
            if table.startswith("en") and name and kind != 1:  # 1 = stress marks
                names.add(name)
        pos += 16 * count
    return names


def test_every_phone_of_the_english_engines_is_mapped():
    """All phonemes of espeak's English tables and of festival's radio set map to ARPAbet
    (the sentence list was also run through all 10 espeak voices and Piper: no unknowns)."""
    import re
    from pathlib import Path

    espeak_names = _espeak_english_phonemes()
    assert len(espeak_names) > 60
    assert not [n for n in espeak_names if n not in voices_phones().ESPEAK_MAP]
    radio = Path("/usr/share/festival/radio_phones.scm").read_text()
    body = radio[radio.index("(defPhoneSet") : radio.index("(PhoneSet.silences")]
    features = {"vc", "vlng", "vheight", "vfront", "vrnd", "ctype", "cplace", "cvox"}
    phones = set(re.findall(r"^\s+\(([a-z#]+)(?:\s+\S+){8}\)", body, re.M)) - features
    assert len(phones) >= 45
    assert not [p for p in phones if p not in voices_phones().FESTIVAL_MAP]


def test_every_phone_espeak_writes_for_mbrola_is_mapped():
    """MBROLA's phone files of every corpus sentence, for each database: every symbol maps."""
    from core.data.sentences import load_sentences

    text = "\n".join(load_sentences())
    for name in ("us1", "us2", "us3", "en1"):
        pho = subprocess.run(
            ["espeak-ng", "-v", f"mb-{name}", "-q", "--pho"], input=text, capture_output=True,
            text=True, check=True,
        ).stdout  # fmt: skip
        symbols = {line.split()[0] for line in pho.splitlines() if line.split()}
        assert len(symbols) >= 40
        assert not symbols - set(voices_phones().MBROLA_MAP), name


def voices_phones():
    from core.data import phones

    return phones
