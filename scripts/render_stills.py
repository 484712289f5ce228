"""Stills of what Generate makes, as an animator judges it, for the docs:

- docs/mouth_strength.png: one open-vowel frame of demo/speech.wav close up on mouth and eyes,
  at mouth strength 0.5 / 1 / 1.5 side by side;
- docs/talking.png: four talking frames of the whole head: a closure (lips sealed on M), an
  open vowel, a rounded vowel and the rest before the line;
- docs/pause_blink.png: the eyes in a 3 s pause of digital silence between two takes of the
  line: open in the pause, then a blink with the lids met (the network's own if a seed with
  open eyes samples one, else the demo's add_blink), and the default seed in the same pause
  when that seed is not the one shown.

Why a script: docs/template.png and the head_*.png stills (scripts/render_template.py) show
face units posed by hand; these show the network's own output, made the way a user makes it,
so they can be remade whenever the network or the head changes. It builds the extension
(build.py), installs the zip into a throwaway Blender user folder and then takes the user's
steps: Add › Mesh › MeshTalk Head, Load Audio… (a sound strip), Generate (shape keys). The
frames are picked by the phones of the clip (flite's own segment times) and by where the
generated lips and lids actually are; every label says which frame and what it shows. Cycles
on the CPU under the demo's three-point lights (scripts/demo.py: its install, studio, camera
framing and render settings are imported, not copied); labels are burned in with Blender's
own stamp, so the script needs nothing beyond the PyPI `bpy` module and numpy.

    python scripts/render_stills.py --out docs [--zip dist/...zip] [--samples N] [--threads N]

About 5 minutes on one render thread (`--threads 1`); the PNGs stay under 400 KB each.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(1, str(ROOT))  # core.assets_build.eyelids: the asset build's lid measure

# the demo's user steps and studio; imported before bpy because it points Blender's user
# folders at a throwaway directory
demo = importlib.import_module("demo")

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from mathutils import Vector  # noqa: E402

from core.assets_build import eyelids  # noqa: E402

if TYPE_CHECKING:  # the installed extension's runtime has the checkout's classes
    from collections.abc import Callable

    from core.runtime.template import Template

FPS = 30
SEED = 0  # the panel's default: what a user sees first
STRENGTHS = (0.5, 1.0, 1.5)
PAUSE_SECONDS = 3.0
PAUSE_SEEDS = range(24)  # tried in order for a pause with the eyes open (and a sampled blink)
BLINK_INTO_PAUSE = 1.5  # seconds into the pause for the demo's blink, when one is needed
OPEN_SHARE = 0.7  # lids "open": at least this share of their rest opening
PANEL, EYES_PANEL, HEAD_PANEL = (360, 360), (420, 240), (320, 400)  # width, height (pixels)
LABEL_FONT, LABEL_LINE = 13, 16  # pixels


@dataclass(frozen=True)
class Phone:
    """A phone of demo/speech.wav: its segment in seconds (`flite -voice slt -psdur -t <the
    line in demo/NOTICE>`: the synthesiser's own boundaries, so they are exact)."""

    name: str
    word: str
    start: float
    end: float


M_AM = Phone("M", "I am", 1.176, 1.257)
AO_TALKING = Phone("AO", "talking", 1.390, 1.516)
EH_HEAD = Phone("EH", "head", 1.826, 2.010)
OW_HELLO = Phone("OW", "hello", 0.412, 0.523)
ROUNDING_LEAD = 0.15  # seconds: lips round ahead of a rounded vowel (coarticulation)


# ---------------------------------------------------------------------------------------
# the user's steps


def build_zip() -> Path:
    """`python build.py` with this interpreter: the extension zip exactly as shipped."""
    subprocess.run([sys.executable, str(ROOT / "build.py")], check=True, cwd=ROOT)
    zips = sorted((ROOT / "dist").glob("meshtalk_blender-*.zip"), key=lambda p: p.stat().st_mtime)
    return zips[-1]


def pause_wav(folder: Path) -> tuple[Path, float, float]:
    """The clip, `PAUSE_SECONDS` of digital silence, the clip again (16-bit WAV in `folder`).
    Returns (path, the pause's start and end in seconds)."""
    with wave.open(str(demo.SPEECH)) as src:
        params = src.getparams()
        pcm = np.frombuffer(src.readframes(src.getnframes()), np.int16).reshape(
            -1, params.nchannels
        )
    rate = params.framerate
    silence = np.zeros((round(PAUSE_SECONDS * rate), params.nchannels), np.int16)
    path = folder / "speech_pause_speech.wav"
    with wave.open(str(path), "wb") as dst:
        dst.setnchannels(params.nchannels)
        dst.setsampwidth(2)
        dst.setframerate(rate)
        dst.writeframes(np.concatenate([pcm, silence, pcm]).tobytes())
    start = len(pcm) / rate
    return path, start, start + PAUSE_SECONDS


def new_scene(audio: Path) -> bpy.types.Scene:
    """An empty scene at 30 fps with `audio` as a sound strip at frame 1 (Load Audio…)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.frame_current = 1
    if bpy.ops.meshtalk.load_audio(filepath=str(audio)) != {"FINISHED"}:
        raise SystemExit(f"could not load {audio}")
    return scene


def add_head() -> bpy.types.Object:
    """Add › Mesh › MeshTalk Head."""
    bpy.ops.meshtalk.add_head()
    return bpy.context.active_object


def generate(head: bpy.types.Object, mouth_strength: float, seed: int) -> None:
    """Generate shape keys on `head` from the scene's sound strip."""
    result = bpy.ops.meshtalk.generate(
        object_name=head.name, mode="SHAPE_KEYS", mouth_strength=mouth_strength, seed=seed
    )
    if result != {"FINISHED"}:
        raise SystemExit(f"generate returned {result}")


# ---------------------------------------------------------------------------------------
# where the lips and lids are


class Probe:
    """Reads the head's deformed vertices (shape keys, no subdivision) at any frame, and
    measures the lips and lids there in millimetres."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self.metrics = demo.extension("runtime.metrics")  # the evaluation's own measures
        v = template.vertices
        lashes = template.faces[
            template.face_material == template.material_names.index("eyelashes")
        ]
        self.lids = []  # (upper, lower) per eye: the lid edge's middle and what it closes on
        for side in ("left", "right"):
            unit = template.unit(f"eyeBlink{side.title()}")
            up = np.setdiff1d(template.region(f"eyelid_upper_{side}"), lashes)  # skin only
            low = np.setdiff1d(template.region(f"eyelid_lower_{side}"), lashes)
            u = up[np.linalg.norm(unit[up], axis=1).argmax()]
            shut = v + unit
            self.lids.append((u, low[np.linalg.norm(shut[low] - shut[u], axis=1).argmin()]))
        self.margins = eyelids.template_lids(template)
        self.rest_lids = self.lid_gap(v)
        self.shut_lids = self.lid_gap(
            v + template.unit("eyeBlinkLeft") + template.unit("eyeBlinkRight")
        )

    def vertices(self, head: bpy.types.Object, frame: int) -> np.ndarray:
        """(V,3) object-space positions at `frame`: the shape keys' mix, not subdivided."""
        scene = bpy.context.scene
        scene.frame_set(frame)
        subdivision = head.modifiers.get("Subdivision")
        shown = subdivision.show_viewport if subdivision else False
        if subdivision:  # the cage, vertex for vertex the template's
            subdivision.show_viewport = False
        depsgraph = bpy.context.evaluated_depsgraph_get()
        mesh = head.evaluated_get(depsgraph).data
        co = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", co)
        if subdivision:
            subdivision.show_viewport = shown
        return co.reshape(-1, 3)

    def lip_gap(self, v: np.ndarray) -> float:
        """The lips' midline opening, as the evaluation measures it (< 0: pressed)."""
        return 1000.0 * float(self.metrics.lip_gap(v, self.template))

    def mouth_width(self, v: np.ndarray) -> float:
        """Corner to corner of the lips, as the evaluation's rounding score measures it."""
        return 1000.0 * float(self.metrics.mouth_width(v, self.template))

    def lid_gap(self, v: np.ndarray) -> float:
        """The narrower eye's opening between the lid edges' middles."""
        return 1000.0 * min(float(v[u, 2] - v[w, 2]) for u, w in self.lids)

    def margin_gap(self, v: np.ndarray) -> float:
        """The widest the lid margins stand apart anywhere across either eye (the asset
        build's measure of a closed blink: the middles alone can hide a slit)."""
        return 1000.0 * eyelids.widest_margin_gap(v, self.margins.values())

    def lids_met(self, v: np.ndarray) -> bool:
        """Closed as far as the template's own eyeBlink units close them (0.5 mm slack)."""
        return self.lid_gap(v) <= self.shut_lids + 0.5


def frames_of(phone: Phone, lead: float = 0.0) -> list[int]:
    """The frames whose time (frame 1 = 0 s) falls in the phone, from `lead` s before it."""
    first = int(np.ceil((phone.start - lead) * FPS)) + 1
    return list(range(first, int(np.floor(phone.end * FPS)) + 2))


# ---------------------------------------------------------------------------------------
# cameras, panels and sheets


def rest_points(head: bpy.types.Object, template: Template, regions: tuple[str, ...]) -> np.ndarray:
    """World positions of the head's rest vertices in `regions` (all when empty)."""
    v = template.vertices
    if regions:
        v = v[np.concatenate([template.region(r) for r in regions])]
    world = np.asarray(head.matrix_world)
    return v @ world[:3, :3].T + world[:3, 3]


def _read_png(path: Path) -> np.ndarray:
    """A PNG's pixels, rows top-down, RGBA floats."""
    img = bpy.data.images.load(str(path))
    px = np.empty(img.size[0] * img.size[1] * 4, np.float32)
    img.pixels.foreach_get(px)
    tile = px.reshape(img.size[1], img.size[0], 4)[::-1]
    bpy.data.images.remove(img)
    return tile


def label_band(lines: list[str], width: int, folder: Path) -> np.ndarray:
    """`lines` of text on black, `width` pixels wide: Blender's own stamp (burned-in
    metadata) rendered over an empty scene, so no font library is needed."""
    scene = bpy.data.scenes.get("Label")
    if scene is None:
        scene = bpy.data.scenes.new("Label")
        camera = bpy.data.objects.new("Label", bpy.data.cameras.new("Label"))
        scene.collection.objects.link(camera)
        scene.camera, scene.world = camera, bpy.data.worlds.new("Label")
        if scene.world.node_tree is None:  # Blender < 5 makes the tree on request
            scene.world.use_nodes = True
        scene.world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.0
        scene.view_settings.view_transform = "Standard"
        scene.render.engine = "CYCLES"
        scene.cycles.samples, scene.cycles.use_denoising = 1, False
        scene.render.threads_mode, scene.render.threads = "FIXED", 1
        r = scene.render
        r.use_stamp, r.use_stamp_note, r.use_stamp_labels = True, True, False
        for flag in ("date", "time", "render_time", "frame", "frame_range", "memory"):
            setattr(r, f"use_stamp_{flag}", False)
        for flag in ("hostname", "camera", "lens", "scene", "marker", "filename"):
            setattr(r, f"use_stamp_{flag}", False)
        r.use_stamp_sequencer_strip = False
        r.stamp_font_size = LABEL_FONT
        r.stamp_foreground, r.stamp_background = (0.92, 0.92, 0.92, 1.0), (0.0, 0.0, 0.0, 0.0)
        r.image_settings.file_format = "PNG"
    r = scene.render
    r.resolution_x, r.resolution_y = width, LABEL_LINE * len(lines) + 6
    r.resolution_percentage = 100
    r.stamp_note_text = "\n".join(lines)
    r.filepath = str(folder / "label.png")
    bpy.ops.render.render(write_still=True, scene=scene.name)
    return _read_png(folder / "label.png")


def render_panel(
    scene: bpy.types.Scene,
    camera: bpy.types.Object,
    frame: int,
    lines: list[str],
    folder: Path,
) -> np.ndarray:
    """Render `frame` through `camera`, with `lines` of label above it; the pixels (rows
    top-down, RGBA floats)."""
    scene.camera = camera
    scene.frame_set(frame)
    scene.render.use_stamp = False
    scene.render.image_settings.file_format = "PNG"
    path = folder / f"panel_{len(list(folder.glob('panel_*'))):02d}.png"
    scene.render.filepath = str(path)
    start = time.perf_counter()
    bpy.ops.render.render(write_still=True, scene=scene.name)
    print(f"  frame {frame}: {' / '.join(lines)} ({time.perf_counter() - start:.0f} s)")
    tile = _read_png(path)
    band = label_band(lines, tile.shape[1], folder)
    return np.concatenate([band, tile], axis=0)


def save_row(tiles: list[np.ndarray], path: Path, gap: int = 3) -> None:
    """The panels side by side with a thin black gutter, as a compact 8-bit RGB PNG."""
    h = max(t.shape[0] for t in tiles)
    gutter = np.zeros((h, gap, 4), np.float32)
    gutter[..., 3] = 1.0
    row = np.concatenate([x for t in tiles for x in (t, gutter)][:-1], axis=1)
    image = bpy.data.images.new(path.stem, row.shape[1], row.shape[0], alpha=False)
    image.pixels.foreach_set(row[::-1].ravel())
    scene = bpy.context.scene
    settings = scene.render.image_settings
    settings.file_format, settings.color_mode, settings.color_depth = "PNG", "RGB", "8"
    settings.compression = 100
    view = scene.view_settings
    kept = view.view_transform, view.look
    view.view_transform, view.look = "Standard", "None"  # the pixels are display-ready
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save_render(str(path), scene=scene)
    view.view_transform, view.look = kept
    bpy.data.images.remove(image)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} KB)")


