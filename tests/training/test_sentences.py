"""The sentence list: source, size, cmudict coverage, balanced selection, text checks."""

from __future__ import annotations

import pytest

from core.data import sentences as S
from core.data.phones import ARPABET


@pytest.fixture(scope="module")
def all_sentences() -> list[str]:
    return S.load_sentences()


def test_at_least_2000_distinct_sentences_all_in_cmudict(all_sentences):
    assert len(all_sentences) >= 2000
    assert len({s.lower() for s in all_sentences}) == len(all_sentences)
    lex = S.cmudict()
    for s in all_sentences:
        words = S.words_of(s)
        assert 5 <= len(words) <= 20, s
        assert all(w in lex for w in words), s
        assert s[0].isupper() and s[-1] in ".?!", s


def test_committed_list_is_the_reproducible_extraction(all_sentences):
    """sentences.txt == what the command in its header extracts from Debian's wordnet-base."""
    assert S.extract_wordnet() == all_sentences
    with open(S.SENTENCES_FILE, encoding="utf-8") as f:
        header = [ln for ln in f.read().splitlines() if ln.startswith("#")]
    assert any("Princeton University" in ln for ln in header)


def test_all_39_phonemes_covered(all_sentences):
    rep = S.coverage(all_sentences)
    assert rep["covered"] == 39 and rep["missing"] == []
    assert rep["min"] >= 50  # even ZH, the rarest, occurs often enough to learn
    assert set(rep["counts"]) == set(ARPABET)


def test_balanced_selection_beats_taking_the_first_n(all_sentences):
    chosen = S.select_balanced(all_sentences, 300)
    assert len(chosen) == len(set(chosen)) == 300
    assert set(chosen) <= set(all_sentences)
    assert chosen == S.select_balanced(all_sentences, 300)  # deterministic
    picked, first = S.coverage(chosen), S.coverage(all_sentences[:300])
    assert picked["covered"] == 39
    assert picked["min"] > 2 * first["min"]
    assert S.select_balanced(all_sentences, 0) == []


def test_phones_of_uses_cmudict():
    assert S.phones_of("The cat.") == ["DH", "AH", "K", "AE", "T"]
    with pytest.raises(S.TextError):
        S.phones_of("the zzqxv")


@pytest.mark.parametrize("text", ["", "  ", "42 !?", "zzqxv blorfq"])
def test_check_text_refuses_non_english(text):
    with pytest.raises(S.TextError):
        S.check_text(text)


def test_check_text_accepts_english_with_odd_words():
    assert S.check_text("Hello, Zorblax!") == ["hello", "zorblax"]
