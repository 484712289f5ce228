"""One description of the network's shapes and hyper-parameters (stdlib only).

The torch model, the numpy runtime and the exported weights file all read the same
`ModelConfig`; the weights file carries it as JSON, so a runtime never guesses a shape.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

LOSS_MODES = ("xmod", "l2")
SEAL_FRAMES = ("sealed", "bilabial")
MEL_CENTRINGS = ("none", "utterance")
# The loss settings of ModelConfig: what a refine takes from its own config (the network
# itself comes from the refined run).
LOSS_SETTINGS = (
    "eyelid_weight",
    "lip_weight",
    "seal_weight",
    "seal_frames",
    "lip_vertex_weight",
    "closure_weight",
    "velocity_weight",
    "velocity_seal",
    "voice_adversary_weight",
)
# What a refine takes from its own config besides the losses: the front end's centring (the
# refine then measures the mel statistics again, on the centred input).
FRONT_END_SETTINGS = ("mel_centring",)


@dataclass(frozen=True)
class ModelConfig:
    """Shapes and hyper-parameters of the MeshTalk network and its audio front end."""

    # audio front end (log-mel, librosa conventions: centred frames, slaney mel scale + norm)
    sample_rate: int = 16000
    n_mels: int = 80
    hop_length: int = 160  # 10 ms -> 100 mel frames per second
    win_length: int = 800  # 50 ms Hann window
    n_fft: int = 800  # = win_length: zero-padding adds no resolution, 800 = 2^5 5^2 is fast
    fmin: float = 0.0
    fmax: float = 8000.0
    log_eps: float = 1e-6  # log(mel + eps): a floor for digital silence
    # "utterance": each clip's log-mel minus its mean over the clip's speech frames
    # (`audio.speech_mean`), as speech recognisers normalise each utterance's cepstral mean.
    # Why: it takes out the voice's and the microphone's average spectrum and the level, which
    # say nothing about the phones; the network heard an unheard recorded voice less well than
    # pocketsphinx, which does this (docs/RESULTS.md). "none": the log-mel as it is.
    mel_centring: str = "none"
    # video
    fps: int = 30
    n_vertices: int = 5084
    # audio encoder: conv k5 then residual dilated convs, all at the mel frame rate
    audio_channels: int = 128
    audio_kernel: int = 5
    audio_dilations: tuple[int, ...] = (2, 4, 6, 2, 4, 6)
    audio_lookahead: int = 50  # mel frames (10 ms each) of future audio seen by a frame
    leaky_slope: float = 0.2
    # expression encoder (training only)
    expression_widths: tuple[int, ...] = (256, 128)
    expression_dim: int = 128
    # fusion and the categorical latent
    fusion_widths: tuple[int, ...] = (256, 256)
    heads: int = 16
    categories: int = 128
    gumbel_tau: float = 1.0
    # decoder
    template_widths: tuple[int, ...] = (256, 256, 128)
    latent_dim: int = 128
    decoder_hidden: int = 128
    decoder_lstm_layers: int = 2
    basis_size: int = 128
    template_scale: float = 100.0  # template offsets from the reference, metres -> cm
    # stage 2: autoregressive audio-conditioned prior over the codes
    prior_channels: int = 128
    prior_kernel: int = 2
    prior_dilations: tuple[int, ...] = (1, 2, 4, 8)
    # losses (training only)
    loss_mode: str = "xmod"  # "xmod" (cross-modality) or "l2" (the ablation)
    eyelid_weight: float = 1.0
    lip_weight: float = 0.0  # x the lip-gap loss (upper-minus-lower lip vectors, mm^2)
    seal_weight: float = 0.0  # extra lip-gap (and lip-vertex) weight on frames with sealed lips
    # which sealed frames get it: "sealed", all of them; "bilabial", those inside a P/B/M.
    # Why: lips also rest sealed in silence and between phones, and weighting those 1 + 16 biased
    # every frame whose audio leaves the mouth uncertain towards a seal (docs/RESULTS.md).
    seal_frames: str = "sealed"
    lip_vertex_weight: float = 0.0  # x the L2 of the lip vertices (those LVE measures), mm^2
    closure_weight: float = 0.0  # x each P/B/M's shortfall from a seal at its tightest frame
    # x the L2 of the lip vertices' frame-to-frame motion against the truth's, mm^2. Why: the
    # network's lips jitter where the truth glides (a temporal blur lowered LVE, but blurred
    # the seals away with it). At 16 it took 0.09 mm off LVE and cost seals (docs/RESULTS.md).
    velocity_weight: float = 0.0
    # weight each motion step into or out of a seal-weighted frame like that frame (1 +
    # seal_weight). Why: with the motion loss alone the network hedged and sealed less.
    velocity_seal: bool = False
    # x the confusion of a voice classifier on the audio features (nats above a uniform guess;
    # core.voice_adversary). Why: the encoder learns its training voices and hears unheard
    # recorded voices less well than a recogniser trained on many speakers. At 10 and 50 it
    # did not help: less of the voice in the features, worse lips (docs/RESULTS.md).
    voice_adversary_weight: float = 0.0
    mouth_regions: tuple[str, ...] = ("mouth",)
    upper_regions: tuple[str, ...] = ("upper_face",)
    mask_background: float = 0.0  # weight of vertices outside a loss mask's regions

    def __post_init__(self) -> None:
        problems = []
        if self.win_length > self.n_fft:
            problems.append(f"win_length {self.win_length} > n_fft {self.n_fft}")
        if self.audio_kernel % 2 != 1:
            problems.append(f"audio_kernel must be odd, got {self.audio_kernel}")
        if not 0 <= self.audio_lookahead <= 2 * self.audio_half_context:
            problems.append(
                f"audio_lookahead must be in [0, {2 * self.audio_half_context}] mel frames"
            )
        if self.prior_kernel != 2:
            problems.append("prior_kernel must be 2 (the incremental runtime assumes it)")
        if self.loss_mode not in LOSS_MODES:
            problems.append(f"loss_mode must be one of {LOSS_MODES}, got {self.loss_mode!r}")
        if self.mel_centring not in MEL_CENTRINGS:
            problems.append(
                f"mel_centring must be one of {MEL_CENTRINGS}, got {self.mel_centring!r}"
            )
        if self.voice_adversary_weight < 0:
            problems.append(f"voice_adversary_weight must be >= 0: {self.voice_adversary_weight}")
        if self.seal_frames not in SEAL_FRAMES:
            problems.append(f"seal_frames must be one of {SEAL_FRAMES}, got {self.seal_frames!r}")
        if len(self.template_widths) < 1 or self.template_widths[-1] != self.latent_dim:
            problems.append("template_widths must end with latent_dim")
        if self.fmax > self.sample_rate / 2:
            problems.append(f"fmax {self.fmax} above Nyquist {self.sample_rate / 2}")
        if problems:
            raise ValueError("invalid ModelConfig: " + "; ".join(problems))

    # derived quantities ---------------------------------------------------------------
    @property
    def n_codes(self) -> int:
        """H*C: width of the one-hot latent of one frame."""
        return self.heads * self.categories

    @property
    def mel_fps(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def audio_half_context(self) -> int:
        """Mel frames each side of a frame seen by the symmetric conv stack (50 -> 0.5 s)."""
        half = (self.audio_kernel - 1) // 2
        return half * (1 + sum(self.audio_dilations))

    @property
    def audio_shift(self) -> int:
        """How many mel frames earlier than its own time a video frame reads the encoder, so
        that the context it sees ends `audio_lookahead` frames after it."""
        return self.audio_half_context - self.audio_lookahead

    @property
    def prior_receptive_field(self) -> int:
        """Past frames of codes that a prior prediction depends on."""
        return 1 + sum(d * (self.prior_kernel - 1) for d in self.prior_dilations)

    @property
    def decoder_widths(self) -> tuple[int, ...]:
        """Widths after the LSTMs: the template widths mirrored (additive U-Net skips)."""
        return tuple(reversed(self.template_widths[:-1]))

    # serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a dict; unknown keys are an error (a typo must not pass silently)."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown ModelConfig keys: {', '.join(unknown)}")
        kwargs = {}
        for key, value in data.items():
            default = getattr(cls, key, None)
            kwargs[key] = tuple(value) if isinstance(default, tuple) else value
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_toml(cls, path: str | Path) -> ModelConfig:
        """Read the [model] table of a TOML file (or the whole file if it has no such table)."""
        with open(path, "rb") as f:
            data = tomllib.load(f)
        return cls.from_dict(data.get("model", data))
