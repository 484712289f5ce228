"""One generation, in three steps so the slow middle one can run off the main thread:

1. `plan`    (main thread)  check the request, read the mesh and the audio path;
2. `compute` (any thread)   numpy only: inference, frame-rate conversion, the mode's maths;
3. `apply`   (main thread)  write shape keys / cache + modifier / ARKit curves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from . import audio_source, compat, output, targets
from .errors import MeshTalkError
from .output import arkit as arkit_out
from .output import mesh_cache, shape_keys
from .vendored import load_template, module, weights_path, writers

MODES = (
    (
        "SHAPE_KEYS",
        "Shape Keys",
        "A compact per-clip shape-key basis with keyframed values (template-topology meshes)",
    ),
    (
        "MESH_CACHE",
        "Mesh Cache",
        "A PC2 point cache file and a Mesh Cache modifier (template-topology meshes)",
    ),
    ("ARKIT", "ARKit Keys", "Keyframes on the mesh's own ARKit-named shape keys (any topology)"),
)
MODE_IDS = tuple(m[0] for m in MODES)
CHUNK_FRAMES = 150  # 5 s of video per inference chunk: progress and cancel granularity


class Cancelled(Exception):
    """The animator pressed Esc."""


@dataclass
class Request:
    """Everything a generation needs; operators fill it from their arguments or the panel."""

    object_name: str
    mode: str = "SHAPE_KEYS"
    strip_name: str = ""
    audio_path: str = ""
    animation_path: str = ""  # a MeshTalk .npz animation instead of running the network
    seed: int = 0
    temperature: float = 1.0
    lips_only: bool = False
    frame_offset: int = 0
    cache_dir: str = ""


@dataclass
class Plan:
    request: Request
    target: targets.Target
    audio_path: Path | None
    frame_start: int
    fps: float
    cache_path: Path | None = None
    animation_file: Path | None = None


@dataclass
class Result:
    mode: str
    frames: int
    payload: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# 1. plan


def plan(context: bpy.types.Context, request: Request) -> Plan:
    """Validate the request against the scene; every problem the user can fix is raised here,
    before any work starts."""
    if request.mode not in MODE_IDS:
        raise MeshTalkError(f"Unknown mode '{request.mode}' (modes: {', '.join(MODE_IDS)})")
    scene = context.scene
    obj = bpy.data.objects.get(request.object_name) if request.object_name else None
    if request.object_name and obj is None:
        raise MeshTalkError(f"No object named '{request.object_name}'")
    targets.check_editable(obj, context)
    target = targets.analyse(obj)
    if request.mode in ("SHAPE_KEYS", "MESH_CACHE") and not target.has_template_topology:
        hint = (
            " It has ARKit shape keys: use the ARKit mode."
            if target.has_arkit
            else " Use the bundled head (Add › Mesh › MeshTalk Head), a MakeHuman/MPFB2 character,"
            " or a mesh with ARKit-named shape keys in the ARKit mode."
        )
        raise MeshTalkError(
            f"'{obj.name}' does not have the template head's topology (hm08).{hint}"
        )
    if request.mode == "ARKIT" and not target.has_arkit:
        raise MeshTalkError(
            f"'{obj.name}' has {len(target.arkit)} shape keys with ARKit names (jawOpen, "
            f"eyeBlinkLeft, …); at least {targets.MIN_ARKIT_KEYS} are needed for the ARKit mode"
            + (
                "; it has the template topology: use Shape Keys or Mesh Cache"
                if target.has_template_topology
                else ""
            )
        )
    if request.animation_path:
        path = Path(bpy.path.abspath(request.animation_path)).resolve()
        if not path.is_file():
            raise MeshTalkError(f"Animation file not found: {path}")
        audio, start = None, scene.frame_current
        if request.strip_name:
            start = int(audio_source.find_strip(scene, request.strip_name).frame_start)
        animation_file = path
    elif request.audio_path:
        src = audio_source.from_file(request.audio_path, scene.frame_current)
        audio, start, animation_file = src.path, src.frame_start, None
    else:
        src = audio_source.from_strip(scene, request.strip_name)
        audio, start, animation_file = src.path, src.frame_start, None
    fps = compat.scene_fps(scene)
    result = Plan(
        request, target, audio, start + request.frame_offset, fps, animation_file=animation_file
    )
    if request.mode == "MESH_CACHE":
        folder = mesh_cache.cache_folder(request.cache_dir)
        result.cache_path = mesh_cache.cache_file(folder, obj)
    return result


# ---------------------------------------------------------------------------------------
# 2. compute (numpy only: safe off the main thread)

_animators: dict[tuple[str, float], object] = {}
_animator_lock = threading.Lock()


def animator():
    """The runtime network, loaded once per weights file (and reloaded when it changes)."""
    path = weights_path()
    if not path.is_file():
        raise MeshTalkError(f"The network's weights file is missing: {path}")
    runtime = module("runtime")
    key = (str(path), path.stat().st_mtime)
    if key not in _animators:
        try:
            _animators.clear()
            _animators[key] = runtime.Animator(path)
        except runtime.WeightsError as exc:
            raise MeshTalkError(f"Cannot load the network's weights: {exc}") from None
    return _animators[key]


def infer(
    plan_: Plan,
    progress: Callable[[float], None] = lambda f: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[np.ndarray, float]:
    """Template-topology vertices (T, V, 3) and their frame rate, from the audio (running the
    network chunk by chunk, reporting progress, stopping on cancel) or from an animation file."""
    anim_file = plan_.animation_file
    if anim_file is not None:
        try:
            anim = writers.load_animation(anim_file)
        except (OSError, ValueError) as exc:
            raise MeshTalkError(f"Cannot read the animation file: {exc}") from None
        if anim.vertices.shape[1] != load_template().n_vertices:
            raise MeshTalkError(f"{anim_file}: not on the template head's vertices")
        return anim.vertices, anim.fps
    samples = audio_source.load_samples(plan_.audio_path)
    req = plan_.request
    with _animator_lock:  # the runtime is not re-entrant
        net = animator()
        audio_mod = module("audio")
        total = max(1, audio_mod.n_video_frames(len(samples), net.config))
        out = np.empty((total, net.n_vertices, 3), np.float32)
        pieces = net.iter_animate(
            samples,
            plan_.target.template_input(),
            seed=req.seed,
            temperature=req.temperature,
            lips_only=req.lips_only,
            chunk_frames=CHUNK_FRAMES,
        )
        for start, verts in pieces:
            if cancelled():
                raise Cancelled
            out[start : start + len(verts)] = verts
            progress((start + len(verts)) / total)
        return out, float(net.fps)


def compute(
    plan_: Plan,
    progress: Callable[[float, str], None] = lambda f, s: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Result:
    """Everything between the audio and the Blender writes, numpy only."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    progress(0.0, "running the network")
    verts, fps = infer(plan_, lambda f: progress(0.85 * f, "running the network"), cancelled)
    times["inference"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = derive(plan_, verts, fps, lambda s: progress(0.9, s))
    if cancelled():
        raise Cancelled
    times["derive"] = time.perf_counter() - t1
    result.timings = times
    return result


def derive(plan_: Plan, verts: np.ndarray, fps: float, say=lambda s: None) -> Result:
    """Resample to the scene's frame rate and do the mode's maths on template vertices."""
    template = load_template()
    target = plan_.target
    verts = writers.resample_frames(verts, fps, plan_.fps)
    rest_input = target.template_input()
    rest_input = template.vertices if rest_input is None else rest_input
    offsets = verts - rest_input  # template frame
    mode = plan_.request.mode
    result = Result(mode, len(verts))
    if mode == "ARKIT":
        say("fitting ARKit weights")
        fit = module("retarget").fit_arkit_weights(offsets, template.arkit_deltas)
        result.payload = {"weights": fit.weights, "names": template.arkit_names}
        return result
    face = target.face
    sim = face.similarity
    if mode == "SHAPE_KEYS":
        say("finding a compact shape-key basis")
        # PCA in the template's frame, then only the K keys are mapped to the character's
        # frame (a linear map commutes with the basis); the tolerance follows the scale.
        part = offsets if face.present.all() else offsets[:, face.present]
        basis = writers.compact_basis(part, tolerance=writers.TOLERANCE * sim.scale)
        keys = np.zeros((len(basis.keys), template.n_vertices, 3), np.float32)
        keys[:, face.present] = sim.offsets_to_character(basis.keys)
        result.payload = {"keys": keys, "values": basis.values, "basis": basis}
    else:
        say("writing the point cache")
        write_cache(plan_.cache_path, target.rest, face, offsets, plan_.frame_start)
    return result


def write_cache(path: Path, rest: np.ndarray, face, offsets: np.ndarray, start: int) -> None:
    """PC2 of the whole mesh: its rest positions plus the face's offsets (template frame,
    mapped to the character's), streamed in blocks: a body mesh over a minute would
    otherwise be ~400 MB in memory."""
    present = face.present
    target = face.indices[present]
    with writers.PC2Writer(path, len(rest), len(offsets), start) as pc2:
        for s in range(0, len(offsets), 256):
            part = face.similarity.offsets_to_character(offsets[s : s + 256][:, present])
            block = np.broadcast_to(rest, (len(part), *rest.shape)).copy()
            block[:, target] += part
            pc2.write(block)


# ---------------------------------------------------------------------------------------
# 3. apply (main thread)


def apply(context: bpy.types.Context, plan_: Plan, result: Result) -> str:
    """Replace MeshTalk's previous output on the object with this one; return a report."""
    obj = plan_.target.obj
    start = plan_.frame_start
    output.clear_previous(obj)
    end = start + result.frames - 1
    if result.mode == "SHAPE_KEYS":
        basis = result.payload["basis"]
        n, on_nla = shape_keys.write(
            obj,
            plan_.target.rest,
            plan_.target.face.indices,
            result.payload["keys"],
            result.payload["values"],
            start,
        )
        msg = f"{n} shape keys on '{obj.name}', frames {start}–{end}"
        if not basis.within_tolerance:
            msg += f" (WARNING: {basis.report()})"
    elif result.mode == "MESH_CACHE":
        mesh_cache.attach(obj, plan_.cache_path, start)
        on_nla = False
        msg = f"mesh cache {plan_.cache_path.name} on '{obj.name}', frames {start}–{end}"
    else:
        n, on_nla = arkit_out.write(
            obj, plan_.target.arkit, result.payload["names"], result.payload["weights"], start
        )
        msg = f"{n} ARKit keys animated on '{obj.name}', frames {start}–{end}"
    if on_nla:
        msg += "; the mesh's own action stays active, MeshTalk's is on the NLA track 'MeshTalk'"
    obj.data.update()
    context.view_layer.update()
    return "MeshTalk: " + msg


def run(context: bpy.types.Context, request: Request) -> str:
    """All three steps on this thread (scripts, `blender -b`, tests)."""
    p = plan(context, request)
    return apply(context, p, compute(p))
