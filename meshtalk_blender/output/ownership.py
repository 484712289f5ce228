"""Which shape keys and modifier MeshTalk made, told by ownership, not by name.

Names cannot tell: an animator renames a take to keep it, and their own key may happen to be
called `MeshTalk_05`. Shape keys and modifiers cannot hold custom properties, so the records
live on the datablocks that own them (both part of undo and saved with the .blend):

- the Key datablock's `meshtalk_keys`: for every shape key MeshTalk added, its name and a
  signature of its shape (offsets from the basis). A key is MeshTalk's while it has that
  name *and* that shape: renamed, it is the animator's take; reshaped (sculpted), it is
  their work; a key of theirs with a recorded name has another shape.
- the object's `meshtalk_modifier`: the persistent uid of the Mesh Cache modifier MeshTalk
  added (its name on Blender builds without uids). A modifier the animator made, even one
  named 'MeshTalk Cache', is theirs; MeshTalk's stays MeshTalk's when renamed, since it plays
  the cache file every run overwrites.

Output written before these records existed is recognised as it was made: keys named
`MeshTalk_*` that MeshTalk's own action animates under that name, and a 'MeshTalk Cache'
modifier playing a `MeshTalk_*.pc2` file.
"""

from __future__ import annotations

import re
from pathlib import PurePath

import bpy
import numpy as np

from .. import compat
from . import animation

KEY_PREFIX = "MeshTalk_"
MODIFIER_NAME = "MeshTalk Cache"
KEYS_PROP = "meshtalk_keys"  # on the Key datablock: {key name: shape signature}
MODIFIER_PROP = "meshtalk_modifier"  # on the object: the modifier's persistent uid (or name)
_KEY_PATH = re.compile(r'^key_blocks\["((?:[^"\\]|\\.)*)"\]\.value$')
# float32 rounding when Blender moves every key with an edited basis stays far below this
_RTOL, _ATOL = 1e-4, 1e-6


# ---------------------------------------------------------------------------------------
# shape keys


def _offsets(key: bpy.types.Key, kb: bpy.types.ShapeKey) -> np.ndarray:
    n = len(kb.data)
    co = np.empty(n * 3, np.float32)
    ref = np.empty(n * 3, np.float32)
    kb.data.foreach_get("co", co)
    key.reference_key.data.foreach_get("co", ref)
    return co.astype(np.float64) - ref


def signature(key: bpy.types.Key, kb: bpy.types.ShapeKey) -> list[float]:
    """Three numbers that change when the key's shape changes: the L1 and L2 norms of its
    offsets from the basis and their projection on a fixed pseudo-random direction. They
    survive renames, and an edit of the basis that Blender carries into every key."""
    d = _offsets(key, kb)
    direction = np.sin(np.arange(len(d)) * 12.9898 + 0.5)
    return [float(np.abs(d).sum()), float(np.sqrt((d * d).sum())), float(d @ direction)]


def _same_shape(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) == 3 and bool(np.allclose(a, b, rtol=_RTOL, atol=_ATOL))


def _key_record(key: bpy.types.Key) -> dict[str, list[float]] | None:
    """The recorded MeshTalk keys ({} if none), or None if the Key has no record at all."""
    record = key.get(KEYS_PROP)
    if record is None:
        return None
    try:
        return {str(name): [float(v) for v in sig] for name, sig in record.items()}
    except (AttributeError, TypeError, ValueError):  # not a record MeshTalk wrote
        return {}


def record_keys(key: bpy.types.Key, names: list[str]) -> None:
    """Remember the shape keys MeshTalk just added (after their shapes are written)."""
    blocks = key.key_blocks
    key[KEYS_PROP] = {name: signature(key, blocks[name]) for name in names}


def forget_keys(key: bpy.types.Key) -> None:
    if KEYS_PROP in key:
        del key[KEYS_PROP]


def _animated_names(key: bpy.types.Key) -> set[str]:
    """Shape-key names MeshTalk's own action(s) on `key` animate."""
    names = set()
    for action in animation.own_actions(key):
        for fc in compat.action_fcurves(action):
            match = _KEY_PATH.match(fc.data_path)
            if match:
                names.add(re.sub(r"\\(.)", r"\1", match.group(1)))
    return names


def own_keys(key: bpy.types.Key) -> tuple[list[str], list[str]]:
    """(MeshTalk's shape keys, MeshTalk keys the animator renamed and so made theirs)."""
    blocks = list(key.key_blocks)[1:]  # never the basis
    record = _key_record(key)
    if record is None:  # written before the record existed: known by MeshTalk's action
        animated = _animated_names(key) & {kb.name for kb in blocks}
        own = sorted(n for n in animated if n.startswith(KEY_PREFIX))
        # in the Shape Keys mode the action animates MeshTalk's keys only: the others it
        # animates were renamed (in the ARKit mode it animates the rig's keys: none are)
        return own, sorted(animated - set(own)) if own else []
    if not record:
        return [], []
    sigs = {kb.name: signature(key, kb) for kb in blocks}
    own = [n for n, sig in record.items() if n in sigs and _same_shape(sigs[n], sig)]
    renamed = [
        n
        for n, sig in sigs.items()
        if n not in record and any(_same_shape(sig, r) for r in record.values())
    ]
    return own, renamed


# ---------------------------------------------------------------------------------------
# the mesh cache modifier


def _modifier_id(mod: bpy.types.Modifier) -> int | str:
    return getattr(mod, "persistent_uid", mod.name)


def mark_modifier(obj: bpy.types.Object, mod: bpy.types.Modifier) -> None:
    obj[MODIFIER_PROP] = _modifier_id(mod)


def own_modifier(obj: bpy.types.Object) -> bpy.types.Modifier | None:
    """The Mesh Cache modifier MeshTalk added to `obj`, if it is still there."""
    mark = obj.get(MODIFIER_PROP)
    for mod in obj.modifiers:
        if mod.type != "MESH_CACHE":
            continue
        if mark is not None and _modifier_id(mod) == mark:
            return mod
        if mark is None and mod.name == MODIFIER_NAME:  # written before the mark existed
            file = PurePath(bpy.path.basename(mod.filepath))
            if file.name.startswith(KEY_PREFIX) and file.suffix.lower() == ".pc2":
                return mod
    return None


def forget_modifier(obj: bpy.types.Object) -> None:
    if MODIFIER_PROP in obj:
        del obj[MODIFIER_PROP]
