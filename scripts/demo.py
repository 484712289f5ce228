"""`make demo`: the extension as a user gets it, end to end, with real Blender (PyPI bpy).

Builds nothing itself (make builds dist/ first): installs dist/meshtalk_blender-*.zip into a
throwaway Blender user folder, adds the bundled head (Add › Mesh › MeshTalk Head: materials,
subdivision) and the bundled speech clip as a sound strip, generates shape-key animation,
holds a short pause with a blink after the speech, saves out/demo.blend and renders with
Cycles on the CPU under three-point lighting: out/demo_sheet.png (frames of the front view and
the close-up) and out/demo.mp4 (the front view, then a close-up of mouth and eyes, with the
sound). EEVEE renders in background bpy here, but through software OpenGL it took ~70 s a
frame against Cycles' ~1-2 s, so the demo uses Cycles at a few samples plus OpenImageDenoise.

    python scripts/demo.py [--zip dist/...zip] [--out out] [--no-video] [--samples N]
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

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
from mathutils import Vector  # noqa: E402

SPEECH = ROOT / "demo" / "speech.wav"
PACKAGE = "bl_ext.user_default.meshtalk_blender"
PAUSE = 36  # frames of silence after the speech, with a blink in them
BLINK_AT = 12  # frames into the pause
BLINK = ((-3, 0.0), (-1, 0.75), (0, 1.0), (1, 1.0), (3, 0.55), (6, 0.1), (8, 0.0))
VIDEO_SIZE, VIDEO_SAMPLES = 320, 4
SHEET_SIZE, SHEET_SAMPLES = 400, 8
BACKGROUND = (0.018, 0.019, 0.022)


def extension(module: str) -> ModuleType:
    """A module of the installed extension (what a user's Blender runs, not the checkout)."""
    return importlib.import_module(f"{PACKAGE}.{module}")


def install(zip_path: Path) -> None:
    result = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    if result != {"FINISHED"} or not hasattr(bpy.ops.meshtalk, "generate"):
        raise SystemExit(f"could not install {zip_path}")


def _say_which_network() -> None:
    network = extension("runtime.network")
    path = extension("runtime.session").WEIGHTS_PATH
    meta = network.load_weights(path).meta
    source = meta.get("provenance", {}).get("source", "?")
    print(f"network: {path.name}, {meta.get('parameters', 0):,} parameters, source: {source}")
    if source == "random":
        print(
            "NOTE: these weights are untrained (build.py --random-weights): the pipeline runs "
            "end to end, but the face barely moves. Train one (make train) for real lip sync."
        )


def build_scene() -> tuple[bpy.types.Object, str, int]:
    """The user's steps: load audio, add the head, generate. Returns (head, strip name, the
    last frame of speech)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_current = 1
    bpy.ops.meshtalk.load_audio(filepath=str(SPEECH))
    bpy.ops.meshtalk.add_head()
    head = bpy.context.active_object
    start = time.perf_counter()
    result = bpy.ops.meshtalk.generate(object_name=head.name, mode="SHAPE_KEYS", seed=0)
    if result != {"FINISHED"}:
        raise SystemExit(f"generate returned {result}")
    print(f"generated in {time.perf_counter() - start:.1f} s")
    strip = scene.sequence_editor.active_strip
    last = int(strip.frame_final_end) - 1
    scene.frame_start = int(strip.frame_final_start)
    scene.frame_end = last + PAUSE
    return head, strip.name, last


def add_blink(head: bpy.types.Object, frame: int) -> None:
    """Both eyes blink once at `frame`: the template's eyeBlink units as shape keys, keyed
    on their own NLA track (MeshTalk's animation stays as generated)."""
    template = extension("runtime.template").load_template()
    compat = extension("compat")
    key_data = head.data.shape_keys
    action, slot = compat.new_action("Demo blink", key_data)
    for side in ("Left", "Right"):
        name = f"eyeBlink{side}"
        key = head.shape_key_add(name=name, from_mix=False)
        key.data.foreach_set("co", (template.vertices + template.unit(name)).ravel())
        curve = compat.new_fcurve(action, slot, f'key_blocks["{name}"].value')
        for offset, value in BLINK:
            point = curve.keyframe_points.insert(frame + offset, value)
            point.interpolation = "BEZIER"
    compat.nla_track_strip(key_data, "Demo blink", action, slot, frame + BLINK[0][0])


# ---------------------------------------------------------------------------------------
# studio: three-point lighting, cameras framed on the head's own vertices, Cycles


def _aim(obj: bpy.types.Object, target: Vector) -> None:
    obj.rotation_euler = (target - obj.location).to_track_quat("-Z", "Y").to_euler()


def studio(scene: bpy.types.Scene, centre: Vector, spread: float = 1.0) -> None:
    """Key (warm, large, high camera-left), fill (cool, larger, dimmer, camera-right) and a
    rim behind the head on the key's opposite side; a near-black world. `spread` moves the
    lights out (and up in power) to light a row of heads evenly."""
    world = bpy.data.worlds.new("Studio")
    if world.node_tree is None:  # Blender < 5 makes the tree on request
        world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (*BACKGROUND, 1.0)
    world.color = BACKGROUND
    scene.world = world
    lights = (
        ("Key", (-0.50, -0.70, 0.30), 16.0, 0.5, (1.0, 0.95, 0.88)),
        ("Fill", (0.70, -0.50, 0.05), 7.0, 0.8, (0.88, 0.93, 1.0)),
        ("Rim", (0.40, 0.60, 0.30), 22.0, 0.35, (0.92, 0.96, 1.0)),
    )
    for name, offset, watts, size, colour in lights:
        light = bpy.data.lights.new(name, "AREA")
        light.energy, light.size, light.color = watts * spread**2, size * spread, colour
        obj = bpy.data.objects.new(name, light)
        scene.collection.objects.link(obj)
        obj.location = centre + Vector(offset) * spread
        _aim(obj, centre)


def frame_camera(
    scene: bpy.types.Scene,
    name: str,
    points: np.ndarray,
    azimuth: float,
    elevation: float,
    distance: float,
    margin: float,
    ortho: bool = False,
) -> bpy.types.Object:
    """A camera `distance` metres from the centre of `points` (world space), `azimuth`
    degrees round from the front (toward the character's left) and `elevation` degrees up;
    its focal length (or orthographic scale) and lens shift make the points fill the frame
    with `margin` (a share of the frame) to spare on the tighter side, centred."""
    cam = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    scene.collection.objects.link(cam)
    centre = (points.min(0) + points.max(0)) / 2
    az, el = math.radians(azimuth), math.radians(elevation)
    back = np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])
    cam.location = Vector((centre + distance * back).tolist())
    _aim(cam, Vector(centre.tolist()))
    rotation = np.array(cam.rotation_euler.to_matrix())  # columns: right, up, backward
    rel = (points - np.asarray(cam.location)) @ rotation
    depth = -rel[:, 2]
    image = rel[:, :2] if ortho else rel[:, :2] / depth[:, None]  # on the image plane
    lo, hi = image.min(0), image.max(0)
    half = (hi - lo).max() / 2 * (1.0 + 2.0 * margin)
    cam.data.sensor_fit = "AUTO"
    if ortho:
        cam.data.type, cam.data.ortho_scale = "ORTHO", 2.0 * half
    else:
        cam.data.lens = cam.data.sensor_width / (2.0 * half)
    cam.data.shift_x, cam.data.shift_y = ((lo + hi) / 2 / (2.0 * half)).tolist()
    cam.data.clip_start = 0.01
    return cam


