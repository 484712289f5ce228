"""core.model / core.losses / core.config: shapes, gradients, masks, causality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.data.identities import load_identity_targets
from core.runtime.metrics import lip_gap, mouth_corners
from core.runtime.template import load_template
from core.train.config import ModelConfig
from core.train.losses import (
    SEAL_MM,
    StageOneLoss,
    closure_loss,
    gap_loss,
    masked_l2,
    midline_gap,
    prior_loss,
    region_weights,
    seal_weights,
    velocity_l2,
)
from core.train.model import (
    AudioEncoder,
    AudioPrior,
    MeshTalk,
    codes_to_onehot,
    default_output_basis,
    gumbel_softmax_st,
    to_video_rate,
)
from core.train.voice_adversary import VoiceAdversary

torch.set_num_threads(1)
CFG = ModelConfig()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template():
    return load_template()


@pytest.fixture(scope="module")
def model(template) -> MeshTalk:
    torch.manual_seed(0)
    m = MeshTalk(CFG)
    m.set_output_basis(*default_output_basis(template.arkit_deltas, CFG.basis_size))
    m.set_template_mean(template.vertices)
    return m


def batch(template, b: int = 2, t: int = 6, seed: int = 0):
    """A small batch: log-mels covering t video frames, ARKit-posed targets, templates."""
    g = torch.Generator().manual_seed(seed)
    n_mel = int(np.ceil(t * 100 / 30)) + 1
    mel = torch.randn(b, n_mel, CFG.n_mels, generator=g) * 2 - 4
    weights = torch.rand(b, t, len(template.arkit_names), generator=g).numpy() * 0.5
    offsets = torch.from_numpy(np.stack([template.pose(w) - template.vertices for w in weights]))
    # different identities: the template plus random MakeHuman identity targets
    _, deltas = load_identity_targets()
    deltas = deltas[np.abs(deltas).reshape(len(deltas), -1).max(axis=1) < 0.02]  # face shape
    rng = np.random.default_rng(seed)
    mix = rng.uniform(0, 1, (b, len(deltas))) * (rng.uniform(size=(b, len(deltas))) < 0.05)
    ids = template.vertices + np.einsum("bn,nvk->bvk", mix.astype(np.float32), deltas)
    return mel, offsets, torch.from_numpy(ids.astype(np.float32))


# ---------------------------------------------------------------------------- config


def test_config_roundtrip_and_the_recipe_toml():
    """The recipe trains the runtime's default network shapes on the phonetic front end; a
    weights file carries that part only, and a runtime reads a newer file's extra keys with
    a warning."""
    from core.runtime.config import NetworkConfig

    recipe = ModelConfig.from_toml(ROOT / "configs" / "meshtalk.toml")
    assert recipe.network() == NetworkConfig(front_end="phonetic")
    assert recipe.n_features == 41 and recipe.feature_delay > 1
    assert "lip_weight" not in recipe.network_dict()
    with pytest.warns(UserWarning, match="new_setting"):
        assert NetworkConfig.from_dict({**CFG.network_dict(), "new_setting": 1}, "warn")
    assert ModelConfig.from_dict(CFG.to_dict()) == CFG
    assert ModelConfig.from_json(CFG.to_json()) == CFG
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({"n_mel": 80})


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.stem)
def test_every_config_reads(path):
    """Configs name only what differs from ModelConfig(); a typo must not pass silently."""
    from core.train.loop import TrainConfig

    assert ModelConfig.from_toml(path).n_vertices == CFG.n_vertices
    assert TrainConfig.from_toml(path).run.endswith(path.stem)
    with pytest.raises(ValueError, match="loss_mode"):
        ModelConfig(loss_mode="l1")
    assert CFG.audio_half_context == 50 and CFG.audio_shift == 0  # 0.5 s each side
    assert CFG.prior_receptive_field == 16


# ---------------------------------------------------------------------------- stage 1


def test_shapes(model, template):
    mel, offsets, tmpl = batch(template, b=2, t=7)
    model.eval()
    out = model(mel, offsets, tmpl)
    assert out["offsets"].shape == (2, 7, CFG.n_vertices, 3)
    assert out["logits"].shape == (2, 7, CFG.heads, CFG.categories)
    assert out["codes"].shape == (2, 7, CFG.heads)
    assert model.encode_audio(mel, 7).shape == (2, 7, CFG.audio_channels)
    assert model.audio_encoder(mel).shape == (2, mel.shape[1], CFG.audio_channels)


def test_audio_receptive_field_and_lookahead(model):
    """Changing mel frame m changes encoder frames within m +- 50 only (0.5 s each side)."""
    model.eval()
    mel = torch.randn(1, 300, CFG.n_mels)
    base = model.audio_encoder(mel)
    mel2 = mel.clone()
    mel2[0, 150] += 5.0
    changed = (model.audio_encoder(mel2) - base).abs().amax(dim=2)[0] > 0
    idx = torch.nonzero(changed)[:, 0]
    assert idx.min() >= 150 - CFG.audio_half_context and idx.max() <= 150 + CFG.audio_half_context
    assert idx.min() <= 110 and idx.max() >= 190  # the context really reaches out


@pytest.mark.parametrize("lookahead", [50, 20, 0])
def test_lookahead(lookahead):
    """Video frame t sees mel frames up to t*100/30 + lookahead (+1 for interpolation)."""
    cfg = ModelConfig(audio_lookahead=lookahead)
    torch.manual_seed(0)
    encoder = AudioEncoder(cfg).eval()
    mel = torch.randn(1, 300, cfg.n_mels)
    t = 30
    with torch.no_grad():
        base = to_video_rate(encoder(mel), 0, 60, cfg)
        cut = t * 100 // 30 + lookahead + 2
        mel3 = mel.clone()
        mel3[0, cut:] = torch.randn(300 - cut, cfg.n_mels)
        diff = (to_video_rate(encoder(mel3), 0, 60, cfg) - base).abs().amax(dim=2)[0]
    assert torch.all(diff[: t + 1] == 0) and diff[t + 1 :].max() > 0


def test_gumbel_straight_through():
    logits = torch.randn(3, 4, CFG.heads, CFG.categories, requires_grad=True)
    onehot, codes = gumbel_softmax_st(logits, tau=1.0)
    assert torch.all(onehot.sum(-1) == 1) and torch.all((onehot == 0) | (onehot == 1))
    assert torch.equal(onehot.argmax(-1), codes)
    (onehot * torch.randn_like(onehot)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["xmod", "l2"])
def test_gradients_reach_every_module(template, mode):
    cfg = ModelConfig(loss_mode=mode)
    torch.manual_seed(1)
    m = MeshTalk(cfg)
    m.set_output_basis(*default_output_basis(template.arkit_deltas, cfg.basis_size))
    m.set_template_mean(template.vertices)
    m.train()
    loss_fn = StageOneLoss(cfg, region_weights(template, cfg))
    mel, offsets, tmpl = batch(template)
    losses = loss_fn(m, mel, offsets, tmpl)
    assert set(losses) >= {"total", "eyelid"} | ({"mouth", "upper"} if mode == "xmod" else {"l2"})
    losses["total"].backward()
    for name in (
        "audio_encoder.inp.weight",
        "audio_encoder.convs.5.weight",
        "expression_encoder.mlp.0.weight",
        "expression_encoder.lstm.weight_hh_l0",
        "fusion.layers.0.weight",  # only reachable through the straight-through estimator
        "decoder.code_proj.weight",
        "decoder.template_layers.0.weight",
        "decoder.lstm.weight_ih_l1",
        "decoder.head.weight",
    ):
        grad = dict(m.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


@pytest.mark.parametrize("mode", ["xmod", "l2"])
def test_stage_one_loss_trains(template, mode):
    """A few Adam steps on one batch lower the loss: both the method and the ablation train."""
    cfg = ModelConfig(loss_mode=mode)
    torch.manual_seed(2)
    m = MeshTalk(cfg)
    m.set_output_basis(*default_output_basis(template.arkit_deltas, cfg.basis_size))
    m.set_template_mean(template.vertices)
    loss_fn = StageOneLoss(cfg, region_weights(template, cfg))
    mel, offsets, tmpl = batch(template, b=2, t=5, seed=3)
    opt = torch.optim.Adam(m.parameters(), lr=1e-4)  # MeshTalk's learning rate
    m.train()
    history = []
    for _ in range(12):
        torch.manual_seed(0)  # the same Gumbel noise every step: a deterministic objective
        loss = loss_fn(m, mel, offsets, tmpl)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    assert history[-1] < 0.7 * history[0], history


def test_region_masks_weight_the_right_vertices(template):
    w = region_weights(template, CFG)
    mouth, upper = template.region("mouth"), template.region("upper_face")
    assert np.all(w.mouth[mouth] == 1) and w.mouth.sum() == len(mouth)
    assert np.all(w.upper[upper] == 1) and w.upper.sum() == len(upper)
    lids = np.concatenate(
        [template.region(f"eyelid_{p}_{s}") for p in ("upper", "lower") for s in ("left", "right")]
    )
    assert np.isin(w.lid_pairs, lids).all()
    # every upper-lid vertex pairs with a lower-lid vertex below it
    v = template.vertices
    assert np.all(v[w.lid_pairs[:, 0], 2] > v[w.lid_pairs[:, 1], 2] - 1e-3)
    # and every upper-lip vertex with a lower-lip vertex below it
    assert np.isin(w.lip_pairs[:, 0], template.region("lip_upper")).all()
    assert np.isin(w.lip_pairs[:, 1], template.region("lip_lower")).all()
    assert np.all(v[w.lip_pairs[:, 0], 2] > v[w.lip_pairs[:, 1], 2] - 1e-3)

    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.standard_normal((1, 2, CFG.n_vertices, 3)).astype(np.float32))
    wm, wu = torch.from_numpy(w.mouth), torch.from_numpy(w.upper)
    pairs = torch.from_numpy(w.lid_pairs)
    pred = target.clone()
    assert masked_l2(pred, target, wm) == 0 and masked_l2(pred, target, wu) == 0
    pred[..., upper, :] += 0.001  # 1 mm on the upper face only
    assert masked_l2(pred, target, wm) == 0
    assert masked_l2(pred, target, wu).item() == pytest.approx(3.0, rel=1e-3)  # 3 x (1 mm)^2
    pred = target.clone()
    pred[..., mouth, :] += 0.001
    assert masked_l2(pred, target, wu) == 0 and masked_l2(pred, target, wm) > 0
    assert gap_loss(pred, target, pairs) == 0  # the mouth does not touch the lids
    pred = target.clone()
    pred[..., template.region("eyelid_upper_left"), 2] -= 0.002  # lids closing
    assert gap_loss(pred, target, pairs) > 0
    pred = target.clone()
    pred[..., :, 2] += 0.01  # the whole head moves up: the lid gap does not change
    assert gap_loss(pred, target, pairs) < 1e-6
    lips = torch.from_numpy(w.lip_pairs)
    pred = target.clone()
    pred[..., template.region("lip_lower"), 2] += 0.001  # the lower lip rises 1 mm
    assert gap_loss(pred, target, lips).item() == pytest.approx(1.0, rel=1e-3)


def test_seal_weights_pick_the_frames_where_the_lips_meet(template):
    """seal_weight multiplies the lip-gap error of the frames whose true midline gap is under
    the evaluation's closure threshold, and only those."""
    cfg = ModelConfig()
    w = region_weights(template, cfg)
    up, low = w.lip_midline
    assert lip_gap(template.vertices, template) == pytest.approx(
        template.vertices[up, 2] - template.vertices[low, 2]
    )
    target = torch.from_numpy(np.repeat(template.vertices[None, None], 3, axis=1).copy())
    target[0, 1, template.region("lip_lower"), 2] -= 0.010  # frame 1: the mouth open 10 mm
    target[0, 2, template.region("lip_lower"), 2] += 0.001  # frame 2: pressed together
    midline = torch.from_numpy(w.lip_midline)
    frames = seal_weights(target, midline, 8.0)
    assert frames.tolist() == [[9.0, 1.0, 9.0]]  # at rest the lips touch (0.2 mm): sealed
    lips = torch.from_numpy(w.lip_pairs)
    pred = target.clone()
    pred[0, 2, template.region("lip_lower"), 2] -= 0.001  # frame 2 misses the seal by 1 mm
    plain = gap_loss(pred, target, lips).item()
    assert gap_loss(pred, target, lips, frames).item() == pytest.approx(9 * plain, rel=1e-4)
    pred = target.clone()
    pred[0, 1, template.region("lip_lower"), 2] -= 0.001  # an error on the open frame: x 1
    plain = gap_loss(pred, target, lips).item()
    assert gap_loss(pred, target, lips, frames).item() == pytest.approx(plain, rel=1e-4)


