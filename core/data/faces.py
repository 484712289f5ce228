"""Vertices of corpus sequences, rebuilt from stored ARKit weights and the sequence's face:
identity vertices + weights @ identity-transferred unit deltas (numpy only).

Transferring the 52 unit deltas onto a face takes ~60 ms, far too slow to redo for every
training window, so `DeltaStore` keeps them in a derived float16 memmap beside the corpus
(built once, resumably, on both cores; ~1.6 MB a sequence). The corpus itself stays compact.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..template import apply_units
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
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{name}.npy"
        self.done_path = folder / f"{name}.done.npy"
        n_vertices = len(identity_vertices(self.sequences[0].identity))
        shape = (len(self.sequences), N_UNITS, n_vertices, 3)
        if not self.path.exists() or np.load(self.path, mmap_mode="r").shape != shape:
            np.lib.format.open_memmap(self.path, "w+", np.float16, shape).flush()
            np.save(self.done_path, np.zeros(len(self.sequences), bool))
        self.store = np.load(self.path, mmap_mode="r")

    def ensure(self, workers: int | None = None, progress: bool = True) -> None:
        """Compute every missing row (resumes: rows are marked done in chunks)."""
        done = np.load(self.done_path)
        todo = np.flatnonzero(~done)
        if not len(todo):
            return
        from tqdm import tqdm

        chunks = np.array_split(todo, max(1, len(todo) // 64))
        coeffs = [[self.sequences[i].identity for i in c] for c in chunks]
        out = np.lib.format.open_memmap(self.path, "r+")
        with ProcessPoolExecutor(workers or os.cpu_count() or 1) as pool:
            bar = tqdm(total=len(todo), desc=f"face deltas {self.path.stem}", disable=not progress)
            for chunk, rows in zip(chunks, pool.map(_transfer, coeffs), strict=True):
                out[chunk] = rows
                out.flush()
                done[chunk] = True
                np.save(self.done_path, done)
                bar.update(len(chunk))
            bar.close()
        self.store = np.load(self.path, mmap_mode="r")

    def vertices(self, k: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        return sequence_vertices(self.sequences[k], self.store[k], start, stop)

    def rest(self, k: int) -> np.ndarray:
        return identity_vertices(self.sequences[k].identity)


def _transfer(coeffs: list[np.ndarray]) -> np.ndarray:
    return np.stack([identity_unit_deltas(c) for c in coeffs]).astype(np.float16)
