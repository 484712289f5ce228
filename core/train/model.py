"""The MeshTalk network in torch (training only; the add-on runs `core.runtime` instead).

Stage 1 (`MeshTalk`): audio encoder + expression encoder -> fusion -> H x C categorical
latent (straight-through Gumbel-softmax) -> decoder(template, latent) -> vertex offsets.
Stage 2 (`AudioPrior`): an autoregressive, audio-conditioned model over the stage-1 codes.
Shapes come from `ModelConfig`; docs/MODEL.md describes the design and its reasons.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.audio import video_positions
from ..runtime.network.layers import gumbel_noise
from .config import ModelConfig


def _lrelu(x: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    return F.leaky_relu(x, cfg.leaky_slope)


def to_video_rate(features: torch.Tensor, start: int, stop: int, cfg: ModelConfig) -> torch.Tensor:
    """(B, N, D) mel-rate features -> (B, stop-start, D) at video frames [start, stop), by
    linear interpolation at each frame's (look-ahead shifted) mel position."""
    i0, i1, w = video_positions(start, stop, features.shape[1], cfg)
    w_t = torch.from_numpy(w).to(features)[None, :, None]
    return features[:, torch.from_numpy(i0)] * (1 - w_t) + features[:, torch.from_numpy(i1)] * w_t


