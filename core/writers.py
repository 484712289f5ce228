"""Animation outputs that need no Blender: PC2 mesh caches, a compact shape-key basis per clip,
and the .npz animation file (numpy only).

The Blender add-on writes what these functions return; studios baking dialogue outside
Blender use them directly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .npzio import save_npz

# ---------------------------------------------------------------------------------------
# PC2 (Blender's Mesh Cache modifier, 3ds Max's Point Cache 2)

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
        self._tmp = self.path.with_name(self.path.name + ".tmp")
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
        self._file.close()
        if exc_type is None and self.written != self.n_samples:
            self._tmp.unlink(missing_ok=True)
            raise ValueError(f"PC2: wrote {self.written} of {self.n_samples} frames")
        if exc_type is None:
            self._tmp.replace(self.path)
        else:
            self._tmp.unlink(missing_ok=True)


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


# ---------------------------------------------------------------------------------------
# compact shape-key basis for one clip

MAX_KEYS = 64
TOLERANCE = 1e-4  # 0.1 mm


@dataclass(frozen=True)
class ShapeKeyBasis:
    """A clip as `offsets[t] ~= values[t] @ keys` (keys: offsets from the rest mesh)."""

    keys: np.ndarray  # (K, V, 3) float32
    values: np.ndarray  # (T, K) float32
    max_error: float  # metres: the worst vertex of the worst frame
    tolerance: float
    within_tolerance: bool

    def reconstruct(self, rest: np.ndarray) -> np.ndarray:
        k, v = self.keys.shape[:2]
        return rest + (self.values @ self.keys.reshape(k, -1)).reshape(-1, v, 3)

    def report(self) -> str:
        state = "within" if self.within_tolerance else "ABOVE"
        return (
            f"{len(self.keys)} shape keys, max error {self.max_error * 1000:.3f} mm "
            f"({state} the {self.tolerance * 1000:.2f} mm tolerance)"
        )


def compact_basis(
    offsets: np.ndarray, tolerance: float = TOLERANCE, max_keys: int = MAX_KEYS, seed: int = 0
) -> ShapeKeyBasis:
    """The fewest principal directions (<= max_keys) of a clip's offsets (T, V, 3) that rebuild
    every vertex of every frame within `tolerance` metres.

    Uncentred PCA (the rest pose is the basis shape, so no mean key is needed) by a randomised
    range finder: a few products with the (T, 3V) matrix instead of a full SVD. The error is
    measured, not estimated: the key count is bisected on the real reconstruction, between
    bounds read off the singular values. If even `max_keys` cannot meet the tolerance, all
    `max_keys` are returned with `within_tolerance` False and the error in `report()`."""
    offsets = np.asarray(offsets, np.float32)
    t, v = offsets.shape[:2]
    flat = offsets.reshape(t, -1)
    if t == 0 or not np.any(flat):
        empty = np.zeros((0, v, 3), np.float32)
        return ShapeKeyBasis(empty, np.zeros((t, 0), np.float32), 0.0, tolerance, True)
    directions, sig = _principal_directions(flat, min(max_keys, t), seed)
    coeffs = flat @ directions.T  # (T, K)
    n = len(directions)

    def within(k: int, stop_early: bool = True) -> tuple[bool, float]:
        """Is every vertex within tolerance with k keys (and the worst error seen)? Chunked;
        with stop_early it returns at the first chunk that misses."""
        worst = 0.0
        for s in range(0, t, 256):
            resid = flat[s : s + 256] - coeffs[s : s + 256, :k] @ directions[:k]
            worst = max(worst, float((resid.reshape(-1, v, 3) ** 2).sum(-1).max()))
            if stop_early and worst > tolerance**2:
                break
        return worst <= tolerance**2, float(np.sqrt(worst))

    # A frame's residual is at most sigma_{k+1} (spectral norm), and a vertex's error at
    # least the RMS residual: bounds that leave only a few counts to bisect.
    tail = np.concatenate([np.sqrt(np.cumsum((sig**2)[::-1])[::-1]), [0.0]])
    lo = max(0, int(np.sum(tail[1:] / np.sqrt(t * v) > tolerance)) - 1)
    hi_guess = int(np.argmax(np.append(sig, 0.0)[: n + 1] <= tolerance * 0.999))
    hi = min(n, max(hi_guess, lo + 1))
    ok, err = within(hi)
    if not ok and hi < n:
        hi = n
        ok, err = within(n)
    if not ok:
        k = n
        err = within(n, stop_early=False)[1]  # report the true worst error
    else:
        while hi - lo > 1:  # invariant: hi meets the tolerance; lo does not (or lo = 0)
            mid = (lo + hi) // 2
            ok_mid, err_mid = within(mid)
            if ok_mid:
                hi, err = mid, err_mid
            else:
                lo = mid
        k = hi
        ok = True
    keys = directions[:k].reshape(k, v, 3).astype(np.float32)
    return ShapeKeyBasis(keys, coeffs[:, :k].astype(np.float32), err, tolerance, ok)


def _principal_directions(
    flat: np.ndarray, k: int, seed: int, power: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k right singular vectors of `flat` (T, N) as orthonormal rows, and the singular
    values (randomised range finder with oversampling, Halko et al. 2011)."""
    t, n = flat.shape
    sketch = min(t, k + 16)
    rng = np.random.default_rng(seed)
    y = flat @ rng.standard_normal((n, sketch)).astype(np.float32)
    q = np.linalg.qr(y.astype(np.float64))[0].astype(np.float32)
    for _ in range(power):
        q = np.linalg.qr((flat @ (flat.T @ q)).astype(np.float64))[0].astype(np.float32)
    small = (q.T @ flat).astype(np.float64)  # (sketch, N)
    _, sig, vt = np.linalg.svd(small, full_matrices=False)
    keep = min(k, int(np.sum(sig > sig[0] * 1e-6))) if sig.size and sig[0] > 0 else 0
    return vt[:keep].astype(np.float32), sig