def cycles(scene: bpy.types.Scene, size: int, samples: int, quality: str) -> None:
    """Cycles on the CPU at a few samples, denoised by OpenImageDenoise where the build has
    it; bounces kept low (a head under studio lights needs few)."""
    scene.render.engine = "CYCLES"
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.use_persistent_data = True
    c = scene.cycles
    c.device = "CPU"
    c.samples = samples
    c.use_adaptive_sampling = False
    c.max_bounces, c.diffuse_bounces, c.glossy_bounces = 4, 1, 1
    c.transmission_bounces, c.volume_bounces, c.transparent_max_bounces = 0, 0, 8
    c.use_denoising = True
    try:
        c.denoiser = "OPENIMAGEDENOISE"
        c.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        c.denoising_quality = quality
    except (TypeError, AttributeError):
        print("no OpenImageDenoise in this build: rendering with more samples instead")
        c.use_denoising, c.samples = False, samples * 8
    scene.view_settings.view_transform = "AgX"
    scene.view_settings.look = "AgX - Medium High Contrast"


def staged_cameras(
    scene: bpy.types.Scene, head: bpy.types.Object, template
) -> tuple[bpy.types.Object, bpy.types.Object]:
    """The front view (the whole head; the frame's lower edge crosses the collar, below the
    chin) and a close-up of mouth and eyes from a little to the side, both framed on the
    head's rest vertices (`template` names the regions)."""
    rest = np.empty(len(head.data.vertices) * 3, np.float32)
    head.data.vertices.foreach_get("co", rest)
    rest = rest.reshape(-1, 3)
    world = np.asarray(head.matrix_world)
    rest = rest @ world[:3, :3].T + world[:3, 3]
    head_top = rest[:, 2].max()
    whole = rest[rest[:, 2] > rest[:, 2].min() + 0.016]
    whole = np.vstack([whole, [[0.0, 0.0, head_top + 0.02]]])
    front = frame_camera(scene, "Front", whole, 0.0, 4.0, 0.9, 0.0)
    face = np.concatenate(
        [template.region(n) for n in ("brows", "eyelid_upper_left", "eyelid_upper_right", "lips")]
    )
    close = frame_camera(scene, "Close-up", rest[face], 16.0, 2.0, 0.55, 0.1)
    return front, close


