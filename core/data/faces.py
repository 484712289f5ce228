"""Vertices of corpus sequences, rebuilt from stored ARKit weights and the sequence's face:
identity vertices + weights @ identity-transferred unit deltas (numpy only)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .corpus import Sequence_
from .identities import identity_unit_deltas, identity_vertices


class FaceCache:
    """Identity vertices and transferred unit deltas for the most recent faces."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._faces: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def get(self, coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = coeffs.tobytes()
        if key not in self._faces:
            self._faces[key] = (identity_vertices(coeffs), identity_unit_deltas(coeffs))
            if len(self._faces) > self.size:
                self._faces.popitem(last=False)
        self._faces.move_to_end(key)
        return self._faces[key]

    def vertices(self, seq: Sequence_, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(T, V, 3) vertices of frames [start, stop) of a sequence."""
        rest, deltas = self.get(seq.identity)
        w = seq.weights[start:stop].astype(np.float32)
        return rest + np.einsum("tk,kvc->tvc", w, deltas, optimize=True)
