"""Sample formats: integer PCM or float, mono or multi-channel -> float32 mono."""

from __future__ import annotations

import numpy as np


class AudioError(Exception):
    """Audio that cannot be decoded or used (bad file, unsupported format, empty)."""


def to_float32(samples: np.ndarray) -> np.ndarray:
    """Integer PCM (int8/16/32, uint8) or float samples -> float32 in [-1, 1]."""
    x = np.asarray(samples)
    if x.dtype == np.uint8:
        return (x.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(x.dtype, np.signedinteger):
        out = x.astype(np.float32)
        out *= np.float32(1.0 / 2 ** (8 * x.dtype.itemsize - 1))
        return out
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32, copy=False)
    raise AudioError(f"unsupported sample dtype {x.dtype}")


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels: (n,), (n, channels) or channels-first (channels, n) -> (n,).

    A 2-D array is channels-first only when its first axis is short (<= 8) and its second
    long; otherwise it is read as frames x channels (soundfile's and our decoder's layout)."""
    x = to_float32(samples)
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise AudioError(f"audio must be 1-D or 2-D, got shape {x.shape}")
    if x.shape[0] <= 8 < x.shape[1]:
        x = x.T
    out = x[:, 0].copy()
    for c in range(1, x.shape[1]):  # channel by channel: no (n, channels) temporaries
        out += x[:, c]
    if x.shape[1] > 1:
        out *= np.float32(1.0 / x.shape[1])
    return out
