"""The network's audio features for a whole clip, by the front end its weights file names
(`NetworkConfig.front_end`): one call, so the CLI, the add-on and training read the same."""

from __future__ import annotations

import numpy as np

from ..config import NetworkConfig
from .logmel import log_mel, n_mel_frames, speech_mean


def n_feature_frames(n_samples: int, cfg: NetworkConfig) -> int:
    """How many feature frames `clip_features` makes for a clip of n_samples."""
    if cfg.front_end == "phonetic":
        from .phonetic import n_phonetic_frames

        return n_phonetic_frames(n_samples)
    return n_mel_frames(n_samples, cfg)


def switched_off(feats: np.ndarray, cfg: NetworkConfig) -> np.ndarray:
    """Phonetic features (..., 41) with the channels `cfg` switches off zeroed (in place):
    training reads cached features, so it and the runtime zero them here alike."""
    if cfg.front_end == "phonetic" and not cfg.loudness:
        from .phonetic import LOUDNESS

        feats[..., LOUDNESS] = 0.0
    return feats


def clip_features(audio16k: np.ndarray, cfg: NetworkConfig, workers: int = 1) -> np.ndarray:
    """(frames, cfg.n_features) float32 at 100 frames a second for mono 16-kHz audio.

    The whole clip at once: the phonetic front end normalises the cepstral mean over the
    clip, and the log-mel front end may subtract the clip's speech mean (a 10-minute clip's
    features are ~20 MB, so nothing needs chunking here). `workers`: threads for the
    phonetic front end's Gaussians (the same numbers on any count)."""
    if cfg.front_end == "phonetic":
        from .phonetic import load_acoustic_model, phonetic_features

        feats = phonetic_features(
            audio16k, load_acoustic_model(), smooth=cfg.phonetic_smoothing, workers=workers
        )
        feats = switched_off(feats, cfg)
    else:
        feats = log_mel(audio16k, cfg)
        if cfg.mel_centring == "utterance":
            feats -= speech_mean(feats, cfg)
    return np.ascontiguousarray(feats, np.float32)
