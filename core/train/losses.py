"""Stage-1 losses (torch): MeshTalk's cross-modality loss, the eyelid loss, plain L2.

Errors are measured in millimetres (offsets are in metres) so the loss is O(1).
Region masks come from the template: the mouth mask for the audio-driven reconstruction,
the upper-face mask for the expression-driven one (config: mouth_regions, upper_regions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..eval.scores import CLOSED_MM
from ..runtime.metrics import EYELID_CENTRE, LIP_MIDLINE, landmark, mouth_corners
from ..runtime.template import Template
from .config import ModelConfig
from .model import MeshTalk
from .voice_adversary import VoiceAdversary

MM = 1000.0  # metres -> millimetres
SEAL_MM = CLOSED_MM / 2  # the closure loss's aim: inside the score's threshold, with a margin


@dataclass(frozen=True)
class RegionWeights:
    """Per-vertex loss weights and the eyelid vertex pairs, as numpy arrays."""

    mouth: np.ndarray  # (V,) float32
    lips: np.ndarray  # (V,) float32: the lip vertices, where the evaluation's LVE is measured
    upper: np.ndarray  # (V,) float32
    lid_pairs: np.ndarray  # (P, 2) int64: (upper-lid vertex, lower-lid vertex)
    lip_pairs: np.ndarray  # (Q, 2) int64: (upper-lip vertex, lower-lip vertex)
    lip_midline: np.ndarray  # (2,) int64: the inner lips at the midline (core.metrics.lip_gap)
    corners: np.ndarray  # (1, 2) int64: the mouth corners (runtime.metrics.mouth_width)
    lid_centres: np.ndarray  # (2, 2) int64: each eye's lids at the pupil (metrics.eyelid_gap)


def _mask(template: Template, regions: tuple[str, ...], background: float) -> np.ndarray:
    w = np.full(template.n_vertices, background, np.float32)
    for name in regions:
        w[template.region(name)] = 1.0
    return w


def vertical_pairs(template: Template, upper: str, lower: str) -> np.ndarray:
    """Pair every vertex of region `upper` with the vertex of region `lower` closest to it in
    the horizontal (x, y) plane, i.e. straight below it: the pair's vector closes to ~0 when
    the two meet (a blink, a lip seal)."""
    v = template.vertices
    up, low = template.region(upper), template.region(lower)
    d = ((v[up, None, :2] - v[None, low, :2]) ** 2).sum(axis=2)
    return np.stack([up, low[d.argmin(axis=1)]], axis=1).astype(np.int64)


def eyelid_pairs(template: Template) -> np.ndarray:
    """Upper-lid vertices paired with the lower-lid vertex below them, both eyes."""
    sides = ("left", "right")
    return np.concatenate(
        [vertical_pairs(template, f"eyelid_upper_{s}", f"eyelid_lower_{s}") for s in sides]
    )


def region_weights(template: Template, cfg: ModelConfig) -> RegionWeights:
    return RegionWeights(
        mouth=_mask(template, cfg.mouth_regions, cfg.mask_background),
        lips=_mask(template, ("lips",), 0.0),
        upper=_mask(template, cfg.upper_regions, cfg.mask_background),
        lid_pairs=eyelid_pairs(template),
        lip_pairs=vertical_pairs(template, "lip_upper", "lip_lower"),
        lip_midline=np.array([landmark(template, i) for i in LIP_MIDLINE], np.int64),
        corners=np.array([mouth_corners(template)], np.int64),
        lid_centres=np.array(
            [[landmark(template, i) for i in EYELID_CENTRE[side]] for side in ("left", "right")],
            np.int64,
        ),
    )


def masked_l2(
    pred: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor,
    frame_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted mean over vertices of the squared error (mm^2), mean over batch and frames.
    pred/target (B, T, V, 3) in metres, weights (V,); frame_weights (B, T) scale each
    frame's error (default 1)."""
    err = ((pred - target) * MM).pow(2).sum(dim=-1)
    err = (err * weights).sum(dim=-1) / weights.sum()
    return (err if frame_weights is None else err * frame_weights).mean()


