"""core.eval on a tiny real corpus: the ground truth scores perfectly, the baselines do not,
and every method (the exported network included) runs through the same scoring."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data.corpus import load_split
from core.data.phones import Phone
from core.eval.__main__ import evaluate, main, markdown
from core.eval.methods import meshtalk, phone_baseline, static
from core.eval.phone_recognizer import recognize_phones
from core.eval.scores import FRAME_CLASSES, count_blinks, frame_classes


def test_scores_rank_truth_above_baselines(tiny_corpus, random_weights):
    methods = {"static": static, "phones": phone_baseline, "net": meshtalk(random_weights)}
    res = evaluate(tiny_corpus, methods, "test", limit=3, seeds_differ="net")
    truth, still, phones = res["ground truth"], res["static"], res["phones"]
    assert truth["LVE_mm"] == 0 and truth["FDD_mm"] == 0
    assert truth["pbm_closure"] == 1.0 and truth["open_vowel_rate"] > 0.9
    assert still["LVE_mm"] > 1.0 and still["open_vowel_rate"] == 0.0
    assert still["FDD_mm"] > 0, "a still face has less upper-face motion than the truth"
    assert phones["open_vowel_rate"] > 0.3, "recognised phones still open the mouth"
    assert res["net"]["seed_upper_diff_mm"] >= 0
    for row in (still, phones):  # the split by frame class is a split of the same LVE
        assert all(row[f"LVE_{c}_mm"] >= 0 for c in FRAME_CLASSES)
        assert min(row[f"LVE_{c}_mm"] for c in FRAME_CLASSES) <= row["LVE_mm"]
        assert max(row[f"LVE_{c}_mm"] for c in FRAME_CLASSES) >= row["LVE_mm"]
        voices = [v for k, v in row.items() if k.startswith("LVE_mm ")]  # ... and by voice
        lve = row["LVE_mm"]
        assert voices and min(voices) <= lve * (1 + 1e-5) and max(voices) >= lve * (1 - 1e-5)
    for row in res.values():  # blinks by voice: the voices' minutes make up the whole
        rates = [v for k, v in row.items() if k.startswith("blinks_per_min ")]
        assert rates and min(rates) <= row["blinks_per_min"] + 1e-6 <= max(rates) + 2e-6
    (voice,) = {s.job.voice for s in load_split(tiny_corpus, "test")[:3]}  # the one test voice
    for row in (still, phones, truth):  # ... so its columns are the whole split's
        assert row[f"LVE_mm {voice}"] == pytest.approx(row["LVE_mm"])
        assert row[f"blinks_per_min {voice}"] == pytest.approx(row["blinks_per_min"])
        assert row[f"pbm_closure {voice}"] == pytest.approx(row["pbm_closure"], nan_ok=True)
    table = markdown(res)
    assert table.count("\n") == 5 and "| static |" in table


def test_phone_recogniser_finds_speech(tiny_corpus):
    from core.data.corpus import load_split

    seq = load_split(tiny_corpus, "test")[0]
    phones = recognize_phones(seq.audio.astype(np.float32) / 32768)
    assert phones[0].start == 0 and phones[-1].end == pytest.approx(len(seq.audio) / 16000)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(phones, phones[1:], strict=False))
    assert sum(p.symbol != "sil" for p in phones) >= 3


def test_frame_classes():
    """Silence, a P/B/M (as the closure score counts it), an open vowel, other speech."""
    phones = [Phone("sil", 0, 0.2), Phone("M", 0.2, 0.3), Phone("AA", 0.3, 0.5)]
    phones += [Phone("S", 0.5, 0.6), Phone("sil", 0.6, 0.7)]
    classes = [FRAME_CLASSES[c] for c in frame_classes(phones, 21, 30.0)]
    assert classes[:6] == ["silence"] * 6 and classes[6:10] == ["bilabial"] * 4
    assert set(classes[10:15]) == {"open_vowel"} and classes[16:18] == ["other"] * 2
    assert classes[-2:] == ["silence"] * 2


def test_blink_counting():
    gap = np.array([7, 7, 1, 0, 7, 7, 2, 7, 7], float)
    assert count_blinks(gap, rest=7.0) == 2
    assert count_blinks(np.full(9, 7.0), rest=7.0) == 0


def test_cli_prints_table(tiny_corpus, capsys, tmp_path):
    out = tmp_path / "r.json"
    assert main(["--corpus", str(tiny_corpus), "--limit", "2", "--json", str(out)]) == 0
    assert "| static face |" in capsys.readouterr().out and out.exists()


def test_recordings_without_faces(tiny_corpus, tmp_path):
    """Recordings with a transcript only: phones by forced alignment, no LVE/FDD columns."""
    import wave

    from core.data.corpus import load_split
    from core.data.sentences import load_sentences
    from core.eval.recordings import evaluate_recordings, read_list

    seq = load_split(tiny_corpus, "test")[0]
    with wave.open(str(tmp_path / "take.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(seq.audio.tobytes())
    (tmp_path / "list.tsv").write_text(f"take.wav\t{load_sentences()[seq.job.sentence]}\n")
    res = evaluate_recordings(read_list(tmp_path / "list.tsv"), {"static": static})["static"]
    assert "LVE_mm" not in res and res["open_vowel_rate"] == 0.0
    assert res["minutes"] == pytest.approx(len(seq.audio) / 16000 / 60, abs=0.01)
    # the command line scores several lists, each in its own table
    (tmp_path / "other.tsv").write_text((tmp_path / "list.tsv").read_text())
    lists = [str(tmp_path / "list.tsv"), str(tmp_path / "other.tsv")]
    assert main(["--recordings", *lists, "--json", str(tmp_path / "r.json")]) == 0
    out = json.loads((tmp_path / "r.json").read_text())
    assert set(out) == {"real speech", "real speech by list"}  # pooled, and by list
    assert set(out["real speech by list"]) == {"list", "other"}
    assert out["real speech by list"]["list"]["static face"]["open_vowel_rate"] == 0.0
    with pytest.raises(ValueError, match="path<TAB>transcript"):
        (tmp_path / "bad.tsv").write_text("just a line\n")
        read_list(tmp_path / "bad.tsv")


# --- real speech: rounding, lag, blinks, pauses, the ceiling, the lists ----------------------


def _template_face():
    from core.eval.methods import Face
    from core.runtime.template import load_template

    template = load_template()
    return template, Face(template.vertices, template.arkit_deltas)


def test_mouth_corners_are_the_lips_extremes():
    from core.runtime.metrics import mouth_corners, mouth_width

    template, face = _template_face()
    left, right = mouth_corners(template)
    lips = template.vertices[template.region("lips")]
    assert template.vertices[left, 0] == lips[:, 0].min()
    assert template.vertices[right, 0] == lips[:, 0].max()
    assert {int(template.source_index[left]), int(template.source_index[right])} == {412, 7172}
    rest = float(mouth_width(template.vertices, template))
    assert 0.03 < rest < 0.07, "a human mouth is 3-7 cm wide"
    pucker = float(mouth_width(template.pose(_unit(template, "mouthPucker")), template))
    smile = _unit(template, "mouthSmileLeft") + _unit(template, "mouthSmileRight")
    assert pucker < 0.9 * rest < rest < float(mouth_width(template.pose(smile), template))


def _unit(template, name: str, weight: float = 1.0) -> np.ndarray:
    w = np.zeros(len(template.arkit_names), np.float32)
    w[template.arkit_names.index(name)] = weight
    return w


def test_rounding_counted_on_the_ceiling_not_on_a_static_face():
    """W/UW/OW narrow the ceiling's mouth below ROUNDED_WIDTH of its median; a static face
    never narrows."""
    from core.eval.methods import ceiling
    from core.eval.scores import score

    template, face = _template_face()
    spec = "sil 0.5 S 0.6 IH 0.8 T 0.9 sil 1.4 W 1.5 EH 1.7 N 1.8 sil 2.4 T 2.5 UW 2.75 sil 3.3"
    phones = _phones(spec + " N 3.4 OW 3.7 sil 4.0")
    audio = np.random.default_rng(0).normal(0, 0.05, 64000).astype(np.float32)
    got = score(ceiling(audio, 120, face, phones, seed=3), None, face.rest, phones, template)
    assert (got.rounds, got.rounded) == (3, 3) and got.summary()["rounding_rate"] == 1.0
    still = score(static(audio, 120, face), None, face.rest, phones, template)
    assert (still.rounds, still.rounded) == (3, 0)
    spread = _phones("sil 0.5 S 0.6 IY 1.2 T 1.3 sil 4.0")
    no_round = score(ceiling(audio, 120, face, spread, 3), None, face.rest, spread, template)
    assert no_round.rounds == 0 and np.isnan(no_round.summary()["rounding_rate"])


def _phones(spec: str) -> list[Phone]:
    """ "sil 0.5 AA 0.7 ...": symbols and end times (s), tiling from 0."""
    words = spec.split()
    ends = [float(e) for e in words[1::2]]
    return [Phone(s, a, b) for s, a, b in zip(words[::2], [0.0, *ends[:-1]], ends, strict=True)]


def test_lag_of_a_shifted_signal_is_found():
    from core.eval.scores import LAGS, LagSums

    rng = np.random.default_rng(1)
    ref = np.convolve(rng.normal(size=400), np.ones(5) / 5, "same")
    for shift in (3, -2, 0):
        late = np.roll(ref, shift)  # pred[t + shift] = ref[t]
        sums = LagSums()
        sums.add_clip(late + 7.0, ref)  # an offset does not matter: clips are centred
        lag, corr = sums.best()
        assert lag == shift and corr > 0.95
        assert sums.correlations()[LAGS.index(shift)] == pytest.approx(corr)
    # pooling two clips is the sums of both; a flat prediction has no correlation
    a, b = LagSums(), LagSums()
    a.add_clip(np.roll(ref, 2)[:200], ref[:200])
    b.add_clip(np.roll(ref, 2)[200:], ref[200:])
    a.add(b)
    assert a.best()[0] == 2
    flat = LagSums()
    flat.add_clip(np.zeros(100), ref[:100])
    assert all(np.isnan(flat.best()))
    short = LagSums()
    short.add_clip(ref[:3], ref[:3])  # shorter than the lags: only the lags it has
    assert short.n[LAGS.index(0)] == 3 and short.n[LAGS.index(5)] == 0


def test_full_blink_share_on_a_synthetic_blink():
    """One full blink (lids meet) and one partial (20 % of the gap left): share 0.5, and
    only the full one is sealed along the whole lid margin."""
    from core.data.upper_face import blink_closure_weight
    from core.eval.scores import blink_depths, score

    template, face = _template_face()
    shut = blink_closure_weight()
    weights = np.zeros((60, len(template.arkit_names)), np.float32)
    for side in ("Left", "Right"):
        k = template.arkit_names.index("eyeBlink" + side)
        weights[10:14, k] = shut  # full
        weights[40:44, k] = 0.8 * shut  # partial: below BLINK_FRACTION, above FULL_
    t = score(face.pose(weights), None, face.rest, [Phone("sil", 0, 2)], template)
    assert t.blinks == 2 and t.blink_events == 4 and t.full_blinks == 2
    assert t.summary()["full_blink_share"] == 0.5
    assert t.sealed_blinks == 2  # the full one meets all along the margins, the partial not
    assert blink_depths(np.array([7, 1, 0.5, 7, 2, 7.0]), 7.0) == pytest.approx([0.5 / 7, 2 / 7])


def test_blinks_are_counted_by_where_they_start():
    """Three blinks in 2 s: one starts in the first second's speech, two in the second's
    silence, so 60 a minute while speaking and 120 in pauses (90 overall)."""
    from core.data.upper_face import blink_closure_weight
    from core.eval.scores import score

    template, face = _template_face()
    weights = np.zeros((60, len(template.arkit_names)), np.float32)
    for side in ("Left", "Right"):
        k = template.arkit_names.index("eyeBlink" + side)
        for start in (20, 35, 50):
            weights[start : start + 4, k] = blink_closure_weight()
    phones = [Phone("AA", 0, 0.5), Phone("IY", 0.5, 1.0), Phone("sil", 1.0, 2.0)]
    summary = score(face.pose(weights), None, face.rest, phones, template).summary()
    assert summary["blinks_per_min"] == pytest.approx(90)
    assert summary["blinks_per_min_speech"] == pytest.approx(60)
    assert summary["blinks_per_min_pauses"] == pytest.approx(120)


def test_pause_clip_puts_the_silence_where_stated():
    from core.eval.recordings import (
        PAUSE_SECONDS,
        RATE,
        join_phones,
        pause_clip,
        pause_frames,
    )

    a = np.full(RATE, 0.5, np.float32)  # 1 s
    b = np.full(RATE // 2, -0.5, np.float32)  # 0.5 s
    for kind in ("room", "silence"):
        audio, start, end = pause_clip(a, b, kind, seed=0)
        assert (start, end) == (1.0, 1.0 + PAUSE_SECONDS)
        assert len(audio) == len(a) + len(b) + PAUSE_SECONDS * RATE
        gap = audio[RATE : RATE + int(PAUSE_SECONDS * RATE)]
        assert np.all(audio[:RATE] == 0.5) and np.all(audio[-RATE // 2 :] == -0.5)
        rms_db = 20 * np.log10(np.sqrt(np.mean(gap.astype(np.float64) ** 2)) + 1e-12)
        assert (rms_db == pytest.approx(-60, abs=0.5)) if kind == "room" else np.all(gap == 0)
    with pytest.raises(ValueError):
        pause_clip(a, b, "music")
    frames = pause_frames(1.0, 6.0, 30.0)
    assert (frames.start, frames.stop) == (30, 180)
    phones = join_phones([Phone("sil", 0, 1.0)], [Phone("AA", 0, 0.5)], 1.0, 6.0)
    assert phones[1] == Phone("sil", 1.0, 6.0) and phones[2] == Phone("AA", 6.0, 6.5)


def test_eyes_open_in_pauses():
    from core.data.upper_face import blink_closure_weight
    from core.eval.scores import score_pause

    template, face = _template_face()
    still = static(None, 90, face)
    open_ = score_pause(still, face.rest, slice(30, 60), "room", template)
    assert open_.summary()["eyes_open_pause_room"] == 1.0 and open_.pause_frames["room"] == 60
    weights = np.zeros((90, len(template.arkit_names)), np.float32)
    for side in ("Left", "Right"):  # eyes half shut (gap 50 %) for the pause's second half
        weights[45:, template.arkit_names.index("eyeBlink" + side)] = 0.5 * blink_closure_weight()
    droop = score_pause(face.pose(weights), face.rest, slice(30, 60), "silence", template)
    assert droop.summary()["eyes_open_pause_silence"] == pytest.approx(0.5)


def test_transcripts_and_alignment_checks():
    from core.eval.lists import normalize_transcript, recogniser_agreement, spell_number

    assert spell_number("7") == "seven" and spell_number("42") == "forty two"
    assert spell_number("90") == "ninety" and spell_number("500") is None
    assert normalize_transcript("Press 1 now, or 2.") == "Press one now, or two"
    assert normalize_transcript("[beep]") is None
    assert normalize_transcript("(10 seconds of silence)") is None
    assert normalize_transcript("Dial 1234 now") is None, "a number with two readings"
    assert normalize_transcript("3D audio") == "three D audio"
    same = [Phone("sil", 0, 0.1), Phone("AA", 0.1, 0.3), Phone("sil", 0.3, 0.5)]
    other = [Phone("sil", 0, 0.1), Phone("IY", 0.1, 0.3), Phone("sil", 0.3, 0.5)]
    assert recogniser_agreement(same, same, 0.5) == 1.0
    assert recogniser_agreement(same, other, 0.5) == 0.0


def test_recording_lists_point_at_audio():
    """The committed lists: path<TAB>transcript, every transcript words cmudict knows."""
    from pathlib import Path

    from core.data.align import normalize_words
    from core.data.sentences import cmudict
    from core.eval.recordings import read_list

    lists = sorted((Path(__file__).parents[2] / "docs" / "recordings").glob("*.tsv"))
    assert {p.stem for p in lists} >= {"alsa", "asterisk", "ktuberling", "klettres"}
    for path in lists:
        items = read_list(path)
        assert len(items) >= 8
        for audio, text in items:
            assert audio.is_absolute() and all(w in cmudict() for w in normalize_words(text))


def test_real_speech_cli(tiny_corpus, tmp_path, capsys):
    """Real speech end to end with the bundled network (the command's default): the ceiling
    is its own reference (r = 1 at lag 0), the pause clips are scored for each kind of
    silence, and the pool of 2 workers gives the numbers of 1."""
    import wave

    from core.data.sentences import load_sentences
    from core.eval.__main__ import DEFAULT_WEIGHTS
    from core.eval.recordings import Recording, score_recordings, summarize

    lines = []
    for k, seq in enumerate(load_split(tiny_corpus, "test")[:3]):
        with wave.open(str(tmp_path / f"take{k}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(seq.audio.tobytes())
        lines.append(f"take{k}.wav\t{load_sentences()[seq.job.sentence]}")
    (tmp_path / "mine.tsv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "r.json"
    args = ["--recordings", str(tmp_path / "mine.tsv")]
    args += ["--pauses", "1", "--jobs", "1", "--by-voice", "--per-list", "--no-cache"]
    args += ["--json", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert len(lines) >= 2, "a pause clip needs two recordings"
    assert f"## Real speech: {len(lines)} recordings (mine)" in text and "| ceiling" in text
    assert "P/B/M misses and lip-gap lag by list" in text
    res = json.loads(out.read_text())
    rows = res["real speech"]
    assert set(rows) == {
        "meshtalk (sampled)",
        "phone recogniser + articulation",
        "ceiling (articulation on alignment)",
        "static face",
    }
    top = rows["ceiling (articulation on alignment)"]
    assert top["lip_corr_lag0"] == pytest.approx(1.0) and top["lip_lag_frames"] == 0
    assert top["pbm_closure"] == 1.0 and top["rounding_rate"] >= 0.5
    still = rows["static face"]
    assert np.isnan(still["lip_corr_best"]) and still["rounding_rate"] == 0.0
    for row in rows.values():
        assert 0 <= row["eyes_open_pause_room"] <= 1 and 0 <= row["eyes_open_pause_silence"] <= 1
    assert still["eyes_open_pause_silence"] == 1.0
    assert set(res["real speech by list"]) == {"mine"}
    items = [Recording(tmp_path / f"take{k}.wav", lines[k].split("\t")[1]) for k in range(2)]
    methods = {"net": meshtalk(DEFAULT_WEIGHTS), "static": static}
    one = summarize(score_recordings(items, methods, pauses=1, jobs=1, progress=False).pooled)
    two = summarize(score_recordings(items, methods, pauses=1, jobs=2, progress=False).pooled)
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)


def test_corpus_diagnosis_by_voice(tiny_corpus, capsys):
    """--by-voice on the corpus: closure misses and lip-gap lag against the truth per voice."""
    assert (
        main(["--corpus", str(tiny_corpus), "--limit", "2", "--no-recordings", "--by-voice"]) == 0
    )
    text = capsys.readouterr().out
    assert "by held-out voice" in text and "| all |" in text and "corr at 0" in text


def test_phone_cache_hits_only_the_same_audio_and_text(tmp_path):
    from core.eval.cache import cached_phones

    calls = []

    def compute():
        calls.append(1)
        return [Phone("sil", 0.0, 0.1), Phone("AA", 0.1, 1 / 3)]

    audio = np.linspace(-0.1, 0.1, 1600, dtype=np.float32)
    first = cached_phones(tmp_path, "aligned", audio, "ah", compute)
    assert cached_phones(tmp_path, "aligned", audio, "ah", compute) == first and len(calls) == 1
    cached_phones(tmp_path, "aligned", audio, "oh", compute)  # another transcript
    cached_phones(tmp_path, "aligned", audio * 0.5, "ah", compute)  # other audio
    cached_phones(tmp_path, "recognised", audio, "ah", compute)  # another kind
    assert len(calls) == 4
    assert cached_phones(None, "aligned", audio, "ah", compute) == first and len(calls) == 5
