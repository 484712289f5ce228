"""ARKit curves as JSON, for web players (three.js morph targets, Ready Player Me and other
ARKit-keyed avatars):

    {"format": "meshtalk-arkit-curves", "version": 1, "fps": 30.0, "frames": T,
     "names": [52 camelCase ARKit names], "weights": [[52 weights], … one list per frame]}

Weights are rounded to 4 decimals (1e-4 of a unit's full motion is far below what shows),
which keeps a minute at 30 fps near 0.6 MB. One frame per line, streamed as blocks arrive.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

import numpy as np

FORMAT_NAME = "meshtalk-arkit-curves"
FORMAT_VERSION = 1
DECIMALS = 4


class ArkitCurvesJson:
    """The JSON document written to `stream` as weights arrive (`write_weights` with (n, 52)
    weights in `names` order); `finish` closes it and checks all `n_frames` were written
    (the count is in the header, before the weights)."""

    def __init__(self, stream: TextIO, fps: float, n_frames: int, names: Sequence[str]) -> None:
        if not fps > 0:
            raise ValueError(f"the frame rate must be positive, got {fps}")
        self._stream, self.n_frames, self.n_names = stream, int(n_frames), len(names)
        self.written = 0
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "fps": float(fps),
            "frames": self.n_frames,
            "names": list(names),
        }
        stream.write(json.dumps(header)[:-1] + ',\n"weights": [\n')

    def write_weights(self, weights: np.ndarray) -> None:
        weights = np.asarray(weights, np.float64)
        if weights.ndim != 2 or weights.shape[1] != self.n_names:
            raise ValueError(f"weights must be (n, {self.n_names}), got {weights.shape}")
        if not np.isfinite(weights).all():
            raise ValueError("the weights contain NaN or infinite values")
        if not len(weights):
            return
        rows = json.dumps((np.round(weights, DECIMALS) + 0.0).tolist(), separators=(",", ":"))
        text = rows[1:-1].replace("],[", "],\n[")
        self._stream.write((",\n" if self.written else "") + text)
        self.written += len(weights)

    def finish(self) -> None:
        if self.written != self.n_frames:
            raise ValueError(f"ARKit JSON: wrote {self.written} of {self.n_frames} frames")
        self._stream.write("\n]}\n")
