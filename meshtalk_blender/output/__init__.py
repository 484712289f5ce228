"""Writing results into Blender: shape keys, the mesh cache modifier, ARKit key curves.

Everything MeshTalk writes is named so a re-run can find and replace it, and nothing else:
shape keys `MeshTalk_NN`, the action flagged `meshtalk` (custom property) on the mesh's shape
keys, the NLA track `MeshTalk`, the modifier `MeshTalk Cache` and the file `MeshTalk_<object>.pc2`.
"""

from __future__ import annotations

import bpy

from . import animation

KEY_PREFIX = "MeshTalk_"
MODIFIER_NAME = "MeshTalk Cache"


def clear_previous(obj: bpy.types.Object) -> None:
    """Remove MeshTalk's own results from `obj` (any mode), never the animator's data."""
    mesh = obj.data
    key = mesh.shape_keys
    if key is not None:
        animation.clear_own_animation(key)
        for kb in list(key.key_blocks):
            if kb.name.startswith(KEY_PREFIX):
                obj.shape_key_remove(kb)
    mod = obj.modifiers.get(MODIFIER_NAME)
    if mod is not None and mod.type == "MESH_CACHE":
        obj.modifiers.remove(mod)
