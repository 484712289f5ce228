"""MeshTalk for Blender: speech-driven face animation (after Richard et al., ICCV 2021).

An extension (blender_manifest.toml, made by build.py): Blender imports this package and
calls register(). MeshTalk's numpy runtime is inside it (`runtime/`, copied whole by
build.py; a symlink to core/runtime in the checkout), imported relatively like any module.
"""

from __future__ import annotations


def register() -> None:
    from . import operators, panels, properties

    properties.register()
    operators.register()
    panels.register()


def unregister() -> None:
    from . import operators, panels, properties

    panels.unregister()
    operators.unregister()
    properties.unregister()
