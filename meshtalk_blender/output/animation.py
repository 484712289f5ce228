"""Keyframes in bulk on a mesh's shape keys, in an action MeshTalk owns.

Where the action goes: if the shape keys have no action, or MeshTalk's, it becomes the active
action. If the animator's own action is active, it is left exactly as it is and MeshTalk's
action plays from an NLA track named `MeshTalk` underneath it (a new layer, not an overwrite);
where both animate the same key, the animator's action wins, as NLA always lets the active
action do.
"""

from __future__ import annotations

import bpy
import numpy as np

from .. import compat

OWN_PROP = "meshtalk"  # custom property set on actions MeshTalk made
NLA_TRACK = "MeshTalk"
_LINEAR = 1  # index of 'LINEAR' in the keyframe interpolation enum (CONSTANT, LINEAR, ...)


def is_own(action: bpy.types.Action | None) -> bool:
    return action is not None and bool(action.get(OWN_PROP))


def clear_own_animation(key: bpy.types.Key) -> None:
    """Detach and delete MeshTalk's action(s) from a shape-key datablock."""
    active = compat.active_action(key)
    doomed = [a for a in compat.nla_track_actions(key, NLA_TRACK) if is_own(a)]
    if is_own(active):
        key.animation_data.action = None
        doomed.append(active)
    compat.remove_nla_track(key, NLA_TRACK)
    for action in {a.name: a for a in doomed}.values():
        if action.users == 0:
            bpy.data.actions.remove(action)


def write_key_curves(
    obj: bpy.types.Object, curves: dict[str, np.ndarray], frame_start: int
) -> tuple[bpy.types.Action, bool]:
    """Keyframe `key_blocks[name].value` for every name -> values (T,) from `frame_start` on,
    one keyframe per frame, linear interpolation. Returns (the action, whether it went to an
    NLA track because the animator's own action is active)."""
    key = obj.data.shape_keys
    clear_own_animation(key)
    action, slot = compat.new_action(f"MeshTalk {obj.name}", key)
    action[OWN_PROP] = 1
    frames = None
    for name, values in curves.items():
        values = np.asarray(values, np.float32)
        if frames is None:
            frames = np.arange(len(values), dtype=np.float32) + np.float32(frame_start)
        fc = compat.new_fcurve(
            action, slot, f'key_blocks["{bpy.utils.escape_identifier(name)}"].value'
        )
        points = fc.keyframe_points
        points.add(len(values))
        points.foreach_set("co", np.column_stack([frames, values]).ravel())
        points.foreach_set("interpolation", np.full(len(values), _LINEAR, np.int32))
        fc.update()
    foreign = compat.active_action(key)
    if foreign is None:
        compat.assign_action(key, action, slot)
        return action, False
    compat.nla_track_strip(key, NLA_TRACK, action, slot, frame_start)
    return action, True
