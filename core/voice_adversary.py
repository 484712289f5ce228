"""A voice classifier on the audio encoder's features, trained through a gradient reversal
(training only; nothing of it is exported).

Why: the audio encoder learns its training voices (mouth loss 1.5-2 mm^2 on them, 3.5-4 on
unheard ones) and hears unheard recorded voices less well than pocketsphinx (docs/RESULTS.md).
The classifier learns to tell the training voices apart from each frame's features; the
reversed gradient teaches the encoder to leave out what tells them apart (domain-adversarial
training, Ganin & Lempitsky 2015), so what is left is what the phones have in common.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


class _Reverse(torch.autograd.Function):
    """Identity forward; the gradient times -scale backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """x, with the gradient that flows back through it multiplied by -scale."""
    return _Reverse.apply(x, scale)


class VoiceAdversary(nn.Module):
    """Per-frame voice classifier: (B, T, audio_channels) features, (B,) voice indices ->
    cross-entropy (nats; ln(voices) is chance). Its own weights descend the cross-entropy;
    the features receive its gradient reversed and scaled by `voice_adversary_weight`."""

    def __init__(self, cfg: ModelConfig, voices: int) -> None:
        super().__init__()
        if voices < 2:
            raise ValueError(f"the voice adversary needs at least 2 training voices, got {voices}")
        self.scale = cfg.voice_adversary_weight
        self.slope = cfg.leaky_slope
        self.hidden = nn.Linear(cfg.audio_channels, cfg.audio_channels)
        self.out = nn.Linear(cfg.audio_channels, voices)

    def forward(self, features: torch.Tensor, voice: torch.Tensor) -> torch.Tensor:
        x = reverse_gradient(features, self.scale)
        logits = self.out(F.leaky_relu(self.hidden(x), self.slope))
        labels = voice.long()[:, None].expand(logits.shape[:2])
        return F.cross_entropy(logits.flatten(0, 1), labels.flatten())
