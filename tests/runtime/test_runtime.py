"""core.runtime vs core.model: parity of every stage, sampling, chunking, bad files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from core.runtime.audio import logmel, resampling
from core.runtime.audio.features import clip_features
from core.runtime.audio.samples import AudioError
from core.runtime.network import (
    Animator,
    WeightsError,
    WeightsFileError,
    WeightsFormatError,
    WeightsMismatchError,
)
from core.runtime.network.layers import gumbel_noise
from core.runtime.network.temperature import frame_temperatures, pause_weights
from core.runtime.network.weights import META_KEY, load_weights, read_config
from core.runtime.npzio import save_npz
from core.runtime.template import load_template
from core.train.export import build_random, export_weights, load_exported, main, save_checkpoint
from core.train.model import codes_to_onehot

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """Max abs difference relative to the reference's max magnitude."""
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A random network exported in float32 and float16 (the default), the same centring
    each clip's log-mel, and the trained, committed network (float16) the add-on bundles."""
    from core.train.config import ModelConfig

    cfg = ModelConfig()
    model, prior = build_random(cfg, seed=0)
    out = tmp_path_factory.mktemp("weights")
    paths = {"float32": out / "f32.npz", "float16": out / "f16.npz"}
    for dtype, path in paths.items():
        export_weights(path, cfg, model, prior, dtype=dtype, max_bytes=None)
    centred = ModelConfig(mel_centring="utterance")  # the same network, centring its input
    paths["centred"] = out / "centred.npz"
    export_weights(paths["centred"], centred, model, prior, dtype="float32", max_bytes=None)
    return {**paths, "trained": ROOT / "core" / "runtime" / "assets" / "meshtalk.npz"}


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """~2.3 s of speech-like audio: voiced harmonics with a moving pitch and envelope."""
    sr = 16000
    t = np.arange(int(2.3 * sr)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    noise = np.random.default_rng(0).standard_normal(len(t)) * 0.02
    return (0.2 * voiced * envelope + noise).astype(np.float32)


def reference_features(audio: np.ndarray, cfg) -> tuple[torch.Tensor, int]:
    """The file's own front end for torch, and the first video frame's index in it. The
    phonetic front end is trained on windows cut from whole clips' features, the first and
    last frame repeated past the ends (the runtime does the same): as many whole video frames
    of them each side as cover the encoder's half context."""
    feats = clip_features(audio, cfg)
    if cfg.front_end == "logmel":  # trained with the encoder's zero padding at the ends
        return torch.from_numpy(feats)[None], 0
    start = math.ceil(cfg.audio_half_context / cfg.mel_fps * cfg.fps)
    pad = round(start / cfg.fps * cfg.mel_fps)
    return torch.from_numpy(np.pad(feats, ((pad, pad), (0, 0)), mode="edge"))[None], start


def torch_reference(path: Path, audio: np.ndarray, seed: int, temperature: float):
    """The torch pipeline on a file's weights: (audio features, codes, offsets)."""
    cfg, model, prior = load_exported(path)
    meta = load_weights(path).meta  # the file's calibration, in speech and in pauses
    scales = meta.get("temperature_scale", 1.0), meta.get("pause_temperature_scale")
    template = load_template().vertices
    n = logmel.n_video_frames(len(audio))
    temperatures = frame_temperatures(clip_features(audio, cfg), n, cfg, temperature, *scales)
    with torch.no_grad():
        mel, start = reference_features(audio, cfg)
        feats = model.encode_audio(mel, n, start)[0]
        codes = prior.sample(feats, seed=seed, temperature=temperatures)
        onehot = codes_to_onehot(codes[None], cfg)
        offsets = model.decode(torch.from_numpy(template)[None], onehot)[0]
    return feats.numpy(), codes.numpy(), offsets.numpy() + template


# ---------------------------------------------------------------------------- parity


@pytest.mark.parametrize("dtype", ["float32", "float16", "trained"])
def test_stage_parity_with_torch(files, speech, dtype):
    anim = Animator(files[dtype])
    cfg, model, prior = load_exported(files[dtype])
    n = logmel.n_video_frames(len(speech))
    with torch.no_grad():
        mel, start = reference_features(speech, cfg)
        feats_t = model.encode_audio(mel, n, start)[0].numpy()
    feats_n = anim.audio_features(speech)
    assert feats_n.shape == (n, cfg.audio_channels)
    assert rel_err(feats_n, feats_t) < 1e-4

    codes = np.random.default_rng(1).integers(0, cfg.categories, (n, cfg.heads))
    with torch.no_grad():
        logits_t = prior(torch.from_numpy(codes)[None], torch.from_numpy(feats_t)[None])[0]
    logits_n = anim.prior.teacher_forced_logits(codes, feats_n)
    assert rel_err(logits_n, logits_t.numpy()) < 1e-4

    template = load_template()
    ident = template.vertices + 0.3 * load_identity_delta()
    with torch.no_grad():
        onehot = codes_to_onehot(torch.from_numpy(codes)[None], cfg)
        off_t = model.decode(torch.from_numpy(ident)[None], onehot)[0].numpy()
    off_n = anim.decode_codes(codes, ident)
    assert off_n.shape == (n, cfg.n_vertices, 3)
    assert rel_err(off_n, off_t) < 1e-4


def load_identity_delta() -> np.ndarray:
    from core.data.identities import load_identity_targets

    names, deltas = load_identity_targets()
    return deltas[names.index(next(n for n in names if n.startswith("nose/")))]


@pytest.mark.parametrize("weights", ["float16", "trained"])
def test_sampling_parity_and_end_to_end(files, speech, weights):
    anim = Animator(files[weights])
    for seed, temperature in ((0, 1.0), (5, 0.5), (0, 0.0)):
        feats_t, codes_t, verts_t = torch_reference(files[weights], speech, seed, temperature)
        coeffs, codes_n = anim.coefficients(speech, seed=seed, temperature=temperature)
        assert np.array_equal(codes_n, codes_t), (seed, temperature)  # identical codes
        verts_n = anim.animate(speech, seed=seed, temperature=temperature)
        assert verts_n.shape == verts_t.shape and verts_n.dtype == np.float32
        offsets_t = verts_t - anim.default_template
        assert rel_err(verts_n - anim.default_template, offsets_t) < 1e-4
    assert not np.array_equal(anim.sample_codes(speech, seed=1), anim.sample_codes(speech, seed=2))
    # a higher temperature spreads the codes over more categories
    hot, cold = anim.sample_codes(speech, temperature=2.0), anim.sample_codes(speech, temperature=0)
    assert len(np.unique(hot)) >= len(np.unique(cold))


def test_pauses_sample_at_their_own_temperature(files, tmp_path):
    """A file with a pause scale samples each frame between the speech scale (speech) and
    the pause scale (the half second around the frame is silence): pocketsphinx's SIL
    posterior tells them apart on speech with two seconds of digital silence inside."""
    from core.runtime.audio.decode import load_audio

    line = load_audio(ROOT / "demo" / "speech.wav")[: 3 * 16000]
    audio = np.concatenate([line, np.zeros(2 * 16000, np.float32), line])
    anim = Animator(files["trained"])
    cfg = anim.config
    n = logmel.n_video_frames(len(audio))
    feats = clip_features(audio, cfg)
    weight = pause_weights(feats, n, cfg)
    fps = cfg.fps
    assert weight[int(3.5 * fps) : int(4.5 * fps)].min() > 0.9  # inside the pause
    assert weight[int(0.5 * fps) : int(2.5 * fps)].mean() < 0.3  # speaking
    assert frame_temperatures(feats, n, cfg, 0.5, 1.2, None) == pytest.approx(0.6)
    temps = frame_temperatures(feats, n, cfg, 0.5, 1.6, 1.0)
    np.testing.assert_allclose(temps, 0.5 * (1.6 - 0.6 * weight), rtol=1e-6)
    cfg_, model, prior = load_exported(files["trained"])
    both = tmp_path / "both.npz"
    export_weights(
        both, cfg_, model, prior, max_bytes=None, temperature_scale=1.6, pause_temperature_scale=1
    )
    two = Animator(both)
    assert (two.temperature_scale, two.pause_temperature_scale) == (1.6, 1.0)
    _, codes_t, _ = torch_reference(both, audio[: 16000 * 4], seed=3, temperature=1.0)
    assert np.array_equal(two.sample_codes(audio[: 16000 * 4], seed=3), codes_t)
    whole, _ = two.coefficients(audio, seed=3)  # chunks read their slice of the temperatures
    np.testing.assert_array_equal(two.coefficients(audio, seed=3, chunk_frames=37)[0], whole)
    with pytest.raises(ValueError, match="pause_temperature_scale"):
        export_weights(tmp_path / "x.npz", cfg_, model, prior, pause_temperature_scale=-1)


def test_temperature_scale_of_the_file(files, speech, tmp_path):
    """A file exported with temperature_scale s samples at s x the caller's temperature."""
    cfg, model, prior = load_exported(files["float32"])
    scaled = tmp_path / "scaled.npz"
    export_weights(scaled, cfg, model, prior, dtype="float32", max_bytes=None, temperature_scale=2)
    plain, hot = Animator(files["float32"]), Animator(scaled)
    assert hot.temperature_scale == 2.0 and plain.temperature_scale == 1.0
    assert np.array_equal(hot.sample_codes(speech, 3, 0.5), plain.sample_codes(speech, 3, 1.0))
    assert np.array_equal(hot.sample_codes(speech, 3, 0.0), plain.sample_codes(speech, 3, 0.0))
    with pytest.raises(ValueError, match="temperature_scale"):
        export_weights(tmp_path / "x.npz", cfg, model, prior, temperature_scale=0)


def test_utterance_centring(files, speech):
    """mel_centring = "utterance": the encoder reads each frame minus the whole clip's speech
    mean, in one shot and in chunks alike, so a quieter or louder take animates the same."""
    anim, plain = Animator(files["centred"]), Animator(files["float32"])
    feats, codes, _ = torch_reference(files["centred"], speech, seed=2, temperature=1.0)
    assert rel_err(anim.audio_features(speech), feats) < 1e-4
    assert rel_err(plain.audio_features(speech), feats) > 1e-2  # the centring is not a no-op
    audio = np.concatenate([speech] * 3)
    c_one, k_one = anim.coefficients(audio, seed=3, chunk_frames=10_000)
    c, k = anim.coefficients(audio, seed=3, chunk_frames=7)
    assert np.array_equal(k, k_one) and np.abs(c - c_one).max() <= 1e-5 * np.abs(c_one).max()
    quiet = speech * 0.25  # log-mel 2.77 lower in every band, where the speech is far over eps
    assert rel_err(anim.audio_features(quiet), anim.audio_features(speech)) < 1e-3
    assert rel_err(plain.audio_features(quiet), plain.audio_features(speech)) > 1e-2


def test_long_audio_chunks_equal_one_shot(files, speech):
    anim = Animator(files["float16"])
    audio = np.concatenate([speech] * 4)  # ~9 s, 276 frames
    one = anim.animate(audio, seed=3, chunk_frames=10_000)
    c_one, k_one = anim.coefficients(audio, seed=3, chunk_frames=10_000)
    for chunk in (5, 64):
        c, k = anim.coefficients(audio, seed=3, chunk_frames=chunk)
        assert np.array_equal(k, k_one), chunk
        assert np.abs(c - c_one).max() <= 1e-5 * np.abs(c_one).max()
    chunked = anim.animate(audio, seed=3, chunk_frames=41)
    assert np.abs(chunked - one).max() < 1e-5 * np.abs(one - anim.default_template).max()
    pieces = list(anim.iter_animate(audio, seed=3, chunk_frames=64))
    assert [s for s, _ in pieces] == list(range(0, len(one), 64))
    assert np.abs(np.concatenate([p for _, p in pieces]) - one).max() < 1e-7


def test_overlapped_chunks_equal_sequential(files, speech):
    """The worker thread changes when things run, never what they compute; a consumer that
    stops early leaves no thread behind."""
    import threading

    audio = np.concatenate([speech] * 3)
    seq, par = Animator(files["float16"], overlap=False), Animator(files["float16"])
    assert par.overlap and not seq.overlap
    for chunk in (16, 50, 10_000):
        assert np.array_equal(par.animate(audio, seed=2, chunk_frames=chunk),
                              seq.animate(audio, seed=2, chunk_frames=chunk))  # fmt: skip
        c_par, k_par = par.coefficients(audio, seed=2, chunk_frames=chunk)
        c_seq, k_seq = seq.coefficients(audio, seed=2, chunk_frames=chunk)
        assert np.array_equal(k_par, k_seq) and np.array_equal(c_par, c_seq)
    pieces = [(s, v.copy()) for s, v in par.iter_animate(audio, seed=2, chunk_frames=16)]
    expected = list(seq.iter_animate(audio, seed=2, chunk_frames=16))
    assert [s for s, _ in pieces] == [s for s, _ in expected]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(pieces, expected, strict=True))
    gen = par.iter_animate(audio, chunk_frames=16)
    next(gen)
    gen.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("meshtalk-runtime")]


