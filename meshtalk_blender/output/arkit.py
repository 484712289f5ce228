"""Output mode 3: keyframed ARKit weights on a character's own ARKit-named shape keys."""

from __future__ import annotations

import bpy
import numpy as np

from . import animation


def write(
    obj: bpy.types.Object,
    mapping: dict[str, str],
    arkit_names: tuple[str, ...],
    weights: np.ndarray,
    frame_start: int,
) -> tuple[int, bool]:
    """Keyframe every matched key (mapping: ARKit unit -> key name) with its weights (T, 52).
    Returns (curves written, whether the action went to an NLA track)."""
    column = {name: i for i, name in enumerate(arkit_names)}
    curves = {key: weights[:, column[unit]] for unit, key in mapping.items()}
    _, on_nla = animation.write_key_curves(obj, curves, frame_start)
    return len(curves), on_nla
