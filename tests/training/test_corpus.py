"""The corpus: disjoint splits, exact rebuilds from seeds, resume, and aligned training windows.

A real (tiny) corpus is built once per session with fast espeak voices."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch
from tiny import TINY, VOICES

from core.data.articulation import phone_frames
from core.data.build import build_corpus
from core.data.corpus import (
    CorpusConfig,
    Job,
    jobs,
    load_manifest,
    read_shard,
    shard_path,
    split_words,
    trait_seed,
)
from core.data.make import make_sequence
from core.data.phones import BILABIALS, phone_spans
from core.data.sentences import load_sentences
from core.data.upper_face import UPPER_FACE_UNITS
from core.runtime.metrics import lip_gap
from core.train.config import ModelConfig


def test_splits_are_disjoint_by_voice_and_sentence():
    config = CorpusConfig(voices=("a", "b", "c", "d", "e"), val_voices=("b",), test_voices=("c",))
    stream = list(itertools.islice(jobs(config.voices, 500, config), 3000))
    by = {s: [j for j in stream if j.split == s] for s in ("train", "val", "test")}
    assert all(by.values())
    voices = {s: {j.voice for j in js} for s, js in by.items()}
    sentences = {s: {j.sentence for j in js} for s, js in by.items()}
    assert voices == {"train": {"a", "d", "e"}, "val": {"b"}, "test": {"c"}}
    for a, b in itertools.combinations(sentences, 2):
        assert not sentences[a] & sentences[b], f"{a} and {b} share sentences"
    assert len(by["val"]) / len(stream) == pytest.approx(config.held_out_sentence_fraction, 0.3)


def test_held_out_voices_must_exist():
    with pytest.raises(ValueError, match="not available"):
        next(jobs(["a", "b"], 10, CorpusConfig(val_voices=("zzz",), test_voices=())))


def test_same_job_same_sequence():
    job = next(jobs(VOICES, len(load_sentences()), TINY))
    text = load_sentences()[job.sentence]
    a, b = (make_sequence(job, text, TINY) for _ in range(2))
    assert a.audio.tobytes() == b.audio.tobytes()
    assert a.weights.tobytes() == b.weights.tobytes()
    assert np.array_equal(a.identity, b.identity) and a.phones == b.phones


@pytest.mark.parametrize("trait", ["habits", "styles"])
def test_traits_belong_to_the_sequence_not_the_voice(template, trait):
    """Per-sequence habits change only the upper face, per-sequence styles only the mouth:
    the same audio and face either way."""
    stream = jobs(VOICES, len(load_sentences()), TINY)
    first = next(stream)
    second = next(j for j in stream if j.voice == first.voice)
    assert trait_seed(first, TINY, "sequence") != trait_seed(second, TINY, "sequence")
    assert trait_seed(first, TINY, "voice") == trait_seed(second, TINY, "voice")

    text = load_sentences()[first.sentence]
    per_voice = replace(TINY, **{trait: "voice"})
    a, b = make_sequence(first, text, TINY), make_sequence(first, text, per_voice)
    assert a.audio.tobytes() == b.audio.tobytes() and np.array_equal(a.identity, b.identity)
    upper = [template.arkit_names.index(n) for n in UPPER_FACE_UNITS]
    lower = np.setdiff1d(np.arange(a.weights.shape[1]), upper)
    changed, kept = (upper, lower) if trait == "habits" else (lower, upper)
    assert np.array_equal(a.weights[:, kept], b.weights[:, kept])
    assert not np.array_equal(a.weights[:, changed], b.weights[:, changed])


@pytest.mark.parametrize("trait", ["habits", "styles"])
def test_trait_options_are_checked_and_old_manifests_read_per_voice(trait):
    with pytest.raises(ValueError, match=f"{trait} must be one of"):
        CorpusConfig(**{trait: "speaker"})
    old = {k: v for k, v in TINY.to_json().items() if k not in ("habits", "styles")}
    assert CorpusConfig.from_json(old) == replace(TINY, habits="voice", styles="voice")
    assert CorpusConfig.from_json(TINY.to_json()) == TINY


def test_build_resumes_and_rebuilds_exactly(tiny_corpus, tmp_path):
    manifest = load_manifest(tiny_corpus)
    assert manifest["hours"] >= 0.01 and len(manifest["shards"]) >= 2
    first = shard_path(tiny_corpus, 0)
    digest = hashlib.sha256(first.read_bytes()).hexdigest()
    first.unlink()  # as if the build had been killed before this shard
    build_corpus(tiny_corpus, hours=0.01, config=TINY, workers=1, progress=False)
    assert hashlib.sha256(first.read_bytes()).hexdigest() == digest
    with pytest.raises(ValueError, match="another config"):
        build_corpus(tiny_corpus, 0.01, CorpusConfig(voices=VOICES, seed=1), progress=False)


def test_sequences_are_aligned_and_animated(tiny_corpus, template):
    from core.data.faces import sequence_vertices
    from core.data.identities import identity_unit_deltas

    seqs = [
        s
        for k in load_manifest(tiny_corpus)["shards"]
        for s in read_shard(shard_path(tiny_corpus, int(k)))
    ]
    faces = {s.identity.tobytes() for s in seqs}
    assert len(faces) == len(seqs), "every sequence on its own face"
    for seq in seqs[:4]:
        duration = len(seq.audio) / TINY.sample_rate
        assert abs(len(seq.weights) - duration * TINY.fps) <= 1
        assert seq.phones[-1].end == pytest.approx(duration, abs=0.05)
        verts = sequence_vertices(seq, identity_unit_deltas(seq.identity))
        gap = lip_gap(verts, template)
        for p in seq.phones:
            frames = np.arange(int(np.ceil(p.start * 30)), int(p.end * 30) + 1)
            frames = frames[frames < len(gap)]
            if p.symbol in BILABIALS and len(frames):
                assert gap[frames].max() < 0.0005, f"lips open on {p.symbol} in {seq.job}"


def test_windows_line_up_audio_and_vertices(tiny_corpus):
    from core.data.dataset import MARGIN_S, Windows

    cfg = ModelConfig()
    ds = Windows(tiny_corpus, "train", 16, cfg, length=10)
    a, b = ds.pair(3)
    assert a["vertices"].shape == (16, cfg.n_vertices, 3)
    assert a["template"].shape == (cfg.n_vertices, 3)
    assert int(a["start"]) == round(MARGIN_S * cfg.fps)
    n_mel = a["mel"].shape[0]
    assert abs(n_mel - (16 / cfg.fps + 2 * MARGIN_S) * cfg.mel_fps) <= 2
    assert ds.sequences[int(a["sequence"])].job.voice != ds.sequences[int(b["sequence"])].job.voice
    again = Windows(tiny_corpus, "train", 16, cfg, length=10)[5]
    assert all(np.array_equal(again[k], ds[5][k]) for k in again)


def test_windows_centre_each_sequence_as_the_runtime_does_a_clip(tiny_corpus):
    """mel_centring = "utterance": a window's log-mel minus its whole sequence's speech mean
    (what the runtime subtracts from a whole clip); the same windows and faces otherwise."""
    from core.data.dataset import Windows, audio_window
    from core.runtime.audio import utterance_offset

    cfg = ModelConfig(mel_centring="utterance")
    plain = Windows(tiny_corpus, "train", 16, ModelConfig(), length=10)
    centred = Windows(tiny_corpus, "train", 16, cfg, length=10)
    a, b = plain[2], centred[2]
    seq = centred.sequences[int(b["sequence"])]
    offset = utterance_offset(seq.audio.astype(np.float32) / 32768.0, cfg)
    assert offset.any()
    np.testing.assert_allclose(b["mel"].numpy(), a["mel"].numpy() - offset, atol=1e-5)
    assert all(torch.equal(a[k], b[k]) for k in a if k != "mel")
    pcm = audio_window(seq, 0, 16, cfg.fps, cfg.sample_rate)
    assert not np.allclose(utterance_offset(pcm, cfg), offset, atol=0.05)  # not the window's


def test_windows_reach_past_the_ends_where_silence_goes_on(tiny_corpus):
    """`edge_frames`: a window may start before a sequence or end after it, where the face
    holds its first or last frame; off, the draws are those of before."""
    from core.data.dataset import Windows

    cfg = ModelConfig()
    plain = Windows(tiny_corpus, "train", 16, cfg, length=10)
    edged = Windows(tiny_corpus, "train", 16, cfg, length=10, edge_frames=8)
    full = edged.faces[0].vertices(edged.row[0])
    n = len(full)
    before = edged._vertices(0, -5)
    assert np.array_equal(before[:5], np.repeat(full[:1], 5, axis=0))
    assert np.array_equal(before[5:], full[:11])
    after = edged._vertices(0, n - 10)
    assert np.array_equal(after[:10], full[n - 10 :])
    assert np.array_equal(after[10:], np.repeat(full[-1:], 6, axis=0))
    assert np.array_equal(edged._vertices(0, 3), full[3:19])

    spans = list(phone_spans(edged.sequences[0].phones, BILABIALS, n, cfg.fps))
    inside = phone_frames(edged.sequences[0].phones, n, cfg.fps, BILABIALS)
    assert spans and inside.any()
    assert np.array_equal(edged._bilabial(0, 3) != 0, inside[3:19])
    assert np.array_equal(edged._bilabial(0, -5) != 0, np.r_[np.zeros(5, bool), inside[:11]])
    assert np.array_equal(
        edged._bilabial(0, n - 10) != 0, np.r_[inside[n - 10 :], np.zeros(6, bool)]
    )
    first = spans[0]  # the window from its first frame: span 1, whole; a window cutting it: -1
    labels = edged._bilabial(0, int(first[0]))
    assert np.all(labels[: len(first)] == 1)
    if len(first) > 1:
        assert edged._bilabial(0, int(first[-1]))[0] == -1

    again = Windows(tiny_corpus, "train", 16, cfg, length=10, edge_frames=0)
    assert all(np.array_equal(again[4][k], plain[4][k]) for k in again[4])
    differ = [not np.array_equal(edged[i]["mel"], plain[i]["mel"]) for i in range(10)]
    assert any(differ)


def test_training_only_corpus_of_other_languages_joins_the_windows(tiny_corpus, tmp_path):
    """Voices of other languages (festival, their own phone sets) make a corpus with no val or
    test split; training windows draw from it and the main corpus alike."""
    from core.data.corpus import load_split
    from core.data.dataset import Windows

    other = ("festival:czech_dita", "festival:lp_diphone")
    config = CorpusConfig(voices=other, val_voices=(), test_voices=(), sequences_per_shard=4)
    extra = tmp_path / "languages"
    build_corpus(extra, hours=0.002, config=config, workers=2, progress=False)
    seqs = load_split(extra, "train")
    assert {s.job.voice for s in seqs} <= set(other) and len(seqs) >= 2
    with pytest.raises(ValueError, match="no val sequences"):
        load_split(extra, "val")
    cfg = ModelConfig()
    ds = Windows([tiny_corpus, extra], "train", 16, cfg, length=40)
    assert len(ds.sequences) == len(load_split(tiny_corpus, "train")) + len(seqs)
    drawn = {ds.sequences[int(ds[i]["sequence"])].job.voice for i in range(40)}
    assert drawn & set(other) and drawn - set(other)
    from core.train.loop import TrainConfig, _train_windows

    tcfg = TrainConfig(corpus=str(tiny_corpus), extra_corpora=(str(extra),), batch_size=2)
    assert len(_train_windows(tcfg, cfg, 16, steps=3, seed=0).sequences) == len(ds.sequences)
    for k in (0, len(ds.sequences) - 1):  # faces come from each sequence's own corpus cache
        w = ds._window(np.random.default_rng(k), k)
        seq = ds.sequences[k]
        assert np.allclose(w["template"].numpy(), ds.faces[k].rest(ds.row[k]), atol=1e-6)
        assert ds.faces[k].sequences[ds.row[k]] is seq


PAUSE_KEYS = ("pause_probability", "pause_range", "pause_silent", "room_tone_range")
PAUSE_FIELDS = {"pause": 0.0, "pause_at": 0.0, "tone": "", "tone_dbfs": 0.0}


def test_pauses_are_drawn_apart_and_old_manifests_have_none():
    """A share of jobs get a 0.5-6 s pause at a word boundary, drawn from a stream of their
    own: without pauses (old manifests, old shards) every job is as before."""
    n = len(load_sentences())
    stream = list(itertools.islice(jobs(VOICES, n, TINY), 1000))
    paused = [j for j in stream if j.pause > 0]
    assert len(paused) / len(stream) == pytest.approx(TINY.pause_probability, abs=0.05)
    for j in paused:
        assert TINY.pause_range[0] <= j.pause <= TINY.pause_range[1] and 0 < j.pause_at < 1
        assert j.tone == "" or TINY.room_tone_range[0] <= j.tone_dbfs <= TINY.room_tone_range[1]
    silent = np.mean([j.tone == "" for j in paused])
    assert silent == pytest.approx(TINY.pause_silent, abs=0.08)

    old = {k: v for k, v in TINY.to_json().items() if k not in PAUSE_KEYS}
    assert CorpusConfig.from_json(old) == replace(TINY, pause_probability=0.0)
    assert CorpusConfig.from_json(TINY.to_json()) == TINY
    before = list(itertools.islice(jobs(VOICES, n, CorpusConfig.from_json(old)), 1000))
    assert not any(j.pause > 0 for j in before)
    assert [replace(j, **PAUSE_FIELDS) for j in stream] == before
    meta = {k: v for k, v in asdict(before[0]).items() if k not in PAUSE_FIELDS}
    assert Job(**meta) == before[0]  # a job of a shard written before pauses
    with pytest.raises(ValueError, match="pause_probability"):
        CorpusConfig(pause_probability=1.5)


def _paused_job(config: CorpusConfig, tone: bool, min_pause: float = 1.0) -> Job:
    stream = jobs(VOICES, len(load_sentences()), config)
    return next(j for j in stream if j.pause >= min_pause and bool(j.tone) == tone)


@pytest.mark.parametrize("tone", [False, True])
def test_a_paused_sequence_has_a_silence_of_the_drawn_length(tone):
    """The sentence in two parts, split at a word, one "sil" of the drawn pause between them
    (speech to speech), and in it digital zero or room tone at the drawn level; a pure
    function of the job."""
    clean = replace(TINY, augment_probability=0.0)
    job = _paused_job(clean, tone)
    text = load_sentences()[job.sentence]
    first, second = split_words(text, job.pause_at)
    assert f"{first} {second}" == " ".join(text.split()) and first and second
    seq = make_sequence(job, text, clean)
    again = make_sequence(job, text, clean)
    assert seq.audio.tobytes() == again.audio.tobytes()
    assert seq.weights.tobytes() == again.weights.tobytes() and seq.phones == again.phones
    for a, b in itertools.pairwise(seq.phones):
        assert a.end == pytest.approx(b.start, abs=1e-6)
    duration = len(seq.audio) / TINY.sample_rate
    assert seq.phones[-1].end == pytest.approx(duration, abs=0.05)
    assert abs(len(seq.weights) - duration * TINY.fps) <= 1
    sil = max(seq.phones, key=lambda p: (p.symbol == "sil") * (p.end - p.start))
    assert sil.end - sil.start == pytest.approx(job.pause, abs=1e-3)
    spoken = [p.symbol != "sil" for p in seq.phones]
    at = seq.phones.index(sil)
    assert any(spoken[:at]) and any(spoken[at + 1 :])
    # between the synthesisers' own edge silences (<= 0.1 s for espeak): zero or the room
    sr = TINY.sample_rate
    middle = seq.audio[int((sil.start + 0.15) * sr) : int((sil.end - 0.15) * sr)]
    level = 20 * np.log10(np.sqrt(np.mean(middle.astype(np.float64) ** 2)) / 32767.0 + 1e-12)
    if tone:
        assert level == pytest.approx(job.tone_dbfs, abs=1.5)
    else:
        assert not middle.any()


def test_in_a_long_pause_the_lips_rest_and_the_eyes_stay_open(template):
    """5 s of pause: the mouth at the speaker's rest pose with the jaw still (from 0.5 s after
    the speech to where the next phones' anticipation reaches), the eyes open (lid gap >= 60 %
    of neutral on >= 90 % of frames outside blinks) and the gaze still moving."""
    from core.data.articulation import REACH, SpeakerStyle, rest_weights
    from core.data.faces import sequence_vertices
    from core.data.identities import identity_unit_deltas, identity_vertices
    from core.data.upper_face import LID_FOLLOWS_GAZE
    from core.runtime.metrics import eyelid_gap

    clean = replace(TINY, augment_probability=0.0)
    job = replace(_paused_job(clean, tone=False), pause=5.0)
    seq = make_sequence(job, load_sentences()[job.sentence], clean)
    sil = max(seq.phones, key=lambda p: (p.symbol == "sil") * (p.end - p.start))
    w = seq.weights.astype(np.float32)
    frames = np.arange(len(w))
    t = frames / TINY.fps
    pause = frames[(t > sil.start) & (t < sil.end)]
    inner = frames[(t > sil.start + 0.5) & (t < sil.end - REACH - 0.07)]  # 0.07: max lead
    assert len(pause) >= 5 * TINY.fps - 2

    names = template.arkit_names
    upper = [names.index(n) for n in UPPER_FACE_UNITS]
    lower = np.setdiff1d(np.arange(len(names)), upper)
    rest = rest_weights(SpeakerStyle.sample(trait_seed(job, clean, clean.styles)), names)
    assert np.abs(w[np.ix_(inner, lower)] - rest[lower]).max() < 0.03
    jaw = w[inner, names.index("jawOpen")]
    assert jaw.max() < 0.005 and np.ptp(jaw) < 0.002
    deltas = identity_unit_deltas(seq.identity)
    face = identity_vertices(seq.identity)
    verts = sequence_vertices(seq, deltas)
    rest_gap = lip_gap(face + np.tensordot(rest, deltas, 1), template)
    assert np.abs(lip_gap(verts[inner], template) - rest_gap).max() < 0.0002

    for side in ("Left", "Right"):
        neutral = eyelid_gap(face, template, side.lower())
        gap = eyelid_gap(verts[pause], template, side.lower())
        blink = w[pause, names.index("eyeBlink" + side)]
        blink = blink - LID_FOLLOWS_GAZE * w[pause, names.index("eyeLookDown" + side)] > 0.01
        outside = ~np.convolve(blink, np.ones(3), "same").astype(bool)
        assert outside.sum() > 0.5 * len(pause)
        assert np.mean(gap[outside] >= 0.6 * neutral) >= 0.9
    look = [names.index(n) for n in UPPER_FACE_UNITS if "Look" in n]
    assert np.abs(np.diff(w[np.ix_(pause, look)], axis=0)).max() > 0.01  # a saccade


def test_paused_sequences_of_the_corpus_read_back(tiny_corpus):
    """The stored corpus has paused sequences (phone times float32): each has its drawn pause
    as one sil phone, and as many frames as its audio."""
    seqs = [
        s
        for k in load_manifest(tiny_corpus)["shards"]
        for s in read_shard(shard_path(tiny_corpus, int(k)))
    ]
    paused = [s for s in seqs if s.job.pause > 0]
    assert paused and len(paused) < len(seqs)
    for seq in paused:
        sils = [p.end - p.start for p in seq.phones if p.symbol == "sil"]
        assert max(sils) == pytest.approx(seq.job.pause, abs=1e-3)
        assert abs(len(seq.weights) - len(seq.audio) / TINY.sample_rate * TINY.fps) <= 1