class AudioEncoder(nn.Module):
    """Log-mel (B, N, n_mels) -> (B, N, audio_channels) at the mel rate (100 fps).

    "Same"-padded convs, so every output frame sees `audio_half_context` frames on each side
    (0.5 s by default); the look-ahead is set by where video frames read it."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        k, ch = cfg.audio_kernel, cfg.audio_channels
        self.register_buffer("mel_mean", torch.zeros(cfg.n_features))
        self.register_buffer("mel_std", torch.ones(cfg.n_features))
        self.inp = nn.Conv1d(cfg.n_features, ch, k, padding=(k - 1) // 2)
        self.convs = nn.ModuleList(
            nn.Conv1d(ch, ch, k, dilation=d, padding=d * (k - 1) // 2) for d in cfg.audio_dilations
        )

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = ((mel - self.mel_mean) / self.mel_std).transpose(1, 2)
        x = _lrelu(self.inp(x), self.cfg)
        for conv in self.convs:
            x = x + _lrelu(conv(x), self.cfg)
        return x.transpose(1, 2)


class ExpressionEncoder(nn.Module):
    """Normalised offsets (B, T, V*3) -> (B, T, expression_dim): per-frame MLP, LSTM, linear."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        widths = (cfg.n_vertices * 3, *cfg.expression_widths)
        self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(widths))
        self.lstm = nn.LSTM(widths[-1], cfg.expression_dim, batch_first=True)
        self.out = nn.Linear(cfg.expression_dim, cfg.expression_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.mlp:
            x = _lrelu(layer(x), self.cfg)
        x, _ = self.lstm(x)
        return self.out(x)


class Fusion(nn.Module):
    """(audio, expression) features -> (B, T, H, C) logits of the categorical latent."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        widths = (cfg.audio_channels + cfg.expression_dim, *cfg.fusion_widths, cfg.n_codes)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(widths))

    def forward(self, audio: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        x = torch.cat([audio, expression], dim=-1)
        for layer in self.layers[:-1]:
            x = _lrelu(layer(x), self.cfg)
        x = self.layers[-1](x)
        return x.view(*x.shape[:-1], self.cfg.heads, self.cfg.categories)


def gumbel_softmax_st(
    logits: torch.Tensor, tau: float = 1.0, noise: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Straight-through Gumbel-softmax: a hard one-hot forward, the soft sample's gradient
    backward. Returns (one_hot, codes)."""
    if noise is None:
        u = torch.rand_like(logits).clamp_(1e-10, 1.0 - 1e-7)
        noise = -torch.log(-torch.log(u))
    soft = F.softmax((logits + noise) / tau, dim=-1)
    codes = soft.argmax(dim=-1)
    hard = F.one_hot(codes, logits.shape[-1]).to(soft)
    return hard - soft.detach() + soft, codes


def codes_to_onehot(codes: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """(..., H) integer codes -> (..., H, C) float one-hot."""
    return F.one_hot(codes.long(), cfg.categories).float()


class Decoder(nn.Module):
    """(template (B, V, 3), one-hot latent (B, T, H, C)) -> K basis coefficients per frame.

    The template goes through `template_widths` FC layers; the last (latent_dim) is
    concatenated with the projected latent and fed to the LSTMs; after them FC layers
    mirror the template widths, each adding the template layer of the same width (additive
    skips), and a linear head outputs coefficients of a fixed output basis:
    offsets = (coeffs @ basis) * std + mean."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        v3, widths = cfg.n_vertices * 3, cfg.template_widths
        tw = (v3, *widths)
        self.template_layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(tw))
        self.code_proj = nn.Linear(cfg.n_codes, cfg.latent_dim)
        self.lstm = nn.LSTM(
            2 * cfg.latent_dim, cfg.decoder_hidden, cfg.decoder_lstm_layers, batch_first=True
        )
        dw = (cfg.decoder_hidden, *cfg.decoder_widths)
        self.out_layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(dw))
        self.head = nn.Linear(dw[-1], cfg.basis_size)
        self.register_buffer("template_mean", torch.zeros(cfg.n_vertices, 3))
        self.register_buffer("basis", torch.zeros(cfg.basis_size, v3))
        self.register_buffer("out_mean", torch.zeros(cfg.n_vertices, 3))
        self.register_buffer("out_std", torch.ones(cfg.n_vertices, 3))

    def identity(self, template: torch.Tensor) -> list[torch.Tensor]:
        """Template (B, V, 3) -> its features after each template layer."""
        x = ((template - self.template_mean) * self.cfg.template_scale).flatten(1)
        feats = []
        for layer in self.template_layers:
            x = _lrelu(layer(x), self.cfg)
            feats.append(x)
        return feats

    def coefficients(self, template: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """(B, V, 3), (B, T, H, C) -> (B, T, K)."""
        feats = self.identity(template)
        z = self.code_proj(onehot.flatten(2))
        ident = feats[-1][:, None].expand(-1, z.shape[1], -1)
        x, _ = self.lstm(torch.cat([ident, z], dim=-1))
        for layer, skip in zip(self.out_layers, reversed(feats[:-1]), strict=True):
            x = _lrelu(layer(x), self.cfg) + skip[:, None]
        return self.head(x)

    def offsets(self, coeffs: torch.Tensor) -> torch.Tensor:
        """(..., K) -> (..., V, 3) offsets from the template, in metres."""
        flat = coeffs @ self.basis
        return flat.view(*coeffs.shape[:-1], self.cfg.n_vertices, 3) * self.out_std + self.out_mean

    def forward(self, template: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        return self.offsets(self.coefficients(template, onehot))


class MeshTalk(nn.Module):
    """Stage 1: the full encoder-decoder with the categorical latent."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.audio_encoder = AudioEncoder(cfg)
        self.expression_encoder = ExpressionEncoder(cfg)
        self.fusion = Fusion(cfg)
        self.decoder = Decoder(cfg)

    # setup from data ------------------------------------------------------------------
    @torch.no_grad()
    def set_output_basis(self, mean: np.ndarray, std: np.ndarray, basis: np.ndarray) -> None:
        """Fix the decoder's output space: mean (V, 3) offset, per-vertex std (V,) or (V, 3),
        basis (K, V*3) or (K, V, 3) in normalised units (e.g. PCA of (offsets-mean)/std)."""
        v, k = self.cfg.n_vertices, self.cfg.basis_size
        std = np.asarray(std, np.float32)
        std = np.broadcast_to(std[:, None] if std.ndim == 1 else std, (v, 3))
        dec = self.decoder
        dec.out_mean.copy_(torch.as_tensor(np.asarray(mean, np.float32).reshape(v, 3)))
        dec.out_std.copy_(torch.as_tensor(np.array(std)))
        dec.basis.copy_(torch.as_tensor(np.asarray(basis, np.float32).reshape(k, v * 3)))

    @torch.no_grad()
    def set_template_mean(self, template_mean: np.ndarray) -> None:
        """The mean identity: the decoder sees (template - mean) * template_scale."""
        self.decoder.template_mean.copy_(torch.as_tensor(np.asarray(template_mean, np.float32)))

    @torch.no_grad()
    def set_mel_normalisation(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Per-band statistics of the training log-mels (the encoder sees (mel-mean)/std)."""
        self.audio_encoder.mel_mean.copy_(torch.as_tensor(np.asarray(mean, np.float32)))
        self.audio_encoder.mel_std.copy_(torch.as_tensor(np.asarray(std, np.float32)))

    # the stages -----------------------------------------------------------------------
    def encode_audio(self, mel: torch.Tensor, n_frames: int, start: int = 0) -> torch.Tensor:
        """Log-mel (B, N, n_mels) of a whole clip -> (B, n_frames, D) for video frames
        [start, start + n_frames)."""
        return to_video_rate(self.audio_encoder(mel), start, start + n_frames, self.cfg)

    def encode_expression(self, offsets: torch.Tensor) -> torch.Tensor:
        """Offsets (B, T, V, 3) from the template -> (B, T, expression_dim)."""
        dec = self.decoder
        return self.expression_encoder(((offsets - dec.out_mean) / dec.out_std).flatten(2))

    def logits(self, audio: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        return self.fusion(audio, expression)

    def quantize(
        self, logits: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: straight-through Gumbel sample (with the given Gumbel `noise`, or fresh
        noise). Eval: the argmax (deterministic codes, e.g. stage-2 training targets)."""
        if self.training:
            return gumbel_softmax_st(logits, self.cfg.gumbel_tau, noise)
        codes = logits.argmax(dim=-1)
        return codes_to_onehot(codes, self.cfg), codes

    def decode(self, template: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """Template (B, V, 3), one-hot (B, T, H, C) -> offsets (B, T, V, 3)."""
        return self.decoder(template, onehot)

    def forward(
        self, mel: torch.Tensor, offsets: torch.Tensor, template: torch.Tensor, start: int = 0
    ) -> dict[str, torch.Tensor]:
        """Reconstruct `offsets` (B, T, V, 3) from its audio and itself (plain autoencoding;
        the cross-modality pairs are built by `core.losses.StageOneLoss`)."""
        audio = self.encode_audio(mel, offsets.shape[1], start)
        logits = self.logits(audio, self.encode_expression(offsets))
        onehot, codes = self.quantize(logits)
        return {"offsets": self.decode(template, onehot), "logits": logits, "codes": codes}


class AudioPrior(nn.Module):
    """Stage 2: p(codes_t | codes_<t, audio) with heads independent given the past.

    Input at frame t is the summed embedding of the H codes of frame t-1 (a learned start
    vector at t=0); causal convs (kernel 2, dilations 1,2,4,8: 16 frames of history) with
    the audio features added at every layer; a linear head gives all H x C logits at once,
    so sampling is one step per frame, vectorised over heads (docs/MODEL.md: why)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.prior_channels
        self.embed = nn.Embedding(cfg.n_codes, d)
        self.start = nn.Parameter(torch.zeros(d))
        self.audio_in = nn.Linear(cfg.audio_channels, d)
        self.convs = nn.ModuleList(
            nn.Conv1d(d, d, cfg.prior_kernel, dilation=dil) for dil in cfg.prior_dilations
        )
        self.audio_proj = nn.ModuleList(
            nn.Linear(cfg.audio_channels, d) for _ in cfg.prior_dilations
        )
        self.out = nn.Linear(d, cfg.n_codes)
        self.register_buffer("head_offset", torch.arange(cfg.heads) * cfg.categories)

    def forward(self, codes: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits: codes (B, T, H) int, audio (B, T, D) -> (B, T, H, C); the
        logits at t depend on codes before t only."""
        b, t, _ = codes.shape
        emb = self.embed(codes.long() + self.head_offset).sum(dim=2)
        x = torch.cat([self.start.expand(b, 1, -1), emb[:, :-1]], dim=1)
        h = x + self.audio_in(audio)
        for conv, proj, dil in zip(
            self.convs, self.audio_proj, self.cfg.prior_dilations, strict=True
        ):
            y = conv(F.pad(h.transpose(1, 2), (dil * (self.cfg.prior_kernel - 1), 0)))
            h = h + _lrelu(y.transpose(1, 2) + proj(audio), self.cfg)
        return self.out(_lrelu(h, self.cfg)).view(b, t, self.cfg.heads, self.cfg.categories)

    def loss(self, codes: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the stage-1 codes (B, T, H) under the teacher-forced prior."""
        logits = self(codes, audio)
        return F.cross_entropy(logits.flatten(0, 2), codes.long().flatten())

    @torch.no_grad()
    def sample(
        self,
        audio: torch.Tensor,
        seed: int | np.random.Generator = 0,
        temperature: float | np.ndarray = 1.0,
        argmax: bool = False,
    ) -> torch.Tensor:
        """Codes (T, H) for audio features (T, D), frame by frame (reference implementation:
        it recomputes the receptive field every frame; the numpy runtime caches conv states).
        Gumbel noise is drawn with numpy so the runtime draws the same numbers.
        `temperature`: one number, or one per frame (T,) float32 (the runtime's
        `frame_temperatures`)."""
        t_total, cfg = audio.shape[0], self.cfg
        greedy = argmax or bool(np.all(np.asarray(temperature) <= 0))
        temps = np.broadcast_to(np.asarray(temperature, np.float32), (t_total,))
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        noise = None if greedy else torch.from_numpy(gumbel_noise(rng, t_total, cfg))
        codes = torch.zeros(1, t_total, cfg.heads, dtype=torch.long)
        # only the last receptive field matters: the window's first input (the start vector)
        # and its conv padding lie outside the receptive field of its last frame
        rf = cfg.prior_receptive_field
        for t in range(t_total):
            lo = max(0, t - rf)
            logits = self(codes[:, lo : t + 1], audio[None, lo : t + 1])[0, -1]
            if greedy:
                codes[0, t] = logits.argmax(-1)
            else:  # = a sample of softmax(logits / temperature): the Gumbel-max trick
                codes[0, t] = (logits + float(temps[t]) * noise[t]).argmax(-1)
        return codes[0]


def default_output_basis(
    arkit_deltas: np.ndarray, basis_size: int, seed: int = 0, floor: float = 1e-4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A development output space before PCA of real data exists: per-vertex std = RMS of
    the ARKit deltas (floored), basis rows = the normalised deltas orthonormalised, padded
    with random orthogonal directions, scaled so that a coefficient of 1 moves about as
    much as one ARKit unit. Returns (mean (V,3) zeros, std (V,3), basis (K, V*3))."""
    deltas = np.asarray(arkit_deltas, np.float64)
    n_units, v, _ = deltas.shape
    std = np.maximum(np.sqrt((deltas**2).sum(axis=2).mean(axis=0) / 3.0), floor)
    normed = (deltas / std[None, :, None]).reshape(n_units, -1)
    rng = np.random.default_rng(seed)
    extra = rng.standard_normal((max(0, basis_size - n_units), v * 3))
    q, _ = np.linalg.qr(np.concatenate([normed, extra])[:basis_size].T)
    scale = np.median(np.linalg.norm(normed, axis=1))
    basis = (q.T * scale).astype(np.float32)
    std3 = np.repeat(std[:, None], 3, axis=1).astype(np.float32)
    return np.zeros((v, 3), np.float32), std3, basis