def camera_cuts(scene: bpy.types.Scene, cuts: list[tuple[int, bpy.types.Object]]) -> None:
    """Switch cameras at frames (timeline markers bound to cameras, as an editor would)."""
    for frame, cam in cuts:
        marker = scene.timeline_markers.new(cam.name, frame=frame)
        marker.camera = cam
    scene.camera = cuts[0][1]


def render_sheet(out: Path, shots: list[tuple[int, bpy.types.Object]]) -> Path:
    """Render each (frame, camera) and tile them four to a row into one PNG."""
    scene = bpy.context.scene
    tiles = []
    scene.render.image_settings.file_format = "PNG"
    for frame, cam in shots:
        scene.frame_set(frame)
        scene.camera = cam
        path = out / "frames" / f"{cam.name.lower().replace('-', '')}_{frame:04d}.png"
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


def lighten_for_video(head: bpy.types.Object) -> None:
    """Halve the video's render time (measured: 4.2 -> 2.2 CPU-s a frame) where a 320-pixel
    frame cannot show the difference: subdivision level 1 instead of 2, and Christensen-
    Burley subsurface scattering instead of the random walk."""
    head.modifiers["Subdivision"].render_levels = 1
    for mat in head.data.materials:
        for node in mat.node_tree.nodes if mat.node_tree else ():
            if node.bl_idname == "ShaderNodeBsdfPrincipled":
                node.subsurface_method = "BURLEY"


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
    scene.render.ffmpeg.constant_rate_factor = "HIGH"
    scene.render.ffmpeg.audio_codec = "AAC"
    scene.render.ffmpeg.audio_bitrate = 128
    scene.render.filepath = str(out / "demo.mp4")
    bpy.ops.render.render(animation=True)
    return out / "demo.mp4"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, help="extension zip (default: the newest in dist/)")
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    parser.add_argument("--no-video", action="store_true", help="contact sheet only")
    parser.add_argument("--samples", type=int, default=VIDEO_SAMPLES, help="video samples")
    args = parser.parse_args()
    zips = sorted((ROOT / "dist").glob("meshtalk_blender-*.zip"), key=lambda p: p.stat().st_mtime)
    zip_path = args.zip or (zips[-1] if zips else None)
    if zip_path is None:
        raise SystemExit("no extension zip: run `make dist` (or `python build.py`) first")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    bpy.context.preferences.filepaths.save_version = 0  # no demo.blend1 beside demo.blend
    install(zip_path)
    _say_which_network()
    head, strip, last_spoken = build_scene()
    add_blink(head, last_spoken + BLINK_AT)
    scene = bpy.context.scene
    template = extension("runtime.template").load_template()
    front, close = staged_cameras(scene, head, template)
    studio(scene, Vector((0.0, 0.0, 0.15)) + head.location)
    speech = scene.frame_start, last_spoken
    cycles(scene, SHEET_SIZE, SHEET_SAMPLES, "HIGH")
    times = np.linspace(speech[0] + 6, speech[1] - 4, 4).round().astype(int).tolist()
    shots = [(f, front) for f in times] + [(f, close) for f in times[1:]]
    shots.append((last_spoken + BLINK_AT, close))  # the blink
    start = time.perf_counter()
    print(f"wrote {render_sheet(out, shots)} in {time.perf_counter() - start:.0f} s")
    # the video: the front view for the first half of the line, then the close-up through
    # the end of the line and the pause with its blink (markers bind cameras to frames, so
    # they come after the sheet, whose shots pick their own cameras)
    camera_cuts(scene, [(scene.frame_start, front), ((speech[0] + speech[1]) // 2, close)])
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"))
    print(f"saved {out / 'demo.blend'} ({head.name}, strip '{strip}')")
    if not args.no_video:
        cycles(scene, VIDEO_SIZE, args.samples, "FAST")
        lighten_for_video(head)
        start = time.perf_counter()
        video = render_video(out)
        if video is not None:
            frames = scene.frame_end - scene.frame_start + 1
            took = time.perf_counter() - start
            print(f"wrote {video}: {frames} frames in {took:.0f} s ({took / frames:.1f} s a frame)")
    print(f"demo done in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