# ---------------------------------------------------------------------------------------
# frame-rate conversion


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


# ---------------------------------------------------------------------------------------
# the .npz animation file

ANIMATION_KEYS = ("vertices", "fps", "source_index", "arkit_names", "arkit_weights")


@dataclass(frozen=True)
class Animation:
    """One generated clip: template-topology vertices plus the ARKit weights fitted to them."""

    vertices: np.ndarray  # (T, V, 3) float32
    fps: float
    source_index: np.ndarray  # (V,) int32 hm08 indices
    arkit_names: tuple[str, ...]  # (52,)
    arkit_weights: np.ndarray  # (T, 52) float32

    def __post_init__(self) -> None:
        t, v = self.vertices.shape[:2]
        if self.vertices.ndim != 3 or self.vertices.shape[2] != 3:
            raise ValueError(f"vertices must be (T, V, 3), got {self.vertices.shape}")
        if self.source_index.shape != (v,):
            raise ValueError(f"source_index must be ({v},), got {self.source_index.shape}")
        if self.arkit_weights.shape != (t, len(self.arkit_names)):
            raise ValueError(
                f"arkit_weights must be ({t}, {len(self.arkit_names)}), "
                f"got {self.arkit_weights.shape}"
            )
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")


def save_animation(path: str | Path, anim: Animation) -> Path:
    """Write the animation schema: vertices f32 (T,V,3), fps, source_index i32 (V,),
    arkit_names (52,), arkit_weights f32 (T,52)."""
    save_npz(
        path,
        {
            "vertices": np.asarray(anim.vertices, np.float32),
            "fps": np.asarray(anim.fps, np.float64),
            "source_index": np.asarray(anim.source_index, np.int32),
            "arkit_names": np.array(anim.arkit_names),
            "arkit_weights": np.asarray(anim.arkit_weights, np.float32),
        },
    )
    return Path(path)


def load_animation(path: str | Path) -> Animation:
    """Read an animation file, naming the missing arrays if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"animation file not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in ANIMATION_KEYS if k not in data.files]
        if missing:
            raise ValueError(f"{path}: not a MeshTalk animation (missing {', '.join(missing)})")
        return Animation(
            vertices=data["vertices"].astype(np.float32),
            fps=float(np.asarray(data["fps"]).reshape(-1)[0]),
            source_index=data["source_index"].astype(np.int32),
            arkit_names=tuple(str(s) for s in data["arkit_names"]),
            arkit_weights=data["arkit_weights"].astype(np.float32),
        )
