"""Training on a tiny real corpus: both stages run, resume exactly, export to the numpy
runtime, and a 2-process torchrun follows the 1-process loss trajectory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.runtime.network import Animator
from core.runtime.network.weights import WeightsError
from core.train.config import ModelConfig
from core.train.export import (
    build_random,
    export_training_parts,
    export_weights,
    load_checkpoint,
    load_exported,
)
from core.train.loop import Budget, TrainConfig, _train_windows, refine, stage1, stage2, trim_log

ROOT = Path(__file__).resolve().parents[2]
# A small network, so a step takes milliseconds; the code paths are the full ones.
SMALL = {
    "audio_channels": 32,
    "audio_dilations": [2, 4],
    "audio_lookahead": 10,
    "expression_widths": [32, 16],
    "expression_dim": 16,
    "fusion_widths": [32, 32],
    "heads": 4,
    "categories": 8,
    "template_widths": [32, 16],
    "latent_dim": 16,
    "decoder_hidden": 16,
    "basis_size": 16,
    "prior_channels": 16,
}


def _config(tmp: Path, corpus: Path, run: str, model: dict | None = None, **train) -> Path:
    body = {
        "corpus": str(corpus),
        "run": str(tmp / run),
        "batch_size": 4,
        "stage1_frames": 8,
        "stage2_frames": 12,
        "stage1_iterations": 4,
        "stage2_iterations": 2,
        "log_every": 1,
        "checkpoint_every": 2,
        "val_windows": 4,
        "stats_windows": 8,
        "threads": 1,
    } | train
    lines = ["[model]"] + [f"{k} = {json.dumps(v)}" for k, v in (SMALL | (model or {})).items()]
    lines += ["[train]"] + [f"{k} = {json.dumps(v)}" for k, v in body.items()]
    path = tmp / f"{run}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(path: Path) -> tuple[ModelConfig, TrainConfig]:
    return ModelConfig.from_toml(path), TrainConfig.from_toml(path)


def _other_weights(tmp: Path, template) -> Path:
    """A weights file of another (random) network of the same config."""
    cfg = ModelConfig.from_dict(SMALL)
    out = tmp / "other.npz"
    export_weights(out, cfg, *build_random(cfg, template, seed=5), template)
    return out


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_two_stages_resume_and_export(tiny_corpus, tmp_path, template):
    cfg, tcfg = _run(_config(tmp_path, tiny_corpus, "a"))
    stage1(cfg, tcfg)
    stage2(cfg, tcfg)
    log = _log(Path(tcfg.run))
    assert [r["step"] for r in log if r["stage"] == 1] == [1, 2, 3, 4]
    assert all(np.isfinite(r["total"]) for r in log if r["stage"] == 1)
    assert "val_total" in log[3] and "val_ce" in log[-1]

    # Stopped after step 3 and resumed: the same weights as the uninterrupted run.
    _, tcfg_b = _run(_config(tmp_path, tiny_corpus, "b"))
    stage1(cfg, tcfg_b, Budget(stop_at=3))
    assert load_checkpoint(Path(tcfg_b.run) / "stage1.pt")[3]["step"] == 3
    stage1(cfg, tcfg_b)
    _, a, _, _ = load_checkpoint(Path(tcfg.run) / "stage1.pt")
    _, b, _, _ = load_checkpoint(Path(tcfg_b.run) / "stage1.pt")
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6, msg=name)

    cfg, model, prior, _ = load_checkpoint(Path(tcfg.run) / "stage1.pt")
    out = tmp_path / "w.npz"
    export_weights(out, cfg, model, prior, template)
    verts = Animator(out).animate(np.random.default_rng(0).normal(0, 0.1, 16000).astype("f4"))
    assert verts.shape == (30, template.n_vertices, 3) and np.isfinite(verts).all()


def test_voice_adversary_trains_and_resumes(tiny_corpus, tmp_path):
    """With voice_adversary_weight, stage 1 logs the voice classifier's cross-entropy and
    confusion on the training voices (not on validation's unheard ones), saves the classifier
    beside its optimiser, and a run stopped and resumed ends where the uninterrupted one does."""
    adversary = {"voice_adversary_weight": 5.0}
    cfg, tcfg = _run(_config(tmp_path, tiny_corpus, "adv", adversary))
    ds = _train_windows(tcfg, cfg, tcfg.stage1_frames, 2, seed=0)
    assert ds.voices == sorted(["espeak:en-us", "espeak:en+f2"])  # the training split's
    for i in range(4):
        item = ds[i]
        assert ds.voices[int(item["voice"])] == ds.sequences[int(item["sequence"])].job.voice
    stage1(cfg, tcfg)
    log = _log(Path(tcfg.run))
    assert all(np.isfinite([r["voice_ce"], r["voice_confusion"]]).all() for r in log)
    assert not any("val_voice_ce" in r for r in log) and "val_total" in log[-1]
    assert (Path(tcfg.run) / "stage1_adversary.pt").is_file()

    _, tcfg_b = _run(_config(tmp_path, tiny_corpus, "adv_b", adversary))
    stage1(cfg, tcfg_b, Budget(stop_at=2))
    stage1(cfg, tcfg_b)
    _, a, _, _ = load_checkpoint(Path(tcfg.run) / "stage1.pt")
    _, b, _, _ = load_checkpoint(Path(tcfg_b.run) / "stage1.pt")
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6, msg=name)
    assert [r["voice_ce"] for r in _log(Path(tcfg_b.run))] == pytest.approx(
        [r["voice_ce"] for r in log], rel=1e-5
    )

    # A refine takes the weight from its own config; switched on mid-refine: a clear error,
    # not a classifier silently started afresh.
    stage2(cfg, tcfg)
    plain = _config(tmp_path, tiny_corpus, "adv_r", refine_from=tcfg.run, refine_iterations=2)
    refine(*_run(plain), Budget(stop_at=1))
    switched = _config(
        tmp_path, tiny_corpus, "adv_r", adversary, refine_from=tcfg.run, refine_iterations=2
    )
    with pytest.raises(ValueError, match="switched on mid-run"):
        refine(*_run(switched.rename(tmp_path / "switched.toml")))


def test_refine_trains_the_decoder_alone(tiny_corpus, tmp_path):
    """refine: only the decoder changes (so the trained prior stays valid), with the lip-gap
    loss of its own config; a run whose stage 2 is not finished, or with a training-parts file
    (which only a weights file needs), is refused."""
    cfg, tcfg = _run(_config(tmp_path, tiny_corpus, "a"))
    stage1(cfg, tcfg)
    with pytest.raises(ValueError, match="finished stage 2"):
        refine(*_run(_config(tmp_path, tiny_corpus, "r0", refine_from=tcfg.run)))
    stage2(cfg, tcfg)
    with pytest.raises(ValueError, match="refine_parts: .* belongs with a weights file"):
        refine(
            *_run(_config(tmp_path, tiny_corpus, "rp", refine_from=tcfg.run, refine_parts="p.npz"))
        )
    path = _config(tmp_path, tiny_corpus, "r", refine_from=tcfg.run, refine_iterations=2)
    path.write_text(path.read_text().replace("[model]", "[model]\nlip_weight = 2.0"))
    rcfg, rtcfg = _run(path)
    refine(rcfg, rtcfg)
    _, before, prior_a, _ = load_checkpoint(Path(tcfg.run) / "stage1.pt")
    cfg_r, after, prior_r, extra = load_checkpoint(Path(rtcfg.run) / "stage1.pt")
    assert cfg_r.lip_weight == 2.0 and extra["refine_step"] == 2
    assert "lip" in _log(Path(rtcfg.run))[-1]
    changed = {
        name.split(".")[0]
        for (name, a), b in zip(
            before.state_dict().items(), after.state_dict().values(), strict=True
        )
        if not torch.equal(a, b)
    }
    assert changed == {"decoder"}
    for a, b in zip(prior_a.state_dict().values(), prior_r.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert extra["prior_step"] == 2  # the prior is still valid

    # With the encoders refined too, the codes change: stage 2 has to run again.
    path = _config(
        tmp_path,
        tiny_corpus,
        "all",
        refine_from=tcfg.run,
        refine_iterations=1,
        refine_modules=["audio_encoder", "expression_encoder", "fusion", "decoder"],
    )
    refine(*_run(path))
    extra = load_checkpoint(tmp_path / "all" / "stage1.pt")[3]
    assert "prior_step" not in extra and extra["refine_step"] == 1

    # Finished (refine, then its prior): running both again, as `make train` does, is a no-op.
    stage2(*_run(path))
    finished = (tmp_path / "all" / "stage1.pt").read_bytes()
    extra = load_checkpoint(tmp_path / "all" / "stage1.pt")[3]
    assert extra["refine_step"] == 1 and extra["prior_step"] == 2
    refine(*_run(path))
    stage2(*_run(path))
    assert (tmp_path / "all" / "stage1.pt").read_bytes() == finished

    # A refined run refined again starts at its own step 0, with its own loss weights (and
    # warped training mels).
    path = _config(
        tmp_path, tiny_corpus, "again", refine_from=rtcfg.run, refine_iterations=1, mel_warp=0.1
    )
    model_keys = "[model]\nlip_weight = 1.0\nseal_weight = 4.0\nlip_vertex_weight = 2.0"
    path.write_text(path.read_text().replace("[model]", model_keys))
    refine(*_run(path))
    cfg_a, _, _, extra = load_checkpoint(tmp_path / "again" / "stage1.pt")
    assert extra["refine_step"] == 1 and extra["refined_from"] == str(Path(rtcfg.run) / "stage1.pt")
    assert cfg_a.seal_weight == 4.0 and cfg_a.lip_vertex_weight == 2.0
    assert "lipv" in _log(tmp_path / "again")[-1] and _log(tmp_path / "again")[-1]["step"] == 1


def test_refine_from_a_weights_file(tiny_corpus, tmp_path, template):
    """A machine without the training runs refines the exported network: its audio encoder,
    decoder and prior come from the file, the expression encoder and fusion start afresh and
    must train; stage 2 waits for the refine, then refits the prior."""
    cfg, tcfg = _run(_config(tmp_path, tiny_corpus, "a"))
    stage1(cfg, tcfg)
    stage2(cfg, tcfg)
    weights = tmp_path / "w.npz"
    export_weights(weights, *load_checkpoint(Path(tcfg.run) / "stage1.pt")[:3], template)
    frozen = _config(tmp_path, tiny_corpus, "frozen", refine_from=str(weights), refine_iterations=1)
    with pytest.raises(ValueError, match=r"holds no expression_encoder or fusion"):
        refine(*_run(frozen))
    modules = ["expression_encoder", "fusion"]
    path = _config(
        tmp_path,
        tiny_corpus,
        "w",
        refine_from=str(weights),
        refine_iterations=2,
        refine_modules=modules,
    )
    refine(*_run(path), Budget(stop_at=1))
    with pytest.raises(ValueError, match="refine of .* is not finished"):
        stage2(*_run(path))
    refine(*_run(path))
    stage2(*_run(path))
    _, exported, exported_prior = load_exported(weights)
    _, model, prior, extra = load_checkpoint(tmp_path / "w" / "stage1.pt")
    assert extra["refine_step"] == 2 and extra["prior_step"] == 2
    assert extra["refined_from"] == str(weights)
    for name, a in exported.state_dict().items():
        same = torch.equal(a, model.state_dict()[name])
        assert same == (name.split(".")[0] not in modules), name
    changed = [
        n
        for n, a in exported_prior.state_dict().items()
        if not torch.equal(a, prior.state_dict()[n])
    ]
    assert changed  # refitted to the new codes

    # With its training-parts file the whole stage-1 network comes back, so a refine of the
    # decoder alone may start from the file, and the file's prior still fits its codes.
    parts = tmp_path / "w_training.npz"
    _, trained, _, _ = load_checkpoint(Path(tcfg.run) / "stage1.pt")
    export_training_parts(parts, trained, weights)
    _, restored, _ = load_exported(weights, parts)
    for name, a in trained.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[name], a, rtol=1e-3, atol=1e-3, msg=name)
    decoder = _config(
        tmp_path,
        tiny_corpus,
        "d",
        refine_from=str(weights),
        refine_parts=str(parts),
        refine_iterations=1,
    )
    refine(*_run(decoder))
    assert load_checkpoint(tmp_path / "d" / "stage1.pt")[3]["prior_step"] == 2
    with pytest.raises(WeightsError, match="another weights file"):
        load_exported(_other_weights(tmp_path, template), parts)


def test_refine_switches_on_utterance_centring(tiny_corpus, tmp_path):
    """A refine may centre the input (`mel_centring`): the audio encoder must train, and the
    input statistics are measured again on the centred windows; the export carries it."""
    cfg, tcfg = _run(_config(tmp_path, tiny_corpus, "a"))
    stage1(cfg, tcfg)
    stage2(cfg, tcfg)

    def centred(run: str, modules: list[str]) -> Path:
        path = _config(
            tmp_path,
            tiny_corpus,
            run,
            refine_from=tcfg.run,
            refine_iterations=1,
            refine_modules=modules,
        )
        path.write_text(path.read_text().replace("[model]", '[model]\nmel_centring = "utterance"'))
        return path

    with pytest.raises(ValueError, match="add 'audio_encoder' to refine_modules"):
        refine(*_run(centred("frozen", ["decoder"])))
    path = centred("c", ["audio_encoder", "decoder"])
    refine(*_run(path))
    stage2(*_run(path))
    _, before, _, _ = load_checkpoint(Path(tcfg.run) / "stage1.pt")
    cfg_c, after, prior, extra = load_checkpoint(tmp_path / "c" / "stage1.pt")
    assert cfg_c.mel_centring == "utterance" and extra["prior_step"] == 2
    mean_a, mean_b = before.audio_encoder.mel_mean, after.audio_encoder.mel_mean
    assert (mean_b - mean_a).abs().mean() > 1.0  # centred log-mels sit near 0, not near -4
    out = tmp_path / "c.npz"
    export_weights(out, cfg_c, after, prior)
    assert Animator(out).config.mel_centring == "utterance"


def test_refine_without_steps_refits_only_the_prior(tiny_corpus, tmp_path):
    """refine_iterations = 0 (a new corpus for the prior): stage 1 is copied as it is, the
    prior trains again, warm-started, and a second run of both changes nothing."""
    cfg, tcfg = _run(_config(tmp_path, tiny_corpus, "a"))
    stage1(cfg, tcfg)
    stage2(cfg, tcfg)
    path = _config(tmp_path, tiny_corpus, "prior", refine_from=tcfg.run, refine_iterations=0)
    refine(*_run(path))
    _, before, prior_a, _ = load_checkpoint(Path(tcfg.run) / "stage1.pt")
    _, copied, _, extra = load_checkpoint(tmp_path / "prior" / "stage1.pt")
    assert "prior_step" not in extra
    for a, b in zip(before.state_dict().values(), copied.state_dict().values(), strict=True):
        assert torch.equal(a, b)

    stage2(*_run(path))
    _, after, prior_r, extra = load_checkpoint(tmp_path / "prior" / "stage1.pt")
    assert extra["prior_step"] == 2
    assert any(
        not torch.equal(a, b)
        for a, b in zip(prior_a.state_dict().values(), prior_r.state_dict().values(), strict=True)
    )
    for a, b in zip(before.state_dict().values(), after.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    finished = (tmp_path / "prior" / "stage1.pt").read_bytes()
    refine(*_run(path))
    stage2(*_run(path))
    assert (tmp_path / "prior" / "stage1.pt").read_bytes() == finished


@pytest.mark.skipif(sys.platform != "linux", reason="gloo on loopback")
def test_torchrun_two_processes_match_one(tiny_corpus, tmp_path):
    """Same global batch on 1 and on 2 processes: the same losses, step by step."""
    logs = []
    for n in (1, 2):
        path = _config(tmp_path, tiny_corpus, f"p{n}", stage1_iterations=3, checkpoint_every=3)
        torchrun = Path(sys.executable).with_name("torchrun")
        cmd = [
            str(torchrun),
            f"--nproc_per_node={n}",
            "--master_port",
            str(29500 + n),
            "-m",
            "core.train",
            "stage1",
            "--config",
            str(path),
        ]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
        logs.append(_log(tmp_path / f"p{n}"))
    for one, two in zip(*logs, strict=True):
        for key in ("mouth", "upper", "eyelid", "total"):
            assert two[key] == pytest.approx(one[key], rel=1e-4), (one["step"], key)


def test_resume_forgets_steps_logged_after_the_checkpoint(tmp_path):
    records = [{"stage": s, "step": k} for s in (1, 2) for k in range(1, 6)]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    trim_log(tmp_path, 1, 3)  # a killed stage-1 run whose last checkpoint was step 3
    left = [(r["stage"], r["step"]) for r in _log(tmp_path)]
    assert left == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3), (2, 4), (2, 5)]


def test_the_recipe_front_end_trains_with_a_curriculum_and_exports(tiny_corpus, tmp_path, template):
    """The phonetic front end through the whole chain: per-split feature caches built from
    the corpus audio by the runtime's own front end, stage 1 with the lip losses joining at
    a step, stage 2, export, and the numpy runtime animating with the exported file."""
    from core.data.features import FeatureStore
    from core.runtime.audio.features import clip_features

    model = {"front_end": "phonetic", "lip_weight": 0.5, "seal_weight": 4.0}
    path = _config(tmp_path, tiny_corpus, "phonetic", model, lip_losses_from=2)
    cfg, tcfg = _run(path)
    stage1(cfg, tcfg)
    stage2(cfg, tcfg)
    log = [r for r in _log(Path(tcfg.run)) if r["stage"] == 1]
    assert all(np.isfinite(r["total"]) for r in log)
    assert log[0].get("lip", 0.0) == 0.0 and log[-1]["lip"] > 0  # joined at step 2

    from core.data.corpus import load_split

    seqs = load_split(tiny_corpus, "train")
    store = FeatureStore(tiny_corpus / "cache", "train", seqs, cfg)
    direct = clip_features(seqs[0].audio.astype(np.float32) / 32768.0, cfg)
    np.testing.assert_allclose(store.window(0, 0, len(direct)), direct, atol=2e-3)

    _, net, prior, _ = load_checkpoint(Path(tcfg.run) / "stage1.pt")
    out = tmp_path / "phonetic.npz"
    export_weights(out, cfg, net, prior, template)
    anim = Animator(out)
    assert anim.config.front_end == "phonetic"
    speech = seqs[0].audio.astype(np.float32) / 32768.0
    verts = anim.animate(speech)
    assert verts.shape[1:] == (template.n_vertices, 3) and np.isfinite(verts).all()
