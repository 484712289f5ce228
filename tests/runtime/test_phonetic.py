"""core.runtime.audio.phonetic against pocketsphinx 5.1.1 itself (pinned in deps/train.txt),
on speech: demo/speech.wav (CMU Flite, in the repository, so every machine has it).

How pocketsphinx's own numbers are read: a Decoder with `mfclogdir` writes the cepstra its
front end computed (before CMN: an int32 count, then big-endian float32), with `senlogdir`
the scores of every senone of every frame (an s3 header, then per frame an int16 count and
int16 scores, 0 = the frame's best, one step = ln(1.0001) * 2^10 nats; `compallsen` scores
all 5,126, `pl_window 0` scores each frame once), and `get_cmn()` gives its batch CMN mean.
Its forced alignment (`set_align_text`, then `set_alignment`) labels the frames; its frame i
is our frame i.
"""

from __future__ import annotations

import math
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pocketsphinx")  # the reference (deps/dev.txt); absent in the bpy matrix

from core.assets_build.acoustic_model import build_acoustic_model
from core.runtime.audio import phonetic as P
from core.runtime.audio.features import clip_features, switched_off
from core.runtime.config import NetworkConfig

ROOT = Path(__file__).resolve().parents[2]
SPEECH = ROOT / "demo" / "speech.wav"
TEXT = "hello there i am a talking head animated in blender from my voice alone"
SENONE_STEP = math.log(1.0001) * 2**10  # nats per unit of pocketsphinx's senone scores


