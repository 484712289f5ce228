"""Render the template head at rest and with a few ARKit units to docs/template.png.

Run with the project's venv (PyPI bpy, background): `python scripts/render_template.py`.
Every head is a real Blender mesh with the unit as a shape key, rendered by Workbench.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import bpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.runtime.template import load_template  # noqa: E402
from meshtalk_blender.head import add_head_object  # noqa: E402

POSES = (
    ("rest", {}),
    ("jawOpen", {"jawOpen": 1.0}),
    ("mouthFunnel", {"mouthFunnel": 1.0}),
    ("eyeBlinkLeft", {"eyeBlinkLeft": 1.0}),
    ("browInnerUp", {"browInnerUp": 1.0}),
)
SPACING = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/template.png"))
    args = parser.parse_args()
    template = load_template()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    for i, (label, units) in enumerate(POSES):
        obj = add_head_object(template, name=label)
        obj.location.x = (i - (len(POSES) - 1) / 2) * SPACING
        obj.rotation_euler.z = math.radians(-20)  # a three-quarter view shows depth
        obj.shape_key_add(name="Basis", from_mix=False)
        for name, value in units.items():
            key = obj.shape_key_add(name=name, from_mix=False)
            key.data.foreach_set("co", (template.vertices + template.unit(name)).ravel())
            key.value = value
    cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    scene.collection.objects.link(cam)
    cam.data.type = "ORTHO"
    cam.data.ortho_scale = SPACING * len(POSES)
    cam.location = (0.0, -1.0, 0.17)
    cam.rotation_euler = (math.radians(90), 0.0, 0.0)
    scene.camera = cam
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    scene.display.shading.show_cavity = True
    scene.render.resolution_x, scene.render.resolution_y = 1500, 420
    scene.render.filepath = str(args.out.resolve())
    bpy.ops.render.render(write_still=True)
    print(f"wrote {args.out}: {', '.join(label for label, _ in POSES)}")


if __name__ == "__main__":
    main()
