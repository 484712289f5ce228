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


def own_actions(key: bpy.types.Key) -> list[bpy.types.Action]:
    """MeshTalk's action(s) on a shape-key datablock: the active one and/or on its track."""
    found = [a for a in compat.nla_track_actions(key, NLA_TRACK) if is_own(a)]
    active = compat.active_action(key)
    if is_own(active):
        found.append(active)
    return list({a.name: a for a in found}.values())


def clear_own_animation(key: bpy.types.Key, keep: frozenset[str] = frozenset()) -> None:
    """Detach and delete MeshTalk's action(s) from a shape-key datablock. The curves of the
    shape keys named in `keep` (MeshTalk keys the animator renamed to keep a take) move to
    an action of the animator's first, so the take they kept still plays."""
    doomed = own_actions(key)
    kept = _split_off(key, doomed, keep) if keep and doomed else None
    if is_own(compat.active_action(key)):
        key.animation_data.action = None
    compat.remove_nla_track(key, NLA_TRACK)
    for action in doomed:
        if action.users == 0:
            bpy.data.actions.remove(action)
    if kept is not None:
        action, slot, start = kept
        if compat.active_action(key) is None:
            compat.assign_action(key, action, slot)
        else:  # the animator's own action is active: the kept take plays under it
            compat.nla_track_strip(key, action.name, action, slot, start)


_KEYFRAME_FIELDS = (
    ("co", 2, np.float32),
    ("handle_left", 2, np.float32),
    ("handle_right", 2, np.float32),
    ("interpolation", 1, np.int32),
    ("handle_left_type", 1, np.int32),
    ("handle_right_type", 1, np.int32),
    ("easing", 1, np.int32),
)


def _split_off(
    key: bpy.types.Key, actions: list[bpy.types.Action], keep: frozenset[str]
) -> tuple[bpy.types.Action, object, int] | None:
    """A new action (not MeshTalk's: it is never cleared) with copies of the curves that
    animate the shape keys in `keep`; (action, slot, first frame), None if there are none."""
    paths = {f'key_blocks["{bpy.utils.escape_identifier(name)}"].value' for name in keep}
    curves = [fc for a in actions for fc in compat.action_fcurves(a) if fc.data_path in paths]
    if not curves:
        return None
    action, slot = compat.new_action(f"{actions[0].name} (kept)", key)
    first = None
    done: set[str] = set()
    for src in curves:
        if src.data_path in done:
            continue
        done.add(src.data_path)
        points = src.keyframe_points
        n = len(points)
        dst = compat.new_fcurve(action, slot, src.data_path)
        dst.keyframe_points.add(n)
        for name, width, dtype in _KEYFRAME_FIELDS:
            values = np.empty(n * width, dtype)
            points.foreach_get(name, values)
            dst.keyframe_points.foreach_set(name, values)
            if name == "co" and n:
                start = float(values[0::2].min())
                first = start if first is None else min(first, start)
        dst.update()
    return action, slot, int(np.floor(first if first is not None else 0))


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
