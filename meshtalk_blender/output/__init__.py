"""Writing results into Blender: shape keys, the mesh cache modifier, ARKit key curves.

A re-run replaces what MeshTalk wrote, and nothing else; what it wrote is known by ownership
(`ownership`), not by name: the shape keys it added (recorded on the Key datablock, with
their shapes), its action (the custom property `meshtalk`) and NLA track `MeshTalk` on the
mesh's shape keys, its Mesh Cache modifier (recorded on the object) and the file
`MeshTalk_<object>.pc2`. A MeshTalk key the animator renamed is theirs from then on, with
its curves; so is any key or modifier they made, whatever its name.
"""

from __future__ import annotations

import bpy

from . import animation, ownership
from .ownership import KEY_PREFIX, MODIFIER_NAME, own_modifier

__all__ = ["KEY_PREFIX", "MODIFIER_NAME", "clear_previous", "own_key_names", "own_modifier"]


def own_key_names(obj: bpy.types.Object) -> list[str]:
    """The shape keys on `obj` that MeshTalk added and the animator has not made theirs."""
    key = obj.data.shape_keys
    return ownership.own_keys(key)[0] if key is not None else []


def clear_previous(obj: bpy.types.Object) -> list[str]:
    """Remove MeshTalk's own results from `obj` (any mode), never the animator's data.
    Returns the MeshTalk keys the animator renamed, which stay with their animation."""
    key = obj.data.shape_keys
    renamed: list[str] = []
    if key is not None:
        own, renamed = ownership.own_keys(key)  # before the action goes (older files)
        animation.clear_own_animation(key, keep=frozenset(renamed))
        for name in own:
            obj.shape_key_remove(key.key_blocks[name])
        ownership.forget_keys(key)
    mod = own_modifier(obj)
    if mod is not None:
        obj.modifiers.remove(mod)
    ownership.forget_modifier(obj)
    return renamed
