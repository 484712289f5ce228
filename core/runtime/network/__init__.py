"""The MeshTalk network in numpy: weights file, layers, the three modules (audio encoder,
autoregressive prior, decoder) and `Animator`, which runs them over a clip in chunks."""

from ..config import NetworkConfig
from .animator import DEFAULT_CHUNK_FRAMES, Animator
from .weights import (
    FORMAT_VERSION,
    WeightsError,
    WeightsFileError,
    WeightsFormatError,
    WeightsMismatchError,
    load_weights,
    read_config,
)

__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "FORMAT_VERSION",
    "Animator",
    "NetworkConfig",
    "WeightsError",
    "WeightsFileError",
    "WeightsFormatError",
    "WeightsMismatchError",
    "load_weights",
    "read_config",
]