def test_logit_offsets_are_the_gumbel_noise_sample_adds(files):
    """The fused noise (three passes) draws and adds exactly what gumbel_noise + sample do."""
    anim = Animator(files["float16"])
    for temperature in (1.0, 0.37):
        fused = anim.prior.logit_offsets(np.random.default_rng(5), 40, temperature)
        noise = gumbel_noise(np.random.default_rng(5), 40, anim.config)
        plain = noise.reshape(40, -1) * np.float32(temperature) + anim.prior.out_b
        assert fused.tobytes() == plain.tobytes()
    assert np.array_equal(anim.prior.logit_offsets(None, 3, 1.0), np.tile(anim.prior.out_b, (3, 1)))


def test_the_config_alone_is_the_files_config(files):
    for path in files.values():
        assert read_config(path) == load_weights(path).config


# ---------------------------------------------------------------------------- API


def test_animate_api(files, speech):
    anim = Animator(files["float16"], n_vertices=5084)
    template = load_template()
    verts = anim.animate(speech, template.vertices, seed=0)
    assert verts.shape == (logmel.n_video_frames(len(speech)), 5084, 3) and anim.fps == 30
    moved = np.abs(verts - template.vertices).max(axis=(0, 2))
    assert moved[template.region("mouth")].max() > 1e-4
    # lips only: the upper face stays exactly at rest, the mouth moves as before
    lips = anim.animate(speech, template.vertices, seed=0, lips_only=True)
    upper, mouth = template.region("upper_face"), template.region("mouth")
    assert np.array_equal(
        lips[:, upper], np.broadcast_to(template.vertices[upper], lips[:, upper].shape)
    )
    np.testing.assert_allclose(lips[:, mouth], verts[:, mouth], atol=1e-7)
    # other sample rates and integer stereo are converted when the rate is given
    stereo = np.round(np.stack([speech, speech], 1) * 20000).astype(np.int16)
    resampled = resampling.resample(np.repeat(speech, 3), 48000, 16000)  # crude 48 kHz version
    v48 = anim.animate(np.repeat(stereo, 3, axis=0), sample_rate=48000, temperature=0)
    v16 = anim.animate(resampled.astype(np.float32) * (20000 / 32768), temperature=0)
    assert v48.shape == v16.shape and np.abs(v48 - v16).max() < 1e-3
    mean, basis = anim.shape_basis()
    coeffs, _ = anim.coefficients(speech, seed=0)
    np.testing.assert_allclose(
        mean + np.einsum("tk,kvc->tvc", coeffs, basis), verts - template.vertices, atol=1e-6
    )
    for n_samples, n_frames in ((1, 1), (1600, 3), (533, 1), (534, 2)):  # very short clips
        short = anim.animate(speech[:n_samples])
        assert short.shape == (n_frames, 5084, 3) and np.isfinite(short).all()
    with pytest.raises(AudioError, match="empty"):
        anim.animate(np.zeros(0, np.float32))
    with pytest.raises(AudioError, match="mono float"):
        anim.animate(stereo)
    with pytest.raises(WeightsMismatchError, match="5084"):
        anim.animate(speech, np.zeros((4000, 3), np.float32))
    with pytest.raises(WeightsMismatchError, match="4000"):
        Animator(files["float16"], n_vertices=4000)