def stage(
    scene: bpy.types.Scene, head: bpy.types.Object, size: tuple[int, int], args: argparse.Namespace
) -> None:
    """The demo's lights and Cycles settings at this panel size and thread count."""
    demo.studio(scene, Vector((0.0, 0.0, 0.15)) + head.location)
    demo.cycles(scene, size[0], args.samples, "HIGH")
    scene.render.resolution_x, scene.render.resolution_y = size
    if args.threads:
        scene.render.threads_mode, scene.render.threads = "FIXED", args.threads


# ---------------------------------------------------------------------------------------
# the three stills


def mouth_strength(
    out: Path, work: Path, template: Template, probe: Probe, args: argparse.Namespace
) -> None:
    """One open-vowel frame at each mouth strength, close up on mouth and eyes, front view."""
    scene = new_scene(demo.SPEECH)
    heads = []
    for strength in STRENGTHS:
        head = add_head()
        generate(head, strength, SEED)
        heads.append(head)
    middle = heads[STRENGTHS.index(1.0)]
    frame = max(frames_of(EH_HEAD), key=lambda f: probe.lip_gap(probe.vertices(middle, f)))
    points = [rest_points(middle, template, ("brows", "eyelid_upper_left", "eyelid_upper_right"))]
    points += [probe.vertices(h, frame)[template.region("lips")] for h in heads]
    camera = demo.frame_camera(scene, "Strength", np.vstack(points), 0.0, 2.0, 0.55, 0.1)
    stage(scene, middle, PANEL, args)
    tiles = []
    for strength, head in zip(STRENGTHS, heads, strict=True):
        for other in heads:
            other.hide_render = other is not head
        v = probe.vertices(head, frame)
        lines = [
            f"mouth strength {strength:g}",
            f"frame {frame}: {EH_HEAD.name} of '{EH_HEAD.word}'",
            f"lips {probe.lip_gap(v):.1f} mm apart, {probe.mouth_width(v):.1f} mm wide",
        ]
        tiles.append(render_panel(scene, camera, frame, lines, work))
    save_row(tiles, out / "mouth_strength.png")


