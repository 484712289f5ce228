"""Output mode 2: a PC2 point cache on disk played by a Mesh Cache modifier."""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from .. import compat
from ..errors import MeshTalkError
from . import ownership
from .ownership import MODIFIER_NAME


def cache_folder(setting: str) -> Path:
    """The folder for cache files: the setting (may be '//'-relative), default beside the
    .blend. Created if missing; errors when it cannot be written."""
    setting = setting or "//"
    if setting.startswith("//") and not bpy.data.filepath:
        raise MeshTalkError(
            "Save the .blend first (the mesh cache is written beside it) or choose a cache folder"
        )
    folder = Path(bpy.path.abspath(setting)).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MeshTalkError(f"Cannot create the cache folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MeshTalkError(f"The cache folder is not writable: {folder}")
    return folder


def cache_file(folder: Path, obj: bpy.types.Object) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in obj.name)
    return folder / f"MeshTalk_{safe}.pc2"


def attach(obj: bpy.types.Object, path: Path, frame_start: int) -> bpy.types.Modifier:
    """The Mesh Cache modifier (first in the stack, FRAME mode) playing `path` from
    `frame_start`. OVERWRITE mode: the cache holds whole meshes, and Blender's INTEGRATE mode
    re-derives the motion through per-face frames, which distorted the face by ~1 cm when
    shape keys were active; combining with the animator's keys is what the Shape Keys mode
    is for. Always a new modifier (a previous one of MeshTalk's is gone by now; one the
    animator named 'MeshTalk Cache' is theirs), marked as MeshTalk's."""
    mod = obj.modifiers.new(MODIFIER_NAME, "MESH_CACHE")
    ownership.mark_modifier(obj, mod)
    mod.cache_format = "PC2"
    mod.filepath = bpy.path.relpath(str(path)) if bpy.data.filepath else str(path)
    mod.time_mode = "FRAME"
    mod.play_mode = "SCENE"
    mod.frame_start = float(frame_start)
    mod.frame_scale = 1.0
    mod.deform_mode = "OVERWRITE"
    mod.interpolation = "LINEAR"
    mod.forward_axis = "POS_Y"
    mod.up_axis = "POS_Z"
    compat.move_modifier_first(obj, mod)
    return mod
