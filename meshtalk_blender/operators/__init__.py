"""Operators: generate (modal with progress and Esc in the UI, synchronous in scripts and
`blender -b`), clear MeshTalk's output, export it to a file, load audio into a sound strip,
add the bundled head."""

from __future__ import annotations

import bpy

from . import add_head, clear, export, generate, load_audio

CLASSES = (
    *generate.CLASSES,
    *clear.CLASSES,
    *export.CLASSES,
    *load_audio.CLASSES,
    *add_head.CLASSES,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.VIEW3D_MT_mesh_add.append(add_head.menu_entry)


def unregister() -> None:
    bpy.types.VIEW3D_MT_mesh_add.remove(add_head.menu_entry)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
