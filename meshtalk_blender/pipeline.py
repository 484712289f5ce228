"""One generation, in three steps so the slow middle one can run off the main thread:

1. `plan`    (main thread)  check the request, read the mesh and the audio path;
2. `compute` (any thread)   numpy only: the runtime's session streams blocks of frames into
                            the mode's result (shape-key basis, point cache, ARKit weights),
                            so no (T, V, 3) array of the whole clip is ever held;
3. `apply`   (main thread)  write shape keys / cache + modifier / ARKit curves.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from . import audio_source, compat, output, targets
from .errors import MeshTalkError
from .output import arkit as arkit_out
from .output import mesh_cache, shape_keys
from .properties import MODE_IDS
from .runtime.audio import AudioError
from .runtime.framerate import resample_frames
from .runtime.network import WeightsError
from .runtime.outputs import (
    TOLERANCE,
    BlockFitter,
    PC2Writer,
    basis_from_coefficients,
    compact_basis,
    load_animation,
)
from .runtime.retarget import ArkitFitter
from .runtime.session import Cancelled, Session
from .runtime.settings import Settings
from .runtime.template import load_template

__all__ = ["Cancelled", "Plan", "Request", "Result", "apply", "compute", "plan", "run"]


@dataclass
class Request:
    """Everything a generation needs: where the result goes (the add-on's part) and how to
    animate (`settings`, the runtime's dataclass; its fps is replaced by the scene's)."""

    object_name: str
    mode: str = "SHAPE_KEYS"
    strip_name: str = ""
    audio_path: str = ""
    animation_path: str = ""  # a MeshTalk .npz animation instead of running the network
    frame_offset: int = 0
    cache_dir: str = ""
    settings: Settings = field(default_factory=Settings)
    extend_scene: bool = True  # move the scene's end frame out to the animation's end


@dataclass
class Plan:
    request: Request
    target: targets.Target
    audio_path: Path | None
    frame_start: int
    settings: Settings  # with the scene's frame rate
    cache_path: Path | None = None
    animation_file: Path | None = None
    audio_offset: float = 0.0  # seconds into the sound where the strip's audible part starts
    audio_duration: float | None = None  # seconds of it (None: to the sound's end)


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
        audio, start, animation_file = None, scene.frame_current, path
        if request.strip_name:  # the file's frame 0 where the strip plays its first sample
            fps = compat.scene_fps(scene)
            strip = audio_source.find_strip(scene, request.strip_name)
            start = round(audio_source.sound_zero(strip, fps) * fps)
        offset, duration = 0.0, None
    else:  # a file from the current frame, or a strip's audible part where it is heard
        src = (
            audio_source.from_file(request.audio_path, scene.frame_current)
            if request.audio_path
            else audio_source.from_strip(scene, request.strip_name)
        )
        audio, start, animation_file = src.path, src.frame_start, None
        offset, duration = src.offset, src.duration
    settings = request.settings.with_(fps=compat.scene_fps(scene))
    result = Plan(
        request,
        target,
        audio,
        start + request.frame_offset,
        settings,
        animation_file=animation_file,
        audio_offset=offset,
        audio_duration=duration,
    )
    if request.mode == "MESH_CACHE":
        folder = mesh_cache.cache_folder(request.cache_dir)
        result.cache_path = mesh_cache.cache_file(folder, obj)
    return result


# ---------------------------------------------------------------------------------------
# 2. compute (numpy only: safe off the main thread)

Say = Callable[[float, str], None]


def compute(
    plan_: Plan,
    progress: Say = lambda f, s: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Result:
    """Everything between the audio and the Blender writes, numpy only, streamed: the
    session's blocks go straight into the mode's result."""
    t0 = time.perf_counter()
    progress(0.0, "reading the audio")
    template = load_template()
    target = plan_.target
    mode = plan_.request.mode
    if plan_.animation_file is not None:
        session = None
        n_file, blocks = _file_blocks(plan_)
    else:
        try:
            session = Session(plan_.settings, target.template_input())
        except WeightsError as exc:
            raise MeshTalkError(f"Cannot load the network: {exc}") from None
        samples, rate = audio_source.load_samples(
            plan_.audio_path, plan_.audio_offset, plan_.audio_duration, 1 / plan_.settings.fps
        )
        running = session.run(samples, rate, lambda f: progress(0.95 * f, "animating"), cancelled)
        blocks = ((b.coefficients, session.offsets(b)) for b in running)
        if mode == "SHAPE_KEYS":  # the basis comes from the coefficients alone
            blocks = ((b.coefficients, None) for b in running)
    try:
        if mode == "ARKIT":
            deltas = template.arkit_deltas
            if session is None:  # an animation file's offsets
                fitter = ArkitFitter(deltas)  # its 52 x 52 Gram matrix once, not per block
                weights = np.concatenate([fitter.weights(o) for _, o in blocks])
            else:  # from the coefficients alone: no vertices are made
                weights = BlockFitter(session, deltas).clip_weights(running)
            payload = {"weights": weights, "names": template.arkit_names}
            frames = len(payload["weights"])
        elif mode == "SHAPE_KEYS":
            payload = _shape_keys(plan_, session, blocks)
            frames = len(payload["values"])
        else:
            frames = _write_cache(plan_, blocks, lambda: session.n_frames if session else n_file)
            payload = {}
    except AudioError as exc:
        raise MeshTalkError(f"Cannot use the audio {plan_.audio_path}: {exc}") from None
    if cancelled():
        raise Cancelled
    return Result(mode, frames, payload, {"compute": time.perf_counter() - t0})


def _file_blocks(plan_: Plan) -> tuple[int, Iterator[tuple[None, np.ndarray]]]:
    """(frame count, (None, offsets) blocks) of a MeshTalk .npz animation, at the scene's
    frame rate."""
    path = plan_.animation_file
    try:
        anim = load_animation(path)
    except (OSError, ValueError) as exc:
        raise MeshTalkError(f"Cannot read the animation file: {exc}") from None
    if anim.vertices.shape[1] != load_template().n_vertices:
        raise MeshTalkError(f"{path}: not on the template head's vertices")
    verts = resample_frames(anim.vertices, anim.fps, plan_.settings.fps)
    rest = plan_.target.template_input()
    rest = load_template().vertices if rest is None else rest
    return len(verts), ((None, verts[s : s + 600] - rest) for s in range(0, len(verts), 600))


def _shape_keys(plan_: Plan, session: Session | None, blocks) -> dict:
    """The compact basis on the face's vertices, mapped to the character's frame (a linear
    map commutes with the basis); the tolerance follows the character's scale."""
    template = load_template()
    face = plan_.target.face
    present, sim = face.present, face.similarity
    tolerance = TOLERANCE * sim.scale
    if session is None:  # an animation file: offsets
        offsets = np.concatenate([o for _, o in blocks])
        basis = compact_basis(offsets[:, present], tolerance=tolerance)
    else:  # the network: its coefficients and affine rows
        coeffs = np.concatenate([c for c, _ in blocks])
        ones = np.ones((len(coeffs), 1), np.float32)
        rows = session.affine_rows().reshape(-1, template.n_vertices, 3)[:, present]
        basis = basis_from_coefficients(
            np.hstack([coeffs, ones]), rows.reshape(len(rows), -1), tolerance=tolerance
        )
    keys = np.zeros((len(basis.keys), template.n_vertices, 3), np.float32)
    keys[:, present] = sim.offsets_to_character(basis.keys)
    return {"keys": keys, "values": basis.values, "basis": basis}


def _write_cache(plan_: Plan, blocks, count: Callable[[], int]) -> int:
    """PC2 of the whole mesh, block by block: its rest positions plus the face's offsets
    (template frame, mapped to the character's). `count()`: the clip's frame count, known
    once the first block is made."""
    target = plan_.target
    face, rest = target.face, target.rest
    present = face.present
    where = face.indices[present]
    blocks = iter(blocks)
    first = next(blocks, None)
    n = count() if first is not None else 0
    try:
        with PC2Writer(plan_.cache_path, len(rest), n, plan_.frame_start) as pc2:
            for _, offsets in itertools.chain([first] if first else [], blocks):
                part = face.similarity.offsets_to_character(offsets[:, present])
                block = np.broadcast_to(rest, (len(part), *rest.shape)).copy()
                block[:, where] += part
                pc2.write(block)
    except OSError as exc:  # a full disk, a folder gone: the previous cache stays
        reason = exc.strerror or type(exc).__name__
        raise MeshTalkError(f"Cannot write the mesh cache {plan_.cache_path}: {reason}") from None
    return n


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
    msg += _extend_scene(context.scene, end, plan_.request.extend_scene)
    obj.data.update()
    context.view_layer.update()
    return "MeshTalk: " + msg


def _extend_scene(scene: bpy.types.Scene, end: int, extend: bool) -> str:
    """Move the scene's end frame out to the animation's last frame (a 10-minute clip would
    otherwise play 250 frames of it); never moves it in. Returns the report's words."""
    if end <= scene.frame_end:
        return ""
    if not extend:
        return f"; it ends after the scene (frame {scene.frame_end})"
    old, scene.frame_end = scene.frame_end, end
    return f"; scene end frame {old} → {end}"


def run(context: bpy.types.Context, request: Request) -> str:
    """All three steps on this thread (scripts, `blender -b`, tests)."""
    p = plan(context, request)
    return apply(context, p, compute(p))