def test_file_size_and_runtime_imports(files):
    """Every module of the runtime package imports with numpy alone (what Blender has)."""
    assert files["float16"].stat().st_size <= 25 * 2**20
    code = (
        "import sys, pkgutil, importlib, numpy as np, core.runtime; "
        "[importlib.import_module(m.name) for m in "
        "pkgutil.walk_packages(core.runtime.__path__, 'core.runtime.') "
        "if not m.name.endswith('__main__')]; "
        "bad = {'torch', 'scipy', 'librosa', 'soundfile', 'bpy'} & set(sys.modules); "
        "assert not bad, bad; "
        "from core.runtime.network import Animator; "
        f"a = Animator({str(files['float16'])!r}); "
        "print(a.animate(np.zeros(8000, np.float32)).shape)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "(15, 5084, 3)"


# ---------------------------------------------------------------------------- bad files


def _rewrite(src: Path, dst: Path, change) -> Path:
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    save_npz(dst, arrays, compress=False)
    return dst


def _set_meta(arrays: dict, **updates) -> None:
    meta = json.loads(str(arrays[META_KEY].reshape(-1)[0]))
    meta.update(updates)
    arrays[META_KEY] = np.array(json.dumps(meta))


def test_bad_weights_files(files, tmp_path):
    good = files["float16"]
    raw = good.read_bytes()
    cases: list[tuple[Path, type, str]] = [
        (tmp_path / "missing.npz", WeightsFileError, "not found")
    ]
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    cases.append((truncated, WeightsFileError, "truncated or corrupted"))
    corrupted = tmp_path / "corrupted.npz"
    flipped = bytearray(raw)
    with zipfile.ZipFile(good) as zf:  # flip bytes inside the largest member's data
        info = max(zf.infolist(), key=lambda i: i.compress_size)
    mid = info.header_offset + 100 + info.compress_size // 2
    flipped[mid : mid + 64] = bytes(b ^ 0xFF for b in flipped[mid : mid + 64])
    corrupted.write_bytes(bytes(flipped))
    cases.append((corrupted, WeightsFileError, "truncated or corrupted"))
    text = tmp_path / "text.npz"
    text.write_text("hello")
    cases.append((text, WeightsFileError, "corrupted"))
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    cases.append((plain, WeightsFormatError, "not a MeshTalk weights file"))
    version = _rewrite(good, tmp_path / "v99.npz", lambda a: _set_meta(a, version=99))
    cases.append((version, WeightsFormatError, "version 99"))
    other = _rewrite(good, tmp_path / "fmt.npz", lambda a: _set_meta(a, format="other"))
    cases.append((other, WeightsFormatError, "not a meshtalk-weights"))

    def fewer_vertices(a):
        meta = json.loads(str(a[META_KEY].reshape(-1)[0]))
        meta["config"]["n_vertices"] = 4000
        a[META_KEY] = np.array(json.dumps(meta))

    cases.append(
        (_rewrite(good, tmp_path / "v.npz", fewer_vertices), WeightsMismatchError, "shape")
    )
    missing = _rewrite(good, tmp_path / "m.npz", lambda a: a.pop("prior.out.weight"))
    cases.append((missing, WeightsMismatchError, "missing"))

    def nan(a):
        a["prior.out.bias"] = a["prior.out.bias"].copy()
        a["prior.out.bias"][3] = np.nan

    cases.append((_rewrite(good, tmp_path / "nan.npz", nan), WeightsFileError, "NaN"))
    for path, error, message in cases:
        with pytest.raises(error, match=message):
            Animator(path)
        assert issubclass(error, WeightsError)


def test_export_cli_from_checkpoint(files, tmp_path):
    """save_checkpoint -> python -m core.train.export --checkpoint -> the same network."""
    cfg, model, prior = load_exported(files["float32"])
    ckpt = tmp_path / "ckpt.pt"
    save_checkpoint(ckpt, cfg, model, prior, step=123)
    out, parts = tmp_path / "exported.npz", tmp_path / "exported_training.npz"
    args = ["--checkpoint", str(ckpt), "--out", str(out), "--training-parts", str(parts)]
    assert main(args) == 0
    _, restored, _ = load_exported(out, parts)  # the expression encoder and fusion too
    for name, value in model.expression_encoder.state_dict().items():
        torch.testing.assert_close(
            restored.expression_encoder.state_dict()[name], value, rtol=1e-3, atol=1e-3
        )
    # Re-exported from the file and its parts (another scale): the same arrays and parts.
    again, again_parts = tmp_path / "again.npz", tmp_path / "again_training.npz"
    args = ["--weights", str(out), "--parts", str(parts), "--out", str(again)]
    assert main([*args, "--training-parts", str(again_parts), "--temperature-scale", "1.6"]) == 0
    assert Animator(again).temperature_scale == 1.6
    for name, arr in Animator(out).weights.arrays.items():
        np.testing.assert_array_equal(Animator(again).weights[name], arr, err_msg=name)
    with np.load(parts) as p0, np.load(again_parts) as p1:
        assert all(np.array_equal(p0[k], p1[k]) for k in p0.files if k != "__meta__")
    no_parts = ["--weights", str(out), "--out", str(again), "--training-parts", str(again_parts)]
    assert main(no_parts) == 1  # parts of a fresh expression encoder would be meaningless
    a, b = Animator(out), Animator(files["float16"])
    assert a.weights.meta["provenance"]["step"] == 123
    source = a.weights.meta["provenance"]["source"]  # run folder and name, no machine's path
    assert not Path(source).is_absolute() and source.endswith(".pt") and source.count("/") == 1
    assert a.weights.meta["version"] == 2 and a.weights.meta["dtype"] == "float16"
    for name, arr in b.weights.arrays.items():
        np.testing.assert_array_equal(a.weights[name], arr, err_msg=name)
    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(out)]) == 1


