"""Audio in numpy alone: decoding (`decode`), resampling (`resample`) and the network's
front ends (`logmel`)."""

from .decode import load_audio, prepare_audio, read_audio
from .logmel import (
    log_mel,
    log_mel_range,
    n_mel_frames,
    n_video_frames,
    utterance_offset,
    video_positions,
)
from .resampling import resample
from .samples import AudioError, to_float32, to_mono

__all__ = [
    "AudioError",
    "load_audio",
    "log_mel",
    "log_mel_range",
    "n_mel_frames",
    "n_video_frames",
    "prepare_audio",
    "read_audio",
    "resample",
    "to_float32",
    "to_mono",
    "utterance_offset",
    "video_positions",
]