def test_seal_weights_on_bilabials_only_leave_the_lips_at_rest_alone(template, model):
    """seal_frames "bilabial": a sealed frame outside a P/B/M (lips resting together in a
    silence) weighs 1, as any frame; inside one, 1 + seal_weight. The loss refuses to guess
    the P/B/M frames when a batch does not bring them."""
    w = region_weights(template, ModelConfig())
    target = torch.from_numpy(np.repeat(template.vertices[None, None], 3, axis=1).copy())
    target[0, 1, template.region("lip_lower"), 2] -= 0.010  # frame 1 open; 0 and 2 sealed
    midline = torch.from_numpy(w.lip_midline)
    inside = torch.tensor([[False, True, True]])  # frame 0: lips at rest, no P/B/M
    assert seal_weights(target, midline, 8.0, inside).tolist() == [[1.0, 1.0, 9.0]]
    assert seal_weights(target, midline, 8.0).tolist() == [[9.0, 1.0, 9.0]]

    mel, offsets, tmpl = batch(template, seed=5)
    rest = template.pose(np.zeros(len(template.arkit_names))) - template.vertices
    offsets[0, 2] = torch.from_numpy(rest)  # frame 2 of item 0 at rest: its lips meet
    model.eval()  # argmax codes: the same decode for every loss below
    lips = {"lip_weight": 0.5, "lip_vertex_weight": 4.0}
    loss = {
        frames: StageOneLoss(ModelConfig(seal_weight=16.0, seal_frames=frames, **lips), w)
        for frames in ("sealed", "bilabial")
    }
    with pytest.raises(ValueError, match="P/B/M frames"):
        loss["bilabial"](model, mel, offsets, tmpl)
    none = torch.zeros(offsets.shape[:2], dtype=torch.bool)
    plain = StageOneLoss(ModelConfig(**lips), w)
    want = plain(model, mel, offsets, tmpl)
    got = loss["bilabial"](model, mel, offsets, tmpl, bilabial=none)
    assert got["lipv"].item() == pytest.approx(want["lipv"].item(), rel=1e-5)
    everywhere = loss["bilabial"](model, mel, offsets, tmpl, bilabial=~none)
    sealed = loss["sealed"](model, mel, offsets, tmpl)
    assert everywhere["lipv"].item() == pytest.approx(sealed["lipv"].item(), rel=1e-5)
    assert sealed["lipv"].item() > 1.5 * want["lipv"].item()  # the rest frame is weighted
    with pytest.raises(ValueError, match="seal_frames"):
        ModelConfig(seal_frames="closed")
    closing = StageOneLoss(ModelConfig(closure_weight=2.0, **lips), w)
    with pytest.raises(ValueError, match="P/B/M frames"):
        closing(model, mel, offsets, tmpl)
    spans = torch.tensor([[0, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    out = closing(model, mel, offsets, tmpl, bilabial=spans)
    extra = out["total"] - plain(model, mel, offsets, tmpl)["total"]
    assert extra.item() == pytest.approx(2.0 * out["closure"].item(), rel=1e-4, abs=1e-6)


def test_closure_loss_asks_one_sealed_frame_per_bilabial(template):
    """closure_weight: per whole P/B/M of a window, the squared shortfall (mm^2) of its
    tightest frame from SEAL_MM; one sealed frame is enough, frames outside count nothing."""
    w = region_weights(template, ModelConfig())
    midline = torch.from_numpy(w.lip_midline)
    v = torch.from_numpy(np.repeat(template.vertices[None, None], 4, axis=1).copy())
    v[0, :, template.region("lip_lower"), 2] -= 0.003  # every frame 3 mm more open
    v[0, 2, template.region("lip_lower"), 2] += 0.002  # frame 2: 2 mm closer
    gap = midline_gap(v, midline)[0]
    assert closure_loss(v, midline, torch.tensor([[1, 1, 1, 0]])).item() == pytest.approx(
        (gap[2].item() - SEAL_MM) ** 2, rel=1e-4
    )
    two = closure_loss(v, midline, torch.tensor([[1, 0, 0, 2]])).item()  # two phones: mean
    assert two == pytest.approx((gap[0].item() - SEAL_MM) ** 2, rel=1e-4)
    assert closure_loss(v, midline, torch.tensor([[0, 0, 0, -1]])).item() == 0  # a cut phone
    v[0, 1, template.region("lip_lower"), 2] += 0.004  # frame 1 sealed: nothing to ask
    assert closure_loss(v, midline, torch.tensor([[1, 1, 1, 0]])).item() == 0
    v.requires_grad_(True)
    closure_loss(v, midline, torch.tensor([[0, 0, 2, 0]])).backward()
    moved = v.grad.abs().sum(dim=(0, 2, 3))
    assert moved[2] > 0 and moved[[0, 1, 3]].sum() == 0  # only the tightest frame is pushed


def test_lip_vertex_loss_weights_the_lips_and_the_sealed_frames(template):
    """lip_vertex_weight adds the lip vertices' own L2 (where LVE is measured), its sealed
    frames weighted like the lip-gap loss's; a rolled lip that closes the gap still costs."""
    cfg = ModelConfig()
    w = region_weights(template, cfg)
    lips = template.region("lips")
    assert np.all(w.lips[lips] == 1) and w.lips.sum() == len(lips)
    target = torch.from_numpy(np.repeat(template.vertices[None, None], 2, axis=1).copy())
    target[0, 1, template.region("lip_lower"), 2] -= 0.010  # frame 1 open, frame 0 at rest
    frames = seal_weights(target, torch.from_numpy(w.lip_midline), 8.0)
    pred = target.clone()
    pred[..., lips, 1] -= 0.001  # both lips 1 mm forward (a pucker): the gap is unchanged
    wl = torch.from_numpy(w.lips)
    assert gap_loss(pred, target, torch.from_numpy(w.lip_pairs)).item() < 1e-6
    assert masked_l2(pred, target, wl).item() == pytest.approx(1.0, rel=1e-3)  # (1 mm)^2
    assert masked_l2(pred, target, wl, frames).item() == pytest.approx(5.0, rel=1e-3)  # (9+1)/2
    pred = target.clone()
    pred[..., template.region("forehead"), :] += 0.01  # off the lips: no lip-vertex error
    assert masked_l2(pred, target, wl, frames) == 0


def test_velocity_loss_charges_jitter_not_offsets(model, template):
    """velocity_l2 compares frame-to-frame motion: a lip offset held still costs nothing, a
    lip that wobbles 1 mm every other frame costs (1 mm)^2 per step, a step into or out of a
    weighted frame as much as that frame; with velocity_weight the audio-driven reconstruction
    pays it on top of the other losses."""
    w = region_weights(template, ModelConfig())
    lips, wl = template.region("lips"), torch.from_numpy(w.lips)
    target = torch.zeros(1, 5, template.n_vertices, 3)
    held = target.clone()
    held[..., lips, 2] += 0.002  # 2 mm off in every frame: wrong, but not moving
    assert velocity_l2(held, target, wl).item() == 0
    wobble = target.clone()
    wobble[:, 1::2, lips, 2] += 0.001  # up 1 mm on odd frames: every step moves 1 mm
    assert velocity_l2(wobble, target, wl).item() == pytest.approx(1.0, rel=1e-4)
    wobble[..., template.region("forehead"), :] += 0.01  # off the lips: no velocity error
    assert velocity_l2(wobble, target, wl).item() == pytest.approx(1.0, rel=1e-4)

    heavy = torch.tensor([[1.0, 1.0, 9.0, 1.0, 1.0]])  # frame 2 sealed, weighted 1 + 8
    assert velocity_l2(wobble, target, wl, heavy).item() == pytest.approx(5.0, rel=1e-4)  # 1 9 9 1

    assert_term_adds_to_the_total(model, template, w, "velocity", 3.0, seed=6)


def test_lid_seal_weights_the_frames_with_closed_lids(model, template):
    """lid_seal_weight multiplies the eyelid error of the frames whose true lids are closed at
    either pupil (a blink: ~3 % of the frames), as seal_weight does the lips' sealed frames."""
    w = region_weights(template, ModelConfig())
    mel, offsets, tmpl = batch(template, seed=8)
    units = np.zeros(len(template.arkit_names))
    units[template.arkit_names.index("eyeBlinkLeft")] = 1.0  # one eye shut is a blink too
    offsets[1, 3] = torch.from_numpy(template.pose(units) - template.vertices)
    tmpl[1] = torch.from_numpy(template.vertices)  # item 1 on the template: its lids meet
    model.eval()  # argmax codes: the same decode for every loss below
    plain = StageOneLoss(ModelConfig(eyelid_weight=2.0), w)(model, mel, offsets, tmpl)
    sealed = StageOneLoss(ModelConfig(eyelid_weight=2.0, lid_seal_weight=8.0), w)
    out = sealed(model, mel, offsets, tmpl)
    assert out["eyelid"].item() > plain["eyelid"].item()  # the closed frame weighs 9
    extra = out["total"] - plain["total"]
    assert extra.item() == pytest.approx(2.0 * (out["eyelid"] - plain["eyelid"]).item(), rel=1e-4)
    offsets[1, 3] = offsets[1, 2]  # no closed lids left: the weighting changes nothing
    plain = StageOneLoss(ModelConfig(eyelid_weight=2.0), w)(model, mel, offsets, tmpl)
    out = sealed(model, mel, offsets, tmpl)
    assert out["eyelid"].item() == pytest.approx(plain["eyelid"].item(), rel=1e-6)


def assert_term_adds_to_the_total(model, template, w, part: str, weight: float, seed: int):
    """With `{part}_weight` set, StageOneLoss reports the part (> 0 on a random batch) and
    its total grows by exactly weight x the part; without it, the part is absent."""
    model.eval()  # argmax codes: the same decode for both losses
    mel, offsets, tmpl = batch(template, seed=seed)
    plain = StageOneLoss(ModelConfig(), w)(model, mel, offsets, tmpl)
    weighted = ModelConfig(**{f"{part}_weight": weight})
    out = StageOneLoss(weighted, w)(model, mel, offsets, tmpl)
    assert part not in plain and out[part].item() > 0
    extra = out["total"] - plain["total"]
    assert extra.item() == pytest.approx(weight * out[part].item(), rel=1e-4)


def test_width_loss_charges_a_mouth_that_does_not_round(model, template):
    """width_weight compares the mouth corners' vector (what the rounding score measures): a
    mouth 6 mm too wide costs (6 mm)^2, moving both corners together or any other vertex costs
    nothing; on the audio-driven reconstruction it adds weight x that error to the total."""
    w = region_weights(template, ModelConfig())
    corners = torch.from_numpy(w.corners)
    right, left = mouth_corners(template)
    assert corners.tolist() == [[right, left]]
    target = torch.from_numpy(np.repeat(template.vertices[None, None], 3, axis=1).copy())
    wide = target.clone()
    wide[..., left, 0] += 0.006  # the character's left corner 6 mm further out
    assert gap_loss(wide, target, corners).item() == pytest.approx(36.0, rel=1e-4)
    shifted = target.clone()
    shifted[..., [right, left], 0] += 0.004  # the whole mouth 4 mm aside: same width
    shifted[..., template.region("forehead"), :] += 0.01
    assert gap_loss(shifted, target, corners).item() < 1e-6

    assert_term_adds_to_the_total(model, template, w, "width", 2.0, seed=7)


def test_voice_adversary_trains_the_classifier_and_confuses_the_encoder(model, template):
    """The classifier learns from its cross-entropy alone, the features from its confusion
    alone (0 at a uniform guess, never below); StageOneLoss adds both (the confusion times
    voice_adversary_weight) for training batches, with voices, not for validation (none), and
    refuses fewer than two voices."""
    cfg = ModelConfig(voice_adversary_weight=10.0)
    torch.manual_seed(1)
    adversary = VoiceAdversary(cfg, voices=3)
    features = torch.randn(2, 5, cfg.audio_channels, requires_grad=True)
    voice = torch.tensor([0, 2])
    ce, confusion = adversary(features, voice)
    assert confusion.item() > 0
    ce.backward(retain_graph=True)
    assert features.grad is None and all(p.grad.abs().sum() > 0 for p in adversary.parameters())
    grads = [p.grad.clone() for p in adversary.parameters()]
    confusion.backward()
    assert features.grad.abs().sum() > 0
    for p, g in zip(adversary.parameters(), grads, strict=True):
        torch.testing.assert_close(p.grad, g)  # the confusion added nothing to the classifier
    with torch.no_grad():  # each side's step lowers its own loss
        for p in adversary.parameters():
            p -= 0.05 * p.grad
        moved = features - 0.5 * features.grad
    assert adversary(features, voice)[0].item() < ce.item()
    assert adversary(moved, voice)[1].item() < adversary(features, voice)[1].item()
    with torch.no_grad():
        adversary.out.weight.zero_()
        adversary.out.bias.zero_()
    assert adversary(features, voice)[1].item() == pytest.approx(0.0, abs=1e-6)  # uniform

    w = region_weights(template, cfg)
    model.eval()
    mel, offsets, tmpl = batch(template, seed=7)
    plain = StageOneLoss(ModelConfig(), w)(model, mel, offsets, tmpl)
    loss_fn = StageOneLoss(cfg, w, voices=2)
    out = loss_fn(model, mel, offsets, tmpl, voice=torch.tensor([0, 1]))
    expected = plain["total"] + out["voice_ce"] + 10.0 * out["voice_confusion"]
    assert out["total"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert "voice_ce" not in loss_fn(model, mel, offsets, tmpl)  # validation: no voices
    assert StageOneLoss(cfg, w).adversary is None  # no training voices given: no adversary
    with pytest.raises(ValueError, match="at least 2 training voices"):
        StageOneLoss(cfg, w, voices=1)
    with pytest.raises(ValueError, match="voice_adversary_weight"):
        ModelConfig(voice_adversary_weight=-1.0)


def test_l2_mode_is_plain_reconstruction(model, template):
    cfg = ModelConfig(loss_mode="l2", eyelid_weight=0.0)
    model.eval()  # argmax latent: deterministic
    mel, offsets, tmpl = batch(template, seed=4)
    losses = StageOneLoss(cfg, region_weights(template, cfg))(model, mel, offsets, tmpl)
    pred = model(mel, offsets, tmpl)["offsets"]
    expected = ((pred - offsets) * 1000).pow(2).sum(-1).mean()
    assert losses["total"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_default_output_basis_spans_arkit(template):
    mean, std, basis = default_output_basis(template.arkit_deltas, CFG.basis_size)
    assert mean.shape == std.shape == (CFG.n_vertices, 3) and basis.shape == (
        128,
        CFG.n_vertices * 3,
    )
    gram = basis.astype(np.float64) @ basis.T.astype(np.float64)
    np.testing.assert_allclose(gram / gram[0, 0], np.eye(128), atol=1e-5)
    normed = (template.arkit_deltas / std).reshape(52, -1).astype(np.float64)
    q = basis.T / np.sqrt(gram[0, 0])
    recon = normed @ q @ q.T
    assert np.abs(recon - normed).max() < 1e-4 * np.abs(normed).max()


# ---------------------------------------------------------------------------- stage 2


def test_prior_is_causal():
    torch.manual_seed(3)
    prior = AudioPrior(CFG).eval()
    t = 40
    codes = torch.randint(0, CFG.categories, (1, t, CFG.heads))
    audio = torch.randn(1, t, CFG.audio_channels)
    base = prior(codes, audio)
    assert base.shape == (1, t, CFG.heads, CFG.categories)
    for t0 in (0, 17, 38):
        c2 = codes.clone()
        c2[0, t0] = (c2[0, t0] + 1) % CFG.categories
        diff = (prior(c2, audio) - base).abs().amax(dim=(2, 3))[0]
        assert torch.all(diff[: t0 + 1] == 0), t0  # logits at t <= t0 never see codes at t0
        assert diff[t0 + 1] > 0  # the next frame does
        a2 = audio.clone()
        a2[0, t0] += 1.0
        diff = (prior(codes, a2) - base).abs().amax(dim=(2, 3))[0]
        assert torch.all(diff[:t0] == 0) and diff[t0] > 0
    # the receptive field: codes more than 16 frames back no longer matter
    c3 = codes.clone()
    c3[0, 5] = (c3[0, 5] + 1) % CFG.categories
    diff = (prior(c3, audio) - base).abs().amax(dim=(2, 3))[0]
    assert diff[5 + CFG.prior_receptive_field] > 0
    assert torch.all(diff[6 + CFG.prior_receptive_field :] == 0)


def test_prior_sampling_and_loss():
    torch.manual_seed(4)
    prior = AudioPrior(CFG).eval()
    audio = torch.randn(20, CFG.audio_channels)
    a = prior.sample(audio, seed=7)
    assert a.shape == (20, CFG.heads) and a.dtype == torch.long
    assert torch.equal(a, prior.sample(audio, seed=7))
    assert not torch.equal(a, prior.sample(audio, seed=8))
    greedy = prior.sample(audio, argmax=True)
    assert torch.equal(greedy, prior.sample(audio, seed=99, temperature=0.0))
    # the greedy codes are the argmax of the teacher-forced logits along themselves
    logits = prior(greedy[None], audio[None])[0]
    assert torch.equal(logits.argmax(-1), greedy)
    # cross-entropy training lowers the loss
    codes = torch.randint(0, CFG.categories, (2, 12, CFG.heads))
    audio2 = torch.randn(2, 12, CFG.audio_channels)
    prior.train()
    opt = torch.optim.Adam(prior.parameters(), lr=3e-3)
    first = None
    for _ in range(15):
        loss = prior.loss(codes, audio2)
        assert loss.item() == pytest.approx(prior_loss(prior(codes, audio2), codes).item())
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.8 * first
    assert codes_to_onehot(codes, CFG).shape == (2, 12, CFG.heads, CFG.categories)
