"""A voice classifier on the audio encoder's features, and the encoder's loss for confusing it
(training only; nothing of it is exported).

Why: the audio encoder learns its training voices (mouth loss 1.5-2 mm^2 on them, 3.5-4 on
unheard ones) and hears unheard recorded voices less well than pocketsphinx (docs/RESULTS.md).
The classifier learns to tell the training voices apart from each frame's features; the
encoder learns to leave its guesses uniform (the confusion loss of Tzeng et al. 2015), so
what is left in the features is what the voices have in common.

A gradient reversal (Ganin & Lempitsky 2015) was tried first: it asks the encoder to maximise
the classifier's cross-entropy, which has no ceiling, and within 500 steps the encoder made
the classifier confidently wrong (cross-entropy 2,700 nats) and lost the lips. The confusion
loss is least, 0, at a uniform guess.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


class VoiceAdversary(nn.Module):
    """Per-frame voice classifier on (B, T, audio_channels) features with (B,) voice labels.

    `forward` returns (cross-entropy, confusion), both per frame, in nats:
    - the cross-entropy of its guess (ln(voices) is chance), on detached features: only the
      classifier learns from it;
    - the confusion, the cross-entropy of its guess against a uniform one minus ln(voices)
      (0 when it cannot tell), through its weights held fixed: only the encoder learns from it.
    """

    def __init__(self, cfg: ModelConfig, voices: int) -> None:
        super().__init__()
        if voices < 2:
            raise ValueError(f"the voice adversary needs at least 2 training voices, got {voices}")
        self.slope = cfg.leaky_slope
        self.hidden = nn.Linear(cfg.audio_channels, cfg.audio_channels)
        self.out = nn.Linear(cfg.audio_channels, voices)

    def logits(self, features: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        """(B, T, voices) logits; `frozen`: no gradient reaches the classifier's weights."""

        def linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
            return F.linear(x, layer.weight.detach(), layer.bias.detach()) if frozen else layer(x)

        return linear(self.out, F.leaky_relu(linear(self.hidden, features), self.slope))

    def forward(
        self, features: torch.Tensor, voice: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.logits(features.detach())
        labels = voice.long()[:, None].expand(logits.shape[:2])
        ce = F.cross_entropy(logits.flatten(0, 1), labels.flatten())
        log_p = F.log_softmax(self.logits(features, frozen=True), dim=-1)
        confusion = -log_p.mean(dim=-1).mean() - math.log(log_p.shape[-1])
        return ce, confusion