def velocity_l2(
    pred: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor,
    frame_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """masked_l2 of the frame-to-frame motion (B, T-1, V, 3) instead of the positions: a
    jittering prediction pays for every wobble, a seal as fast as the truth's pays nothing.
    frame_weights (B, T): a step weighs as much as the heavier of its two frames."""
    steps = None
    if frame_weights is not None:
        steps = torch.maximum(frame_weights[:, 1:], frame_weights[:, :-1])
    return masked_l2(pred.diff(dim=1), target.diff(dim=1), weights, steps)


def gap_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    pairs: torch.Tensor,
    frame_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Squared error (mm^2) of the upper-minus-lower vectors of vertex pairs: what makes
    blinks and lip seals close (a vertex loss alone smooths the last millimetres away).
    pred/target (B, T, V, 3); frame_weights (B, T) scale each frame's error (default 1)."""
    gap_pred = pred[..., pairs[:, 0], :] - pred[..., pairs[:, 1], :]
    gap_true = target[..., pairs[:, 0], :] - target[..., pairs[:, 1], :]
    err = ((gap_pred - gap_true) * MM).pow(2).sum(dim=-1).mean(dim=-1)
    return (err if frame_weights is None else err * frame_weights).mean()


def midline_gap(vertices: torch.Tensor, midline: torch.Tensor) -> torch.Tensor:
    """(B, T) vertical lip gap at the midline (mm) of vertices (B, T, V, 3), as the evaluation
    measures it (core.metrics.lip_gap)."""
    return (vertices[..., midline[0], 2] - vertices[..., midline[1], 2]) * MM


def closure_loss(
    vertices: torch.Tensor, midline: torch.Tensor, spans: torch.Tensor
) -> torch.Tensor:
    """Mean over the P/B/M phones of a batch of the squared shortfall (mm^2) of the lips'
    tightest frame from SEAL_MM: what the closure score asks (the lips meet at some frame of
    the phone) and nothing more, so unlike a seal weight on every frame it does not lean the
    frames around a P/B/M towards a seal. spans (B, T): j > 0 on the j-th whole P/B/M of
    an item (Windows._bilabial)."""
    gap = midline_gap(vertices, midline)
    shortfalls = []
    for j in range(1, int(spans.max()) + 1):
        inside = spans == j
        tightest = gap.masked_fill(~inside, float("inf")).min(dim=1).values
        shortfalls.append(torch.relu(tightest[inside.any(dim=1)] - SEAL_MM))
    if not shortfalls:
        return gap.new_zeros(())
    return torch.cat(shortfalls).pow(2).mean()


def seal_weights(
    target: torch.Tensor, midline: torch.Tensor, extra: float, where: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, T) frame weights 1 + extra where the true pair `midline` (the lips at the midline,
    or one eye's lids at the pupil) is closed (gap under the evaluation's CLOSED_MM) and
    `where` (B, T) is true (everywhere when None): a seal or a blink's bottom lasts two or
    three frames, too few to count in a mean over all frames, and it is what a viewer notices
    when it is missing."""
    sealed = midline_gap(target, midline) < CLOSED_MM
    if where is not None:
        sealed = sealed & where.bool()
    return 1.0 + extra * sealed.to(target.dtype)


class StageOneLoss(nn.Module):
    """Loss of a stage-1 batch: `cfg.loss_mode` "xmod" (cross-modality) or "l2".

    xmod: with j = i's partner (the batch is pairs of different sequences: 0-1, 2-3, ...;
    pairing within pairs keeps the loss of a pair independent of how a batch is split over
    processes), decode (audio_i, expr_j) and
    compare the mouth with sequence i; decode (audio_j, expr_i) and compare the upper face
    with i. The expression input cannot explain the mouth and the audio cannot explain the
    upper face, so the latent has to take lips from audio and the rest from expression.
    l2: plain reconstruction from (audio_i, expr_i) over all vertices (the ablation).
    Both add `eyelid_weight` x the eyelid loss on the expression-driven reconstruction (its
    closed-lid frames weighted 1 + `lid_seal_weight`: blinks are ~3 % of the frames),
    `lip_weight` x the lip-gap loss and `lip_vertex_weight` x the L2 of the lip vertices on
    the audio-driven one (sealed frames of both weighted 1 + `seal_weight`; with
    `seal_frames` "bilabial" only those inside a P/B/M phone), and `velocity_weight` x the
    L2 of the lip vertices' frame-to-frame motion (velocity_l2; with `velocity_seal` its
    steps at sealed frames weighted like them), `width_weight` x the error of the mouth
    corners' vector (its width: rounding). With `voice_adversary_weight` and the number
    of training voices, a voice classifier on the audio features adds its cross-entropy (which
    trains it alone) and the weight x its confusion (which trains the encoders alone:
    VoiceAdversary). The lip-gap
    loss closes the lips however it can (a rolled lip closes too); the lip-vertex loss
    closes them where the truth does, which is what LVE measures."""

    def __init__(self, cfg: ModelConfig, weights: RegionWeights, voices: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.adversary = (
            VoiceAdversary(cfg, voices) if cfg.voice_adversary_weight and voices else None
        )
        self.register_buffer("mouth", torch.from_numpy(weights.mouth))
        self.register_buffer("lips", torch.from_numpy(weights.lips))
        self.register_buffer("upper", torch.from_numpy(weights.upper))
        self.register_buffer("lid_pairs", torch.from_numpy(weights.lid_pairs))
        self.register_buffer("lip_pairs", torch.from_numpy(weights.lip_pairs))
        self.register_buffer("lip_midline", torch.from_numpy(weights.lip_midline))
        self.register_buffer("corners", torch.from_numpy(weights.corners))
        self.register_buffer("lid_centres", torch.from_numpy(weights.lid_centres))
        self.register_buffer("all", torch.ones(len(weights.mouth)))

    def forward(
        self,
        model: MeshTalk,
        mel: torch.Tensor,
        offsets: torch.Tensor,
        template: torch.Tensor,
        start: int = 0,
        noise: torch.Tensor | None = None,
        bilabial: torch.Tensor | None = None,
        voice: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """mel (B, N, n_mels), offsets (B, T, V, 3) targets, template (B, V, 3) ->
        {"total", and the parts}; the xmod mode needs an even B. `noise` (B, T, H, C): the
        Gumbel noise of each item (fresh noise when None). `bilabial` (B, T): the P/B/M phones
        (Windows._bilabial; needed by `seal_frames` "bilabial" and by `closure_weight`).
        `voice` (B,): the training voices (Windows), for the adversary; None (validation on
        unheard voices): no adversary."""
        by_phone = self.cfg.closure_weight or (
            self.cfg.seal_weight and self.cfg.seal_frames == "bilabial"
        )
        if by_phone and bilabial is None:
            raise ValueError(
                'closure_weight and seal_frames "bilabial" need the P/B/M frames of the batch'
            )
        audio = model.encode_audio(mel, offsets.shape[1], start)
        expr = model.encode_expression(offsets)
        out: dict[str, torch.Tensor] = {}
        if self.cfg.loss_mode == "l2":
            pred = model.decode(template, model.quantize(model.logits(audio, expr), noise)[0])
            out["l2"] = masked_l2(pred, offsets, self.all)
            audio_pred = expr_pred = pred
            total = out["l2"]
        else:
            if offsets.shape[0] % 2:
                raise ValueError("the cross-modality loss needs pairs: an even batch size")
            perm = torch.arange(offsets.shape[0], device=offsets.device) ^ 1  # swap in pairs
            noise_b = None if noise is None else noise[perm]  # a distinct draw for each decode
            audio_pred = model.decode(
                template, model.quantize(model.logits(audio, expr[perm]), noise)[0]
            )
            expr_pred = model.decode(
                template, model.quantize(model.logits(audio[perm], expr), noise_b)[0]
            )
            out["mouth"] = masked_l2(audio_pred, offsets, self.mouth)
            out["upper"] = masked_l2(expr_pred, offsets, self.upper)
            total = out["mouth"] + out["upper"]
        lid_frames = None
        if self.cfg.lid_seal_weight:  # closed lids (either eye), weighted as sealed lips are
            truth = offsets + template[:, None]
            lid_frames = torch.maximum(
                *(seal_weights(truth, pair, self.cfg.lid_seal_weight) for pair in self.lid_centres)
            )
        out["eyelid"] = gap_loss(expr_pred, offsets, self.lid_pairs, lid_frames)
        total = total + self.cfg.eyelid_weight * out["eyelid"]
        frames = None
        if self.cfg.seal_weight:
            where = bilabial != 0 if self.cfg.seal_frames == "bilabial" else None
            frames = seal_weights(
                offsets + template[:, None], self.lip_midline, self.cfg.seal_weight, where
            )
        if self.cfg.lip_weight:
            out["lip"] = gap_loss(audio_pred, offsets, self.lip_pairs, frames)
            total = total + self.cfg.lip_weight * out["lip"]
        if self.cfg.lip_vertex_weight:
            out["lipv"] = masked_l2(audio_pred, offsets, self.lips, frames)
            total = total + self.cfg.lip_vertex_weight * out["lipv"]
        if self.cfg.velocity_weight:
            steps = frames if self.cfg.velocity_seal else None
            out["velocity"] = velocity_l2(audio_pred, offsets, self.lips, steps)
            total = total + self.cfg.velocity_weight * out["velocity"]
        if self.cfg.width_weight:
            out["width"] = gap_loss(audio_pred, offsets, self.corners)
            total = total + self.cfg.width_weight * out["width"]
        if self.cfg.closure_weight:
            out["closure"] = closure_loss(
                audio_pred + template[:, None], self.lip_midline, bilabial
            )
            total = total + self.cfg.closure_weight * out["closure"]
        if self.adversary is not None and voice is not None:
            out["voice_ce"], out["voice_confusion"] = self.adversary(audio, voice)
            total = (
                total + out["voice_ce"] + self.cfg.voice_adversary_weight * out["voice_confusion"]
            )
        out["total"] = total
        return out


def prior_loss(logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of codes (B, T, H) under logits (B, T, H, C) (stage 2)."""
    return nn.functional.cross_entropy(logits.flatten(0, 2), codes.long().flatten())
