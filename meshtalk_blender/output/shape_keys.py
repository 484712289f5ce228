"""Output mode 1: a compact per-clip shape-key basis (MeshTalk_NN) with keyframed values;
the keys are recorded as MeshTalk's (`ownership`) so a re-run finds them by more than name."""

from __future__ import annotations

import bpy
import numpy as np

from .. import compat
from . import animation, ownership
from .ownership import KEY_PREFIX


def key_name(i: int) -> str:
    return f"{KEY_PREFIX}{i:02d}"


def write(
    obj: bpy.types.Object,
    rest: np.ndarray,
    indices: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
    frame_start: int,
) -> tuple[int, bool]:
    """Add shape keys rest + keys[k] on the vertices `indices` (-1 = absent) and keyframe their
    values (T, K). Each key is scaled so its values stay in [-1, 1]: Blender clamps a shape
    key's value to its slider range (at most -10..10), and PCA coefficients are not unit-sized.
    Returns (keys written, whether the action went to an NLA track)."""
    mesh = obj.data
    if mesh.shape_keys is None:
        obj.shape_key_add(name="Basis", from_mix=False)
    present = indices >= 0
    target = indices[present]
    peak = np.abs(values).max(axis=0) if len(values) else np.zeros(len(keys))
    scale = np.where(peak > 0, peak, 1.0).astype(np.float32)
    curves: dict[str, np.ndarray] = {}
    co = rest.copy()
    for k in range(len(keys)):
        kb = compat.add_shape_key(obj, key_name(k))
        kb.slider_min, kb.slider_max = -1.0, 1.0
        co[target] = rest[target] + keys[k][present] * scale[k]
        kb.data.foreach_set("co", co.ravel())
        curves[kb.name] = values[:, k] / scale[k]
    mesh.update()
    ownership.record_keys(mesh.shape_keys, list(curves))
    _, on_nla = animation.write_key_curves(obj, curves, frame_start)
    return len(keys), on_nla