def talking(
    out: Path, work: Path, template: Template, probe: Probe, args: argparse.Namespace
) -> None:
    """A closure, an open vowel, a rounded vowel and the rest, whole head, three-quarter."""
    scene = new_scene(demo.SPEECH)
    head = add_head()
    generate(head, 1.0, SEED)
    last = int(scene.sequence_editor.active_strip.frame_final_end) - 1
    at = {f: probe.vertices(head, f) for f in range(1, last + 1)}

    def pick(frames: list[int], score: Callable[[np.ndarray], float]) -> int:
        return min(frames, key=lambda f: score(at[f]))

    sealed = pick(frames_of(M_AM), probe.lip_gap)
    opened = pick(frames_of(AO_TALKING), lambda v: -probe.lip_gap(v))
    rounded = pick(frames_of(OW_HELLO, ROUNDING_LEAD), probe.mouth_width)
    narrower = probe.mouth_width(at[1]) - probe.mouth_width(at[rounded])  # than at rest
    shots = [
        (sealed, M_AM, "closure: lips sealed"),
        (opened, AO_TALKING, f"open vowel: lips {probe.lip_gap(at[opened]):.1f} mm apart"),
        (rounded, OW_HELLO, f"rounded: {narrower:.1f} mm narrower than rest"),
        (1, None, "rest"),
    ]
    posed = np.vstack([at[f] for f, _, _ in shots] + [template.vertices])
    whole = posed[posed[:, 2] > posed[:, 2].min() + 0.016]  # above the collar's cut
    camera = demo.frame_camera(scene, "Talking", whole, 20.0, 4.0, 0.9, 0.03)
    stage(scene, head, HEAD_PANEL, args)
    tiles = []
    for frame, phone, what in shots:
        said = f"{phone.name} of '{phone.word}'" if phone else "before the line"
        tiles.append(render_panel(scene, camera, frame, [f"frame {frame}: {said}", what], work))
    save_row(tiles, out / "talking.png")


