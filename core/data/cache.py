"""Derived per-sequence data kept beside the corpus in a float16 memmap and filled once,
resumably, on every core (face deltas, audio features): the corpus itself stays compact,
and a killed build loses at most the chunk under way."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


class MemmapCache:
    """A (rows, ...) float16 .npy memmap plus a done flag per item (items may span rows)."""

    def __init__(self, folder: Path, name: str, shape: tuple[int, ...], n_items: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path, self.done_path = folder / f"{name}.npy", folder / f"{name}.done.npy"
        if not self.path.exists() or np.load(self.path, mmap_mode="r").shape != shape:
            np.lib.format.open_memmap(self.path, "w+", np.float16, shape).flush()
            np.save(self.done_path, np.zeros(n_items, bool))
        self.store = np.load(self.path, mmap_mode="r")

    def fill(
        self,
        job: Callable[[np.ndarray], object],
        compute: Callable[[object], Sequence[np.ndarray]],
        write: Callable[[np.ndarray, int, np.ndarray], None],
        chunk_items: int,
        workers: int | None = None,
        progress: bool = True,
    ) -> None:
        """Compute every item not done yet: `job(items)` is what a worker process gets,
        `compute(job)` returns one array per item, `write(memmap, item, array)` stores it."""
        done = np.load(self.done_path)
        todo = np.flatnonzero(~done)
        if not len(todo):
            return
        from tqdm import tqdm

        chunks = np.array_split(todo, max(1, len(todo) // chunk_items))
        out = np.lib.format.open_memmap(self.path, "r+")
        with ProcessPoolExecutor(workers or os.cpu_count() or 1) as pool:
            bar = tqdm(total=len(todo), desc=self.path.stem, disable=not progress)
            for chunk, arrays in zip(chunks, pool.map(compute, map(job, chunks)), strict=True):
                for item, array in zip(chunk, arrays, strict=True):
                    write(out, int(item), array)
                out.flush()
                done[chunk] = True
                np.save(self.done_path, done)
                bar.update(len(chunk))
            bar.close()
        self.store = np.load(self.path, mmap_mode="r")
