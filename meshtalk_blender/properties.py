"""The panel's settings, stored per scene (saved in the .blend)."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .pipeline import MODES


def _is_mesh(_self, obj: bpy.types.Object) -> bool:
    return obj.type == "MESH"


class MeshTalkSettings(bpy.types.PropertyGroup):
    target: PointerProperty(
        name="Target",
        type=bpy.types.Object,
        poll=_is_mesh,
        description="The mesh to animate",
    )
    strip_name: StringProperty(
        name="Sound Strip",
        description="Sound strip of the scene's Sequencer to animate from",
    )
    mode: EnumProperty(name="Output", items=MODES, default="SHAPE_KEYS")
    seed: IntProperty(
        name="Seed",
        min=0,
        default=0,
        description="The upper face (blinks, brows) is sampled: each seed gives another take",
    )
    temperature: FloatProperty(
        name="Expressiveness",
        min=0.0,
        max=2.0,
        default=1.0,
        description="Sampling temperature of the upper face: 0 = the most likely motion, "
        "1 = as trained, above 1 = livelier",
    )
    lips_only: BoolProperty(
        name="Lips Only",
        default=False,
        description="Animate the mouth and jaw only; the upper face stays still",
    )
    frame_offset: IntProperty(
        name="Frame Offset",
        default=0,
        description="Frames between the strip's start and the animation's start",
    )
    cache_dir: StringProperty(
        name="Cache Folder",
        subtype="DIR_PATH",
        default="//",
        description="Where mesh cache files go ('//' = beside the .blend file)",
    )


CLASSES = (MeshTalkSettings,)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.meshtalk = PointerProperty(type=MeshTalkSettings)


def unregister() -> None:
    del bpy.types.Scene.meshtalk
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