def pause_blink(
    out: Path, work: Path, template: Template, probe: Probe, args: argparse.Namespace
) -> None:
    """The eyes in the pause, front view: open, then a blink whose lids meet (the network's
    own if a seed with open eyes samples one, else the demo's add_blink); and, when the
    default seed is not the one shown, how the default seed's eyes look in the pause."""
    audio, start, end = pause_wav(work)
    scene = new_scene(audio)
    head = add_head()
    pause = list(range(int(np.ceil(start * FPS)) + 1, int(np.floor(end * FPS)) + 1))
    choice = None
    sampled = None  # (seed, frame, gap) of the first seed's own blink in the pause, if any
    for seed in PAUSE_SEEDS:
        generate(head, 1.0, seed)
        gaps = np.array([probe.lid_gap(probe.vertices(head, f)) for f in pause])
        opened = float((gaps > OPEN_SHARE * probe.rest_lids).mean())
        met = [f for f, g in zip(pause, gaps, strict=True) if g <= probe.shut_lids + 0.5]
        print(
            f"  seed {seed}: lids open {opened:.0%} of the pause; lids met at {met}; narrowest"
            f" {gaps.min():.2f} mm (shut: {probe.shut_lids:.2f})"
        )
        if sampled is None and opened >= 0.9 and gaps.min() < OPEN_SHARE * probe.rest_lids:
            frame = pause[int(gaps.argmin())]
            sampled = seed, frame, probe.margin_gap(probe.vertices(head, frame))
        if opened >= 0.9 and (met or choice is None):
            choice = seed, met
            if met:
                break
    if choice is None:
        raise SystemExit(f"no seed in {PAUSE_SEEDS} keeps the eyes open in the pause")
    seed, met = choice
    generate(head, 1.0, seed)
    if met:
        blink, how = met[0], "lids met: a blink the network sampled"
    else:
        blink = pause[0] + round(BLINK_INTO_PAUSE * FPS)
        demo.add_blink(head, blink)
        how = "lids met: the demo's blink (add_blink)"
    if not probe.lids_met(probe.vertices(head, blink)):
        raise SystemExit(f"the lids do not meet at frame {blink}")
    opened = pause[0] + FPS  # a second into the pause, or the widest frame before the blink
    if probe.lid_gap(probe.vertices(head, opened)) < OPEN_SHARE * probe.rest_lids:
        before = [f for f in pause if pause[0] + FPS // 2 <= f < blink - 8]
        opened = max(before, key=lambda f: probe.lid_gap(probe.vertices(head, f)))
    regions = [f"eyelid_{p}_{s}" for p in ("upper", "lower") for s in ("left", "right")]
    points = rest_points(head, template, ("brows", *regions))
    camera = demo.frame_camera(scene, "Eyes", points, 0.0, 2.0, 0.55, 0.05)
    stage(scene, head, EYES_PANEL, args)

    def into(frame: int) -> str:
        return f"frame {frame}: {(frame - pause[0]) / FPS:.1f} s into the pause"

    tiles = [
        render_panel(scene, camera, opened, [f"seed {seed}, {into(opened)}", "eyes open"], work),
        render_panel(scene, camera, blink, [into(blink), how], work),
    ]
    if seed != SEED:  # what the default seed does in the same pause
        generate(head, 1.0, SEED)
        gap = probe.lid_gap(probe.vertices(head, opened))
        lines = [
            f"seed {SEED} (default), {into(opened)}",
            f"lids {gap:.1f} mm apart ({probe.rest_lids:.1f} mm at rest)",
        ]
        tiles.append(render_panel(scene, camera, opened, lines, work))
    if not met and sampled is not None:  # the network's own blink, however far it closes
        own, frame, gap = sampled
        generate(head, 1.0, own)
        lines = [f"seed {own}, {into(frame)}", f"the network's blink: margins {gap:.1f} mm apart"]
        tiles.append(render_panel(scene, camera, frame, lines, work))
    save_row(tiles, out / "pause_blink.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--zip", type=Path, help="extension zip (default: build one now)")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples (denoised)")
    parser.add_argument("--threads", type=int, default=0, help="render threads (0: all)")
    parser.add_argument("--only", choices=("mouth_strength", "talking", "pause_blink"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="meshtalk-stills-"))
    atexit.register(shutil.rmtree, work, True)
    atexit.register(shutil.rmtree, demo._HOME, True)  # the demo's throwaway user folder
    demo.install(args.zip or build_zip())
    template = demo.extension("runtime.template").load_template()
    probe = Probe(template)
    out = args.out.resolve()
    for still in (mouth_strength, talking, pause_blink):
        if args.only in (None, still.__name__):
            print(f"{still.__name__}:")
            panels = work / still.__name__
            panels.mkdir()
            still(out, panels, template, probe, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
