"""The .npz animation file: template-topology vertices, frame rate, hm08 indices and the fitted
ARKit weights (the schema other tools read)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..npzio import save_npz

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
