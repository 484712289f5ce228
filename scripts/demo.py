"""`make demo`: the extension as a user gets it, end to end, with real Blender (PyPI bpy).

Builds nothing itself (make builds dist/ first): installs dist/meshtalk_blender-*.zip into a
throwaway Blender user folder, adds the bundled head and the bundled speech clip as a sound
strip, generates shape-key animation, saves out/demo.blend, and renders with Workbench on the
CPU: out/demo_sheet.png (a contact sheet of frames) and out/demo.mp4 (the clip with sound).

    python scripts/demo.py [--zip dist/...zip] [--out out] [--no-video]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A throwaway user folder before bpy is imported: the demo never touches your Blender setup.
_HOME = Path(tempfile.mkdtemp(prefix="meshtalk-demo-home-"))
os.environ.update(
    HOME=str(_HOME),
    BLENDER_USER_RESOURCES=str(_HOME / "blender"),
    XDG_CACHE_HOME=str(_HOME / "cache"),
    XDG_CONFIG_HOME=str(_HOME / "config"),
)

import bpy  # noqa: E402
import numpy as np  # noqa: E402

SPEECH = ROOT / "demo" / "speech.wav"
SHEET_FRAMES = 8


def install(zip_path: Path) -> None:
    result = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    if result != {"FINISHED"} or not hasattr(bpy.ops.meshtalk, "generate"):
        raise SystemExit(f"could not install {zip_path}")


def _say_which_network() -> None:
    import importlib

    package = "bl_ext.user_default.meshtalk_blender.runtime"
    network = importlib.import_module(f"{package}.network")
    path = importlib.import_module(f"{package}.session").WEIGHTS_PATH
    meta = network.load_weights(path).meta
    source = meta.get("provenance", {}).get("source", "?")
    print(f"network: {path.name}, {meta.get('parameters', 0):,} parameters, source: {source}")
    if source == "random":
        print(
            "NOTE: these weights are untrained (build.py --random-weights): the pipeline runs "
            "end to end, but the face barely moves. Train one (make train) for real lip sync."
        )


def build_scene() -> tuple[bpy.types.Object, str]:
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_current = 1
    bpy.ops.meshtalk.load_audio(filepath=str(SPEECH))
    bpy.ops.meshtalk.add_head()
    head = bpy.context.active_object
    start = time.perf_counter()
    bpy.ops.meshtalk.generate(object_name=head.name, mode="SHAPE_KEYS", seed=0)
    print(f"generated in {time.perf_counter() - start:.1f} s")
    strip = scene.sequence_editor.active_strip
    scene.frame_start = int(strip.frame_final_start)
    scene.frame_end = int(strip.frame_final_end) - 1
    return head, strip.name


def stage_camera(head: bpy.types.Object) -> None:
    """A three-quarter portrait of the face, Workbench with studio light and cavity."""
    scene = bpy.context.scene
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    cam.data.lens = 90
    # A close portrait: the chin is in frame, the neck's cut edge below it is not.
    angle = math.radians(25)  # from the character's left, looking back at the face
    distance = 0.60
    target = (0.0, 0.0, 0.145)
    cam.location = (
        target[0] + distance * math.sin(angle),
        target[1] - distance * math.cos(angle),
        target[2] + 0.05,
    )
    cam.rotation_euler = (math.radians(85), 0.0, angle)
    scene.camera = cam
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    scene.display.shading.show_cavity = True
    scene.render.resolution_x = scene.render.resolution_y = 480
    scene.render.resolution_percentage = 100


def render_sheet(out: Path) -> Path:
    """Render a few frames across the clip and tile them into one PNG."""
    scene = bpy.context.scene
    frames = np.linspace(scene.frame_start, scene.frame_end, SHEET_FRAMES).round().astype(int)
    tiles = []
    scene.render.image_settings.file_format = "PNG"
    for f in frames:
        scene.frame_set(int(f))
        path = out / "frames" / f"frame_{f:04d}.png"
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        img = bpy.data.images.load(str(path))
        px = np.empty(img.size[0] * img.size[1] * 4, np.float32)
        img.pixels.foreach_get(px)
        tiles.append(px.reshape(img.size[1], img.size[0], 4))
        bpy.data.images.remove(img)
    rows = [np.concatenate(tiles[i : i + 4], axis=1) for i in range(0, len(tiles), 4)]
    sheet = np.concatenate(rows[::-1], axis=0)  # Blender's pixel rows go bottom-up
    image = bpy.data.images.new("sheet", sheet.shape[1], sheet.shape[0], alpha=True)
    image.pixels.foreach_set(sheet.ravel())
    image.filepath_raw = str(out / "demo_sheet.png")
    image.file_format = "PNG"
    image.save()
    return out / "demo_sheet.png"


def render_video(out: Path) -> Path | None:
    scene = bpy.context.scene
    settings = scene.render.image_settings
    try:
        if hasattr(settings, "media_type"):  # Blender 5.0: image vs video outputs
            settings.media_type = "VIDEO"
        settings.file_format = "FFMPEG"
    except TypeError:
        print("this Blender build has no FFMPEG output: skipping the video")
        return None
    scene.render.ffmpeg.format = "MPEG4"
    scene.render.ffmpeg.codec = "H264"
    scene.render.ffmpeg.audio_codec = "AAC"
    scene.render.filepath = str(out / "demo.mp4")
    bpy.ops.render.render(animation=True)
    return out / "demo.mp4"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, help="extension zip (default: the newest in dist/)")
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    parser.add_argument("--no-video", action="store_true", help="contact sheet only")
    args = parser.parse_args()
    zips = sorted((ROOT / "dist").glob("meshtalk_blender-*.zip"), key=lambda p: p.stat().st_mtime)
    zip_path = args.zip or (zips[-1] if zips else None)
    if zip_path is None:
        raise SystemExit("no extension zip: run `make dist` (or `python build.py`) first")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    install(zip_path)
    _say_which_network()
    head, strip = build_scene()
    stage_camera(head)
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"))
    print(f"saved {out / 'demo.blend'} ({head.name}, strip '{strip}')")
    print(f"wrote {render_sheet(out)}")
    if not args.no_video:
        start = time.perf_counter()
        video = render_video(out)
        if video is not None:
            print(f"wrote {video} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