@pytest.fixture(scope="module")
def model() -> P.AcousticModel:
    return P.load_acoustic_model()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """demo/speech.wav as int16 (16 kHz mono)."""
    with wave.open(str(SPEECH)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def as_float(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float32) / 32768.0


def decode(pcm: np.ndarray, logdir: Path):
    """pocketsphinx on int16 audio with its cepstra and senone scores logged to logdir."""
    from pocketsphinx import Decoder

    logdir.mkdir(parents=True, exist_ok=True)
    dec = Decoder(
        loglevel="FATAL", pl_window=0, mfclogdir=str(logdir), senlogdir=str(logdir), compallsen=True
    )
    dec.start_utt()
    dec.process_raw(pcm.tobytes(), full_utt=True)
    dec.end_utt()
    return dec


def read_mfc(path: Path) -> np.ndarray:
    data = path.read_bytes()
    (count,) = np.frombuffer(data[:4], dtype=">i4")
    return np.frombuffer(data[4:], dtype=">f4").reshape(-1, 13)[: count // 13]


def read_senones(path: Path, n_senones: int = 5126) -> np.ndarray:
    """(frames, n_senones) pocketsphinx scores (units below the frame's best)."""
    data = path.read_bytes()
    start = data.index(b"endhdr\n") + len(b"endhdr\n") + 4  # + the byte-order magic
    rows = np.frombuffer(data[start:], dtype="<i2").reshape(-1, n_senones + 1)
    assert (rows[:, 0] == n_senones).all()
    return rows[:, 1:]


@pytest.fixture(scope="module")
def reference(speech, tmp_path_factory) -> dict:
    """pocketsphinx's cepstra, CMN and CI senone log-likelihoods for demo/speech.wav."""
    logdir = tmp_path_factory.mktemp("pocketsphinx")
    dec = decode(speech, logdir)
    scores = read_senones(next(logdir.glob("*.sen")))[:, :126] * -SENONE_STEP
    return {
        "cepstra": read_mfc(next(logdir.glob("*.mfc"))),
        "cmn": np.array([float(v) for v in dec.get_cmn().split(",")]),
        "scores": scores - scores.max(axis=1, keepdims=True),  # relative to the best CI one
    }


@pytest.fixture(scope="module")
def labels(speech) -> np.ndarray:
    """PHONE_CLASSES column per frame from pocketsphinx's forced alignment to TEXT."""
    from pocketsphinx import Decoder

    def run() -> None:
        dec.start_utt()
        dec.process_raw(speech.tobytes(), full_utt=True)
        dec.end_utt()

    dec = Decoder(lm=None, loglevel="FATAL")
    dec.set_align_text(TEXT)
    run()  # the words
    dec.set_alignment()
    run()  # the phones and states within them
    out = np.full(P.n_phonetic_frames(len(speech)), P.SIL)
    for phone in dec.get_alignment().phones():
        name = "SIL" if phone.name.startswith("+") else phone.name
        out[phone.start : phone.start + phone.duration] = P.PHONE_CLASSES.index(name)
    assert (out != P.SIL).mean() > 0.7
    return out


# ---------------------------------------------------------------------------------------
# the front end against pocketsphinx's own


@pytest.mark.parametrize("n", [1, 409, 410, 569, 570, 571, 1000, 16000])
def test_frame_count_matches_pocketsphinx(speech, tmp_path, n):
    decode(speech[20000 : 20000 + n], tmp_path)
    assert len(read_mfc(next(tmp_path.glob("*.mfc")))) == P.n_phonetic_frames(n)


def test_frame_timing():
    assert P.n_phonetic_frames(0) == 0
    np.testing.assert_array_equal(P.frame_centers(3), [204.5, 364.5, 524.5])


def test_cepstra_match_pocketsphinx(model, speech, reference):
    ours = P.sphinx_cepstra(as_float(speech), model)
    assert ours.shape == reference["cepstra"].shape == (467, 13)
    assert np.abs(ours - reference["cepstra"]).max() < 1e-3  # measured 2.3e-5
    # the noise removal is what makes them match: without it they differ by whole units
    plain = P.sphinx_cepstra(as_float(speech), model, noise_removal=False)
    assert np.abs(plain - reference["cepstra"]).max() > 1.0


def test_cmn_matches_pocketsphinx(reference):
    normalised, mean = P.batch_cmn(reference["cepstra"])
    np.testing.assert_allclose(mean, reference["cmn"], atol=1e-3)  # get_cmn prints %g
    np.testing.assert_allclose(normalised + mean, reference["cepstra"], atol=1e-5)


def test_senone_scores_agree_with_pocketsphinx(model, speech, reference):
    """pocketsphinx mixes only the 4 best Gaussians per phone and stream and quantises to
    0.1-nat steps; with all 128 Gaussians the best CI phone of a frame agrees on 93% of
    demo/speech.wav's frames, the best senone on 92%."""
    features = P.dynamic_features(P.batch_cmn(P.sphinx_cepstra(as_float(speech), model))[0])
    ours = P.senone_scores(features, model).reshape(len(features), 126)
    theirs = reference["scores"]
    assert ours.shape == theirs.shape
    best_phone = (
        ours.reshape(-1, 42, 3).max(2).argmax(1),
        theirs.reshape(-1, 42, 3).max(2).argmax(1),
    )
    assert (best_phone[0] == best_phone[1]).mean() > 0.88
    assert (ours.argmax(1) == theirs.argmax(1)).mean() > 0.85
    near = theirs > -10.0
    assert np.abs(ours - theirs)[near].mean() < 0.6  # measured 0.39 nats
    assert ours.max() == 0.0 and ours.min() >= -P.SCORE_FLOOR


@pytest.mark.parametrize("stride", [1, 2])
def test_posteriors_against_forced_alignment(model, speech, labels, stride):
    """Speech frames whose top class is pocketsphinx's aligned phone. Measured: per frame
    0.48 / 0.49 (stride 1 / 2), with the phone loop 0.61 / 0.61; top-3 0.86 / 0.85."""
    results = {}
    for smooth in (False, True):
        feats = P.phonetic_features(as_float(speech), model, smooth, gmm_stride=stride)
        post, speech_frames = feats[:, : P.LOUDNESS], labels != P.SIL
        top3 = np.argsort(-post, axis=1)[:, :3]
        results[smooth] = (
            (post.argmax(1) == labels)[speech_frames].mean(),
            (top3 == labels[:, None]).any(1)[speech_frames].mean(),
        )
    assert results[False][0] > 0.42
    assert results[True][0] > 0.55
    assert results[True][0] > results[False][0] + 0.05
    assert results[True][1] > 0.80


def test_features_layout(model, speech):
    feats = P.phonetic_features(as_float(speech), model)
    assert feats.dtype == np.float32
    assert feats.shape == (P.n_phonetic_frames(len(speech)), P.N_PHONETIC_FEATURES) == (467, 41)
    assert P.PHONE_CLASSES[P.SIL] == "SIL" and len(P.PHONE_CLASSES) == 40
    np.testing.assert_allclose(feats[:, : P.LOUDNESS].sum(axis=1), 1.0, atol=1e-5)
    assert feats[:, P.LOUDNESS].min() >= P.LOUDNESS_FLOOR
    # the same audio always gives the same features (the dither is a fixed pattern)
    np.testing.assert_array_equal(feats, P.phonetic_features(as_float(speech), model))


# ---------------------------------------------------------------------------------------
# awkward input


def band_limit(x: np.ndarray, cutoff_hz: float = 4000.0) -> np.ndarray:
    """8-kHz telephone audio played back at 16 kHz: nothing above 4 kHz."""
    spectrum = np.fft.rfft(x)
    spectrum[int(cutoff_hz / 8000.0 * (len(spectrum) - 1)) :] = 0
    return np.fft.irfft(spectrum, len(x)).astype(np.float32)


def awkward(speech: np.ndarray) -> dict[str, np.ndarray]:
    x = as_float(speech)
    nan = x.copy()
    nan[::1000] = np.nan
    nan[500::1000] = np.inf
    t = np.arange(32000) / 16000.0
    return {
        "digital silence": np.zeros(32000, np.float32),
        "dc offset": x + 0.3,
        "clipped": np.clip(8 * x, -1, 1),
        "8 kHz band-limited": band_limit(x),
        "-60 dBFS": x * np.float32(1e-3 / np.abs(x).max()),
        "full-scale square wave": np.sign(np.sin(2 * np.pi * 200 * t)).astype(np.float32),
        "far beyond full scale": x * 1000,
        "nan and inf": nan,
        "one sample": x[6000:6001],
        "empty": x[:0],
    }


@pytest.mark.parametrize("smooth", [True, False])
def test_awkward_input_gives_finite_features(model, speech, smooth):
    for name, audio in awkward(speech).items():
        feats = P.phonetic_features(audio, model, smooth)
        assert feats.shape == (P.n_phonetic_frames(len(audio)), 41), name
        assert np.isfinite(feats).all(), name
        if len(feats):
            np.testing.assert_allclose(feats[:, :40].sum(axis=1), 1.0, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("smooth", [True, False])
def test_silence_is_sil(model, speech, smooth):
    silence = P.phonetic_features(np.zeros(32000, np.float32), model, smooth)
    assert (silence[:, :40].argmax(axis=1) == P.SIL).all()
    assert silence[:, P.SIL].min() > (0.9 if smooth else 0.1)  # per frame: flat, SIL on top
    # digital silence around speech (as synthesisers write it) is silence too
    pad = np.zeros(16000, np.float32)
    padded = P.phonetic_features(np.concatenate([pad, as_float(speech), pad]), model, smooth)
    inside = np.r_[10:90, len(padded) - 90 : len(padded) - 10]  # frames well inside the pads
    assert (padded[inside, :40].argmax(axis=1) == P.SIL).mean() > 0.95


def test_integer_samples_are_refused(model, speech):
    with pytest.raises(ValueError, match="float"):
        P.phonetic_features(speech, model)


# ---------------------------------------------------------------------------------------
# loudness


def test_loudness_follows_emphasis_not_gain(model, speech):
    x = as_float(speech)
    base = P.phonetic_features(x, model)
    speech_frames = base[:, P.SIL] < 0.5
    quieter = P.phonetic_features(x * 0.25, model)  # -12 dB: the same loudness channel
    diff = np.abs(quieter[:, P.LOUDNESS] - base[:, P.LOUDNESS])[speech_frames]
    assert diff.mean() < 0.2
    louder_end = x.copy()
    louder_end[len(x) // 2 :] *= 4  # +12 dB: 2.8 nats of power louder than the first half
    emphasised = P.phonetic_features(louder_end, model)
    second = np.arange(len(base)) >= len(base) // 2

    def gap(feats: np.ndarray) -> float:
        """Mean loudness of the second half's speech frames minus the first half's."""
        loud = feats[:, P.LOUDNESS]
        return loud[speech_frames & second].mean() - loud[speech_frames & ~second].mean()

    assert 2.0 < gap(emphasised) - gap(base) < 3.5


def test_loudness_switch_zeroes_only_that_channel(speech):
    """NetworkConfig.loudness False (the ablation network) feeds the encoder zeros in the
    loudness column and the same posteriors; the log-mel front end has no such channel."""
    x = as_float(speech)[: 3 * 16000]
    on = clip_features(x, NetworkConfig(front_end="phonetic"))
    off = clip_features(x, NetworkConfig(front_end="phonetic", loudness=False))
    assert np.abs(on[:, P.LOUDNESS]).max() > 0.1
    assert np.all(off[:, P.LOUDNESS] == 0)
    assert np.array_equal(np.delete(on, P.LOUDNESS, axis=1), np.delete(off, P.LOUDNESS, axis=1))
    mel = np.ones((4, 80), np.float32)
    assert switched_off(mel, NetworkConfig(loudness=False)) is mel and mel.min() == 1


# ---------------------------------------------------------------------------------------
# the vectorised recursions are the frame-by-frame ones


@pytest.mark.parametrize("n", [1, 2, 17, 400, 3000])
def test_noise_recursions_match_frame_loops(n):
    rng = np.random.default_rng(n)
    x = np.exp(rng.normal(10.0, 3.0, size=(n, 25)))
    start = x[0] / 20.0
    loop = P._envelope_loop(x, start, 0.995, 0.5)
    np.testing.assert_allclose(P.lower_envelope(x, start, 0.995, 0.5), loop, rtol=1e-12)
    # no passes at all: straight to the frame loop
    np.testing.assert_array_equal(P.lower_envelope(x, start, 0.995, 0.5, max_passes=0), loop)
    smooth_loop = P._envelope_loop(x, x[0], 0.7, 0.7)
    np.testing.assert_allclose(P.smooth(x, x[0], 0.7), smooth_loop, rtol=1e-12)
    peak, f = np.empty_like(x), np.zeros(25)
    for t in range(n):
        f = np.maximum(0.85 * f, x[t])
        peak[t] = f
    np.testing.assert_allclose(P.decaying_peak(x, 0.85), peak, rtol=1e-12)


def test_gmm_stride_scores_the_same_frames_exactly(model, speech):
    features = P.dynamic_features(P.batch_cmn(P.sphinx_cepstra(as_float(speech), model))[0])
    at = P.scored_frames(len(features), 3)
    assert at[0] == 0 and at[-1] == len(features) - 1 and np.all(np.diff(at) <= 3)
    every = P.senone_scores(features, model)
    some = P.interpolate_frames(P.senone_scores(features[at], model), at, len(features))
    np.testing.assert_allclose(some[at], every[at], atol=1e-4)
    middle = (at[:-1] + at[1:]) // 2
    assert np.abs(some[middle] - every[middle]).mean() < 3.0  # interpolated, not exact


def test_ffts_and_gaussians_on_two_threads_give_the_same_numbers(model, speech):
    mel = P.mel_power(as_float(speech), model, dither=True)
    assert np.array_equal(P.mel_power(as_float(speech), model, dither=True, workers=2), mel)
    features = P.dynamic_features(P.batch_cmn(P.sphinx_cepstra(as_float(speech), model))[0])
    one = P.senone_scores(features, model)
    assert np.array_equal(P.senone_scores(features, model, workers=2), one)
    feats = P.phonetic_features(as_float(speech), model, workers=2)
    assert np.array_equal(feats, P.phonetic_features(as_float(speech), model))


def reference_loop(scores, model, scale, penalty, at):
    """The phone loop's forward-backward, the textbook way: float64, normalised every step,
    the transition matrix to the power of each gap, trapezoid weights on the emissions."""
    m, step = len(scores), P.loop_matrix(model, penalty)
    gaps = np.diff(at)
    weights = (np.r_[1, gaps] + np.r_[gaps, 1]) / 2.0
    logp = scores.reshape(m, -1).astype(np.float64) * scale * weights[:, None]
    emit = np.exp(logp - logp.max(axis=1, keepdims=True))
    trans = [np.linalg.matrix_power(step, int(g)) for g in gaps]
    alpha, beta = np.zeros_like(emit), np.ones_like(emit)
    alpha[0, 0::3] = emit[0, 0::3]
    for t in range(1, m):
        alpha[t] = alpha[t - 1] @ trans[t - 1] * emit[t]
        alpha[t] /= alpha[t].sum()
    for t in range(m - 2, -1, -1):
        beta[t] = trans[t] @ (beta[t + 1] * emit[t + 1])
        beta[t] /= beta[t].sum()
    gamma = alpha * beta
    phones = (gamma / gamma.sum(axis=1, keepdims=True)).reshape(m, -1, 3).sum(axis=2)
    classes = np.zeros((m, 40))
    np.add.at(classes.T, model.phone_class, phones.T)
    return classes


@pytest.mark.parametrize(
    "scale, penalty, stride",
    [(0.3, 1.0, 1), (0.3, 1.0, 2), (0.3, 0.05, 3), (10.0, 1e-20, 1)],  # the last one
    # under/overflows float32: the float64 fallback
)
def test_loop_posteriors_match_textbook_forward_backward(model, speech, scale, penalty, stride):
    features = P.dynamic_features(P.batch_cmn(P.sphinx_cepstra(as_float(speech), model))[0])
    at = P.scored_frames(len(features), stride)
    scores = P.senone_scores(features[at], model)
    ours = P.loop_posteriors(scores, model, scale, penalty, at)
    np.testing.assert_allclose(ours, reference_loop(scores, model, scale, penalty, at), atol=1e-5)


# ---------------------------------------------------------------------------------------
# the asset and the runtime's dependencies


def test_asset_is_reproducible_and_small(tmp_path):
    first = build_acoustic_model(tmp_path / "a.npz").read_bytes()
    second = build_acoustic_model(tmp_path / "b.npz").read_bytes()
    assert first == second
    assert first == P.DEFAULT_MODEL.read_bytes()  # the committed asset is what the build makes
    assert len(first) < 2_000_000


def test_asset_contents(model):
    with np.load(P.DEFAULT_MODEL) as z:
        assert z["means"].dtype == np.float16 and z["means"].shape == (42, 3, 128, 13)
        assert z["mixw"].shape == (42, 3, 3, 128)
        assert z["senones"].ravel().tolist() == list(range(126))  # CI senones come first
        np.testing.assert_allclose(z["tmat"].sum(axis=2), 1.0, atol=1e-6)
        assert "pocketsphinx 5.1.1" in str(z["source"])
    assert [model.phones[i] for i in np.flatnonzero(model.phone_class == P.SIL)] == [
        "+NSN+",
        "+SPN+",
        "SIL",
    ]


def test_module_needs_numpy_only():
    """phonetic.py loaded on its own (no package, no relative imports) runs the whole front
    end without importing pocketsphinx, torch, librosa or scipy."""
    code = f"""
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("phonetic", {str(Path(P.__file__))!r})
mod = sys.modules["phonetic"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
feats = mod.phonetic_features(np.zeros(8000, np.float32), mod.load_acoustic_model())
assert feats.shape == (49, 41)
heavy = {{"pocketsphinx", "torch", "librosa", "scipy", "soundfile"}} & set(sys.modules)
assert not heavy, heavy
"""
    subprocess.run([sys.executable, "-c", code], check=True)
