"""Render the bundled head for the docs, in the demo's studio (Cycles, three-point light):

- docs/template.png: the head at rest and with the jawOpen, mouthFunnel, eyeBlinkLeft and
  browInnerUp units at weight 1, side by side;
- docs/head_front.png (at rest, front view), docs/head_closeup.png (mouth and eyes, the
  mouth open on a vowel: jawOpen 0.4 + mouthFunnel 0.2) and docs/head_blink.png (both
  eyeBlink units at 1).

Run with the project's venv (PyPI bpy, background): `python scripts/render_template.py`
[--only template|stills] [--samples N]. Every head is what Add › Mesh › MeshTalk Head builds
(meshtalk_blender/head.py from this checkout), with the units as shape keys.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

# the demo's studio; imported before bpy because it points Blender's user folders at a temp dir
demo = importlib.import_module("demo")

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from mathutils import Vector  # noqa: E402

from core.runtime.template import Template, load_template  # noqa: E402
from meshtalk_blender.head import add_arkit_keys, add_head_object  # noqa: E402

POSES = (
    ("rest", {}),
    ("jawOpen", {"jawOpen": 1.0}),
    ("mouthFunnel", {"mouthFunnel": 1.0}),
    ("eyeBlinkLeft", {"eyeBlinkLeft": 1.0}),
    ("browInnerUp", {"browInnerUp": 1.0}),
)
STILLS = (
    ("head_front", "front", {}),
    ("head_closeup", "close", {"jawOpen": 0.4, "mouthFunnel": 0.2}),
    ("head_blink", "close", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
)
SPACING = 0.24  # metres between the heads of the template sheet
STILL_SIZE = 600


def posed_head(template: Template, name: str, units: dict[str, float]) -> bpy.types.Object:
    """A head with the ARKit units as shape keys, `units` set to their weights."""
    obj = add_head_object(template, name=name)
    add_arkit_keys(obj, template)
    for key in obj.data.shape_keys.key_blocks[1:]:
        key.value = units.get(key.name, 0.0)
    return obj


def _save(scene: bpy.types.Scene, path: Path) -> None:
    """An 8-bit RGB PNG, compressed hard (the docs' images stay small)."""
    settings = scene.render.image_settings
    settings.file_format, settings.color_mode, settings.compression = "PNG", "RGB", 100
    settings.color_depth = "8"
    scene.render.filepath = str(path.resolve())
    start = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    took = time.perf_counter() - start
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} KB) in {took:.0f} s")


def render_template_sheet(template: Template, out: Path, samples: int) -> None:
    """Five heads in a row, turned a little to show depth, one camera."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    heads = []
    for i, (label, units) in enumerate(POSES):
        obj = posed_head(template, label, units)
        obj.location.x = (i - (len(POSES) - 1) / 2) * SPACING
        obj.rotation_euler.z = math.radians(-20)  # a three-quarter view shows depth
        heads.append(obj)
    bpy.context.view_layer.update()
    points = np.concatenate([_world_vertices(h) for h in heads])
    points = points[points[:, 2] > 0.016]
    points = np.vstack([points, [[0.0, 0.0, points[:, 2].max() + 0.01]]])
    cam = demo.frame_camera(scene, "Sheet", points, 0.0, 3.0, 2.6, 0.02, ortho=True)
    scene.camera = cam
    demo.studio(scene, Vector((0.0, 0.0, 0.15)), spread=3.0)
    demo.cycles(scene, 1, samples, "HIGH")
    scene.render.resolution_x, scene.render.resolution_y = 1500, 420
    _save(scene, out)


def _world_vertices(obj: bpy.types.Object) -> np.ndarray:
    co = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.vertices.foreach_get("co", co)
    m = np.asarray(obj.matrix_world)
    return co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]


def render_stills(template: Template, docs: Path, samples: int) -> None:
    """The front view at rest, the close-up on a vowel and the blink, as the demo frames them."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    head = posed_head(template, "MeshTalk Head", {})
    front, close = demo.staged_cameras(scene, head, template)
    cameras = {"front": front, "close": close}
    demo.studio(scene, Vector((0.0, 0.0, 0.15)))
    demo.cycles(scene, STILL_SIZE, samples, "HIGH")
    keys = head.data.shape_keys.key_blocks
    for name, camera, units in STILLS:
        for key in keys[1:]:
            key.value = units.get(key.name, 0.0)
        scene.camera = cameras[camera]
        _save(scene, docs / f"{name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    parser.add_argument("--only", choices=("template", "stills"))
    parser.add_argument("--samples", type=int, default=64)
    args = parser.parse_args()
    template = load_template()
    if args.only != "stills":
        render_template_sheet(template, args.docs / "template.png", args.samples)
    if args.only != "template":
        render_stills(template, args.docs, args.samples)


if __name__ == "__main__":
    main()
