"""Vertices of corpus sequences, rebuilt from stored ARKit weights and the sequence's face:
identity vertices + weights @ identity-transferred unit deltas (numpy only).

Transferring the 52 unit deltas onto a face takes ~60 ms, far too slow to redo for every
training window, so `DeltaStore` keeps them in a derived float16 memmap beside the corpus
(built once, resumably, on both cores; ~1.6 MB a sequence). The corpus itself stays compact.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..runtime.template import apply_units
from .cache import MemmapCache
from .corpus import Sequence_
from .identities import identity_unit_deltas, identity_vertices

N_UNITS = 52


def sequence_vertices(
    seq: Sequence_, deltas: np.ndarray, start: int = 0, stop: int | None = None
) -> np.ndarray:
    """(T, V, 3) float32 vertices of frames [start, stop) given the face's unit deltas."""
    return apply_units(identity_vertices(seq.identity), deltas, seq.weights[start:stop])


class DeltaStore:
    """Transferred unit deltas of a list of sequences, cached in `<folder>/<name>.npy`."""

    def __init__(self, folder: Path, name: str, sequences: Sequence[Sequence_]) -> None:
        self.sequences = list(sequences)
        n_vertices = len(identity_vertices(self.sequences[0].identity))
        shape = (len(self.sequences), N_UNITS, n_vertices, 3)
        self.cache = MemmapCache(folder, name, shape, len(self.sequences))

    @property
    def store(self) -> np.ndarray:
        return self.cache.store

    def ensure(self, workers: int | None = None, progress: bool = True) -> None:
        """Compute every missing row (resumes: rows are marked done in chunks)."""

        def write(out: np.ndarray, k: int, deltas: np.ndarray) -> None:
            out[k] = deltas

        def job(items: np.ndarray) -> list[np.ndarray]:
            return [self.sequences[i].identity for i in items]

        self.cache.fill(job, _transfer, write, 64, workers, progress)

    def vertices(self, k: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        return sequence_vertices(self.sequences[k], self.store[k], start, stop)

    def rest(self, k: int) -> np.ndarray:
        return identity_vertices(self.sequences[k].identity)


def _transfer(coeffs: list[np.ndarray]) -> np.ndarray:
    return np.stack([identity_unit_deltas(c) for c in coeffs]).astype(np.float16)