def test_a_newer_file_with_an_unknown_setting_loads_with_a_warning(files, tmp_path):
    """Readers ignore settings they do not know (a newer exporter's), with a warning."""

    def add_key(arrays: dict) -> None:
        meta = json.loads(str(arrays[META_KEY].reshape(-1)[0]))
        _set_meta(arrays, config={**meta["config"], "future_front_end_knob": 3})

    path = _rewrite(files["float32"], tmp_path / "newer.npz", add_key)
    with pytest.warns(UserWarning, match="future_front_end_knob"):
        weights = load_weights(path)
    assert not hasattr(weights.config, "future_front_end_knob")
    assert "lip_weight" not in json.loads(str(np.load(files["float32"])[META_KEY]))["config"]


def test_parity_with_torch_through_the_phonetic_front_end(tmp_path):
    """The phonetic front end (posteriorgram + loudness): the runtime's encoder outputs equal
    torch's on the same clip features, edges included (both repeat the clip's first and last
    frame past its ends: training windows reach 1 s past a sequence, 30 video frames)."""
    from core.runtime.audio import read_audio
    from core.runtime.audio.decode import prepare_audio
    from core.runtime.audio.features import clip_features
    from core.train.config import ModelConfig

    cfg = ModelConfig(front_end="phonetic", heads=4, categories=8, basis_size=16)
    model, prior = build_random(cfg, seed=3)
    path = tmp_path / "phonetic.npz"
    export_weights(path, cfg, model, prior, dtype="float32", max_bytes=None)
    speech = prepare_audio(*read_audio(ROOT / "demo" / "speech.wav"), 16000)
    anim = Animator(path)
    feats = clip_features(speech, anim.config)
    assert feats.shape[1] == 41 and np.isfinite(feats).all()
    n = logmel.n_video_frames(len(speech))
    padded = np.pad(feats, ((100, 100), (0, 0)), mode="edge")  # 1 s = 30 video frames
    with torch.no_grad():
        feats_t = model.encode_audio(torch.from_numpy(padded)[None], n, start=30)[0].numpy()
    feats_n = anim.audio_features(speech)
    assert feats_n.shape == (n, cfg.audio_channels)
    assert rel_err(feats_n, feats_t) < 1e-4
