"""Frame-rate conversion: the network runs at 30 fps; scenes and pipelines run at 24, 25,
29.97, 50, 60 ... Linear interpolation in time, one-shot or on blocks as they arrive."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def resample_frames(frames: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """(T, ...) frames at fps_in -> frames at fps_out covering the same duration, by linear
    interpolation in time. The network runs at 30 fps; scenes run at 24, 25, 29.97, 50, 60."""
    frames = np.asarray(frames)
    if fps_in <= 0 or fps_out <= 0:
        raise ValueError(f"frame rates must be positive, got {fps_in} -> {fps_out}")
    t_in = len(frames)
    if t_in == 0 or abs(fps_in - fps_out) < 1e-9:
        return frames  # same rate: no copy of a (T, V, 3) array
    t_out = max(1, int(round(t_in * fps_out / fps_in)))
    pos = np.minimum(np.arange(t_out) * (fps_in / fps_out), t_in - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, t_in - 1)
    frac = (pos - i0).astype(np.float32).reshape(-1, *([1] * (frames.ndim - 1)))
    out = frames[i0] * (1 - frac) + frames[i1] * frac
    return out.astype(frames.dtype, copy=False)


_RESAMPLE_BLOCK = 256  # output frames converted at a time


def resample_stream(
    blocks: Iterator[np.ndarray], n_in: int, fps_in: float, fps_out: float
) -> tuple[Iterator[np.ndarray], int]:
    """`resample_frames` for frames that arrive in blocks: (blocks at fps_out, their
    total count). Same arithmetic, so the frames equal the one-shot conversion; only the
    last frame of the previous block is kept."""
    if n_in < 1:
        raise ValueError("no frames to resample")
    if abs(fps_in - fps_out) < 1e-9:
        return blocks, n_in
    n_out = max(1, int(round(n_in * fps_out / fps_in)))
    pos = np.minimum(np.arange(n_out) * (fps_in / fps_out), n_in - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = (pos - i0).astype(np.float32)

    def convert() -> Iterator[np.ndarray]:
        first, done, held = 0, 0, None  # held: the frame before `first`
        for block in blocks:
            stop = first + len(block)
            ready = done + int(np.searchsorted(i1[done:], stop))  # outputs with i1 < stop
            for s in range(done, ready, _RESAMPLE_BLOCK):  # bounded temporaries
                e = min(ready, s + _RESAMPLE_BLOCK)
                lo = i0[s:e] - first  # -1: the held frame (i1 >= first always)
                a = block[np.maximum(lo, 0)]
                if held is not None:
                    a[lo < 0] = held
                f = frac[s:e].reshape(-1, *([1] * (block.ndim - 1)))
                yield a * (1 - f) + block[i1[s:e] - first] * f
            done, held, first = ready, block[-1], stop
        if done != n_out:
            raise ValueError(f"resampling: got {first} of {n_in} frames")

    return convert(), n_out
