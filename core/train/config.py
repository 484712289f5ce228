"""The training run's settings: the runtime's `NetworkConfig` plus what only training uses
(the expression encoder, the fusion, Gumbel-softmax, the losses). Read from a TOML file's
[model] table; exported weights files carry the network part only."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..runtime.config import NetworkConfig

LOSS_MODES = ("xmod", "l2")
SEAL_FRAMES = ("sealed", "bilabial")
# The loss settings: what a refine takes from its own config (the network itself comes from
# the refined run).
LOSS_SETTINGS = (
    "eyelid_weight",
    "lid_seal_weight",
    "lip_weight",
    "seal_weight",
    "seal_frames",
    "lip_vertex_weight",
    "closure_weight",
    "velocity_weight",
    "velocity_seal",
    "width_weight",
    "voice_adversary_weight",
)
# What a refine takes from its own config besides the losses: the front end's centring (the
# refine then measures the mel statistics again, on the centred input).
FRONT_END_SETTINGS = ("mel_centring",)


@dataclass(frozen=True)
class ModelConfig(NetworkConfig):
    """The network's shapes plus the training-only parts and loss weights."""

    # expression encoder
    expression_widths: tuple[int, ...] = (256, 128)
    expression_dim: int = 128
    # fusion into the categorical latent
    fusion_widths: tuple[int, ...] = (256, 256)
    gumbel_tau: float = 1.0
    # losses
    loss_mode: str = "xmod"  # "xmod" (cross-modality) or "l2" (the ablation)
    eyelid_weight: float = 1.0
    # extra eyelid-gap weight on frames whose true lids are closed at either pupil (under the
    # evaluation's CLOSED_MM): blinks are ~3 % of the frames, as seals are of the lips'
    lid_seal_weight: float = 0.0
    lip_weight: float = 0.0  # x the lip-gap loss (upper-minus-lower lip vectors, mm^2)
    seal_weight: float = 0.0  # extra lip-gap (and lip-vertex) weight on frames with sealed lips
    # which sealed frames get it: "sealed", all of them; "bilabial", those inside a P/B/M
    # (lips also rest sealed in silence; weighting those biased uncertain frames to a seal)
    seal_frames: str = "sealed"
    lip_vertex_weight: float = 0.0  # x the L2 of the lip vertices (those LVE measures), mm^2
    closure_weight: float = 0.0  # x each P/B/M's shortfall from a seal at its tightest frame
    # x the L2 of the lip vertices' frame-to-frame motion against the truth's, mm^2 (the lips
    # jitter where the truth glides)
    velocity_weight: float = 0.0
    # weight each motion step into or out of a seal-weighted frame like that frame
    velocity_seal: bool = False
    # x the squared error (mm^2) of the corner-to-corner vector of the mouth on the audio-driven
    # reconstruction: rounding (W, UW, OW) narrows the mouth by 5-7 mm, a change the vertex
    # L2 over the whole mouth hardly weighs
    width_weight: float = 0.0
    # x the confusion of a voice classifier on the audio features (core.train.voice_adversary)
    voice_adversary_weight: float = 0.0
    mouth_regions: tuple[str, ...] = ("mouth",)
    upper_regions: tuple[str, ...] = ("upper_face",)
    mask_background: float = 0.0  # weight of vertices outside a loss mask's regions

    def problems(self) -> list[str]:
        problems = super().problems()
        if self.loss_mode not in LOSS_MODES:
            problems.append(f"loss_mode must be one of {LOSS_MODES}, got {self.loss_mode!r}")
        if self.voice_adversary_weight < 0:
            problems.append(f"voice_adversary_weight must be >= 0: {self.voice_adversary_weight}")
        if self.seal_frames not in SEAL_FRAMES:
            problems.append(f"seal_frames must be one of {SEAL_FRAMES}, got {self.seal_frames!r}")
        return problems

    def network(self) -> NetworkConfig:
        """The runtime's part of these settings."""
        return NetworkConfig.from_dict(self.network_dict())

    @classmethod
    def from_toml(cls, path: str | Path) -> ModelConfig:
        """Read the [model] table of a TOML file (or the whole file if it has no such table)."""
        with open(path, "rb") as f:
            data = tomllib.load(f)
        return cls.from_dict(data.get("model", data))
