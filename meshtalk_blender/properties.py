"""The panel's settings, stored per scene (saved in the .blend), and the one place the
generation settings are declared: the operator takes the same properties (`shared`), and
both convert themselves to the runtime's `Settings` dataclass (`to_settings`)."""

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

from .runtime.settings import MAX_STRENGTH, MAX_TEMPERATURE, Settings

MODES = (
    (
        "SHAPE_KEYS",
        "Shape Keys",
        "A compact set of MeshTalk shape keys with keyframed values (the bundled head, "
        "MakeHuman/MPFB2 characters)",
    ),
    (
        "MESH_CACHE",
        "Mesh Cache",
        "A point-cache file (.pc2) played by a Mesh Cache modifier (the bundled head, "
        "MakeHuman/MPFB2 characters)",
    ),
    (
        "ARKIT",
        "ARKit Keys",
        "Keyframes on the mesh's own ARKit-named shape keys (any character with ARKit keys)",
    ),
)
MODE_IDS = tuple(m[0] for m in MODES)
# the settings the runtime reads (Settings fields) besides the scene's frame rate
RUNTIME_SETTINGS = ("seed", "temperature", "lips_only", "mouth_strength", "upper_strength")
# where the result goes: the add-on's own part of a request
PLACEMENT_SETTINGS = ("mode", "frame_offset", "cache_dir")
SHARED = (*PLACEMENT_SETTINGS, *RUNTIME_SETTINGS)


def shared(operator: bool = False) -> dict:
    """Fresh property definitions for the settings the panel and the operator share (an
    operator's path is a plain string: operators do not take '//'-relative DIR_PATHs)."""
    return {
        "mode": EnumProperty(name="Output", items=MODES, default="SHAPE_KEYS"),
        "seed": IntProperty(
            name="Seed",
            min=0,
            default=0,
            description="Blinks, brows and glances are performed differently in every take; "
            "the lips stay the same",
        ),
        "temperature": FloatProperty(
            name="Expressiveness",
            min=0.0,
            max=MAX_TEMPERATURE,
            soft_max=2.0,
            default=1.0,
            description="How lively the upper face is: 0 calm and steady, 1 natural, above 1 "
            "more blinks, brow raises and glances",
        ),
        "lips_only": BoolProperty(
            name="Lips Only",
            default=False,
            description="Animate the mouth and jaw only; the brows and eyes stay still",
        ),
        "mouth_strength": FloatProperty(
            name="Mouth",
            min=0.0,
            max=MAX_STRENGTH,
            default=1.0,
            subtype="FACTOR",
            description="How big the jaw, lip and cheek motion is: 1 as performed, 0.5 "
            "mumbled, 1.5 clearly articulated; P, B and M still close at every setting",
        ),
        "upper_strength": FloatProperty(
            name="Upper Face",
            min=0.0,
            max=MAX_STRENGTH,
            default=1.0,
            subtype="FACTOR",
            description="How big the brow, eyelid and eye-region motion is: 0 keeps them "
            "still, 1 as performed; blinks still close fully above 0.5",
        ),
        "frame_offset": IntProperty(
            name="Frame Offset",
            default=0,
            description="Frames between the sound's start and the animation's start",
        ),
        "cache_dir": StringProperty(
            name="Cache Folder",
            subtype="NONE" if operator else "DIR_PATH",
            default="//",
            description="Where mesh cache files go ('//' = beside the .blend file)",
        ),
    }


def to_settings(props, fps: float) -> Settings:
    """The runtime's settings from the panel's or the operator's properties."""
    return Settings(fps=fps, **{name: getattr(props, name) for name in RUNTIME_SETTINGS})


def _is_mesh(_self, obj: bpy.types.Object) -> bool:
    return obj.type == "MESH"


class MeshTalkSettings(bpy.types.PropertyGroup):
    __annotations__ = {
        "target": PointerProperty(
            name="Target", type=bpy.types.Object, poll=_is_mesh, description="The mesh to animate"
        ),
        "strip_name": StringProperty(
            name="Sound Strip", description="Sound strip of the scene's Sequencer to animate from"
        ),
        **shared(),
    }


CLASSES = (MeshTalkSettings,)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.meshtalk = PointerProperty(type=MeshTalkSettings)


def unregister() -> None:
    del bpy.types.Scene.meshtalk
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
