"""pocketsphinx forced alignment on real synthetic speech."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import voices
from core.data.align import (
    AlignmentError,
    align_phones,
    align_text,
    onset_offsets,
    summarize_offsets,
)
from core.data.phones import PHONE_SET, SIL, check_phones
from core.data.sentences import phones_of

TEXT = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def slt():
    """flite slt: its segment times drive the waveform, so they are the reference."""
    return voices._engine_result(voices.get_voice("flite:slt"), TEXT, 1.0, 1.0, 1.0, 0)


def test_align_text_matches_cmudict_and_engine_times(slt):
    phones = align_text(slt.audio, slt.sample_rate, TEXT)
    check_phones(phones, len(slt.audio) / slt.sample_rate)
    assert [p.symbol for p in phones if p.symbol != SIL] == phones_of(TEXT)
    offs = np.array([d for _, d in onset_offsets(slt.phones, phones)])
    assert len(offs) >= 25
    assert np.median(np.abs(offs)) < 0.02, offs


def test_align_phones_keeps_the_given_sequence(slt):
    phones = align_phones(slt.audio, slt.sample_rate, slt.words)
    assert [p.symbol for p in phones if p.symbol != SIL] == [p for w in slt.words for p in w]
    assert {p.symbol for p in phones} <= PHONE_SET
    assert phones[0].start == 0.0
    assert phones[-1].end == pytest.approx(len(slt.audio) / slt.sample_rate)


def test_leading_pad_and_resampling_are_corrected(slt):
    """Times are in the caller's clock: 0.5 s of extra lead-in shifts every phone by 0.5 s,
    and the input rate (16 k vs 44.1 k) does not matter."""
    import soxr

    base = align_phones(slt.audio, slt.sample_rate, slt.words)
    lead = np.concatenate([np.zeros(slt.sample_rate // 2, np.float32), slt.audio])
    shifted = align_phones(lead, slt.sample_rate, slt.words)
    d = [a - b for _, a, b in _starts(shifted, base)]
    assert np.median(np.abs(np.array(d) - 0.5)) <= 0.011
    hi = soxr.resample(slt.audio, slt.sample_rate, 44100).astype(np.float32)
    again = align_phones(hi, 44100, slt.words)
    d = [a - b for _, a, b in _starts(again, base)]
    assert np.median(np.abs(d)) <= 0.011


def _starts(a, b):
    sa = [p for p in a if p.symbol != SIL]
    sb = [p for p in b if p.symbol != SIL]
    assert [p.symbol for p in sa] == [p.symbol for p in sb]
    return [(p.symbol, p.start, q.start) for p, q in zip(sa, sb, strict=True)]


def test_alignment_is_deterministic(slt):
    a = align_phones(slt.audio, slt.sample_rate, slt.words)
    b = align_phones(slt.audio, slt.sample_rate, slt.words)
    assert a == b


def test_offset_summary_by_class(slt):
    aligned = align_phones(slt.audio, slt.sample_rate, slt.words)
    summary = summarize_offsets(onset_offsets(slt.phones, aligned))
    assert {"all", "stop", "vowel", "fricative"} <= set(summary)
    assert summary["all"]["n"] >= 25 and abs(summary["all"]["median"]) < 0.02


def test_bad_inputs_raise_alignment_error(slt):
    with pytest.raises(AlignmentError, match="not in cmudict"):
        align_text(slt.audio, slt.sample_rate, "the qwxzzk fox")
    with pytest.raises(AlignmentError, match="no words"):
        align_text(slt.audio, slt.sample_rate, "!!!")
    with pytest.raises(AlignmentError, match="not ARPAbet"):
        align_phones(slt.audio, slt.sample_rate, [["DH", "XX"]])
    with pytest.raises(AlignmentError, match="no phones"):
        align_phones(slt.audio, slt.sample_rate, [[SIL]])
    silence = np.zeros(16000, np.float32)
    with pytest.raises(AlignmentError):
        align_text(silence, 16000, TEXT + " " + TEXT)
