"""The add-on tests: each starts from an empty Blender file (an autouse fixture), so no test
sees another's objects, strips or actions."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def empty_blend_file():
    """Reset Blender's data before every add-on test (the extension stays installed)."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    yield
