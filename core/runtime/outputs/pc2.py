"""PC2 point caches (Blender's Mesh Cache modifier, 3ds Max's Point Cache 2): written whole or
block by block, and read back."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import settle, temporary

PC2_MAGIC = b"POINTCACHE2\0"
PC2_HEADER = struct.Struct("<12siiffi")  # magic, version, points, start frame, rate, samples


def write_pc2(
    path: str | Path, frames: np.ndarray, start_frame: float = 0.0, sample_rate: float = 1.0
) -> Path:
    """Write (T, V, 3) positions as a PC2 file; `sample_rate` is frames per sample (1 = every
    frame). Written to a temporary name and renamed, so a reader never sees half a file."""
    frames = np.ascontiguousarray(frames, dtype="<f4")
    if frames.ndim != 3 or frames.shape[2] != 3:
        raise ValueError(f"PC2 frames must be (T, V, 3), got {frames.shape}")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    header = PC2_HEADER.pack(
        PC2_MAGIC, 1, frames.shape[1], float(start_frame), float(sample_rate), frames.shape[0]
    )
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(frames.tobytes())
    tmp.replace(path)
    return path


class PC2Writer:
    """Write a PC2 file block by block (bounded memory for long clips on big meshes); the file
    appears under its name only once all `n_samples` frames are in."""

    def __init__(
        self,
        path: str | Path,
        n_points: int,
        n_samples: int,
        start_frame: float = 0.0,
        sample_rate: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.n_points, self.n_samples, self.written = n_points, n_samples, 0
        self._tmp = temporary(self.path)
        self._file = open(self._tmp, "wb")  # noqa: SIM115 - closed in __exit__
        self._file.write(
            PC2_HEADER.pack(
                PC2_MAGIC, 1, n_points, float(start_frame), float(sample_rate), n_samples
            )
        )

    def write(self, frames: np.ndarray) -> None:
        frames = np.ascontiguousarray(frames, dtype="<f4")
        if frames.ndim != 3 or frames.shape[1:] != (self.n_points, 3):
            raise ValueError(f"PC2 block must be (n, {self.n_points}, 3), got {frames.shape}")
        self._file.write(memoryview(frames).cast("B"))  # no copy (tobytes would copy)
        self.written += len(frames)

    def __enter__(self) -> PC2Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        settle(self._tmp, self.path, exc_type is None, self._file.close, self._check_count)

    def _check_count(self) -> None:
        if self.written != self.n_samples:
            raise ValueError(f"{self.path}: wrote {self.written} of {self.n_samples} frames")


@dataclass(frozen=True)
class PC2:
    frames: np.ndarray  # (T, V, 3) float32
    start_frame: float
    sample_rate: float


def read_pc2(path: str | Path) -> PC2:
    """Read a PC2 file (checks the magic and that the data is complete)."""
    raw = Path(path).read_bytes()
    if len(raw) < PC2_HEADER.size:
        raise ValueError(f"{path}: too short for a PC2 header")
    magic, _version, points, start, rate, samples = PC2_HEADER.unpack_from(raw)
    if magic != PC2_MAGIC:
        raise ValueError(f"{path}: not a PC2 file (magic {magic!r})")
    expected = PC2_HEADER.size + points * samples * 12
    if len(raw) < expected:
        raise ValueError(f"{path}: truncated PC2 ({len(raw)} bytes, header says {expected})")
    data = np.frombuffer(raw, "<f4", points * samples * 3, PC2_HEADER.size)
    return PC2(data.reshape(samples, points, 3).astype(np.float32), start, rate)
