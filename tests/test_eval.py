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
    assert set(out) == {"recordings list", "recordings other"}
    assert out["recordings list"]["static face"]["open_vowel_rate"] == 0.0
    with pytest.raises(ValueError, match="path<TAB>transcript"):
        (tmp_path / "bad.tsv").write_text("just a line\n")
        read_list(tmp_path / "bad.tsv")
