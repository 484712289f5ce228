"""The corpus: disjoint splits, exact rebuilds from seeds, resume, and aligned training windows.

A real (tiny) corpus is built once per session with fast espeak voices."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import TINY, VOICES

from core.config import ModelConfig
from core.data.articulation import phone_frames
from core.data.build import build_corpus
from core.data.corpus import (
    CorpusConfig,
    jobs,
    load_manifest,
    read_shard,
    shard_path,
    trait_seed,
)
from core.data.make import make_sequence
from core.data.phones import BILABIALS, phone_spans
from core.data.sentences import load_sentences
from core.data.upper_face import UPPER_FACE_UNITS
from core.metrics import lip_gap


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
    from core.audio import utterance_offset
    from core.data.dataset import Windows, audio_window

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
    from core.train import TrainConfig, _train_windows

    tcfg = TrainConfig(corpus=str(tiny_corpus), extra_corpora=(str(extra),), batch_size=2)
    assert len(_train_windows(tcfg, cfg, 16, steps=3, seed=0).sequences) == len(ds.sequences)
    for k in (0, len(ds.sequences) - 1):  # faces come from each sequence's own corpus cache
        w = ds._window(np.random.default_rng(k), k)
        seq = ds.sequences[k]
        assert np.allclose(w["template"].numpy(), ds.faces[k].rest(ds.row[k]), atol=1e-6)
        assert ds.faces[k].sequences[ds.row[k]] is seq
