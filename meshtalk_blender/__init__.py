"""MeshTalk for Blender: speech-driven face animation (after Richard et al., ICCV 2021).

An extension (blender_manifest.toml, made by build.py): Blender imports this package and
calls register(). The numpy core is vendored inside it (see vendored.py).
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
