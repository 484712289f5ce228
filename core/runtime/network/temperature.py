"""The prior's sampling temperature, frame by frame: one for speech, one for pauses.

Why two: where the audio says little (a pause), the prior's code distribution is broad, and
where it speaks, the mouth pins the codes down. With one temperature the sampled blinks
crowd into pauses and thin out in speech: at the temperature that gave the data's overall
blink rate, 36 blinks a minute in the validation split's pauses and 3 in its speech, against
the data's 21 and 15 (docs/RESULTS.md, "Blinks by context"). A weights file may carry a
second scale for pauses (`pause_temperature_scale`, calibrated on the validation split like
`temperature_scale`); each frame's temperature blends the two by how silent the audio around
it is: the phonetic posteriorgram's SIL column, averaged over `PAUSE_WINDOW_S`.
"""

from __future__ import annotations

import numpy as np

from ..config import NetworkConfig

PAUSE_WINDOW_S = 0.5  # a frame is "in a pause" when the half second around it is silence


def pause_weights(features: np.ndarray, n_frames: int, cfg: NetworkConfig) -> np.ndarray:
    """(n_frames,) float32 in [0, 1]: the mean SIL posterior of the phonetic features
    (100 frames a second) within PAUSE_WINDOW_S around each video frame's time."""
    from ..audio.phonetic import SIL

    sil = np.asarray(features, np.float64)[:, SIL]
    total = np.concatenate([[0.0], np.cumsum(sil)])
    centre = np.arange(n_frames) / cfg.fps * cfg.mel_fps
    half = PAUSE_WINDOW_S / 2 * cfg.mel_fps
    lo = np.clip(np.round(centre - half).astype(np.int64), 0, len(sil))
    hi = np.clip(np.round(centre + half).astype(np.int64) + 1, 0, len(sil))
    mean = (total[hi] - total[lo]) / np.maximum(hi - lo, 1)
    return np.clip(mean, 0.0, 1.0).astype(np.float32)


def frame_temperatures(
    features: np.ndarray,
    n_frames: int,
    cfg: NetworkConfig,
    temperature: float,
    speech_scale: float,
    pause_scale: float | None,
) -> float | np.ndarray:
    """The sampling temperature of every video frame for a user's `temperature`
    (expressiveness): a number when the file has one scale (or the front end has no SIL
    column), else (n_frames,) float32 between temperature x speech_scale in speech and
    temperature x pause_scale in pauses."""
    if pause_scale is None or cfg.front_end != "phonetic":
        return temperature * speech_scale
    weight = pause_weights(features, n_frames, cfg)
    scale = np.float32(speech_scale) + np.float32(pause_scale - speech_scale) * weight
    return (np.float32(temperature) * scale).astype(np.float32)
