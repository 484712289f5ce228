"""meshtalk.export_animation: write the MeshTalk animation on the panel's target to a file, the
format by its suffix: .npz, .pc2, .glb (template-topology characters), .csv (Live Link Face,
for Unreal/MetaHuman) or .json (ARKit curves).

What is exported is read off the object as it plays, not recomputed: settings may have changed
since Generate, and the animator may have edited the keys. MeshTalk's frame range is that of
its action (Shape Keys, ARKit) or of its cache (Mesh Cache); the file starts at time 0.

- Template topology (the bundled head, MakeHuman/MPFB2 characters): every frame's evaluated
  mesh (depsgraph) in blocks, its face picked through hm08 indices and moved into the
  template's frame (the character's similarity), then the runtime's writers through
  `VertexFrames`: the same writer code as `meshtalk animate`.
- ARKit mode: .csv and .json come from the action's ARKit curves themselves (units the mesh
  has no key for are 0); the vertex formats need template topology, else they are refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, StringProperty

from .. import compat, output, targets
from ..errors import MeshTalkError
from ..output import animation
from ..runtime.outputs import (
    FORMATS,
    WEIGHT_FORMATS,
    VertexBlock,
    VertexFrames,
    open_weights_writer,
    open_writer,
)
from ..runtime.outputs.pc2 import PC2_HEADER, PC2_MAGIC
from ..runtime.retarget import CharacterFace
from ..runtime.template import load_template
from .generate import is_running

BLOCK = 256  # frames evaluated per block: (256, 5084, 3) float32 is 16 MB
_KEY_PATH = re.compile(r'^key_blocks\["((?:[^"\\]|\\.)*)"\]\.value$')


@dataclass(frozen=True)
class Clip:
    """The MeshTalk animation found on an object: its mode and scene frames [start, end]."""

    mode: str  # SHAPE_KEYS, MESH_CACHE or ARKIT (the add-on's modes)
    start: int
    end: int
    action: bpy.types.Action | None = None

    @property
    def n_frames(self) -> int:
        return self.end - self.start + 1


def _own_action(key: bpy.types.Key) -> bpy.types.Action | None:
    """MeshTalk's action on the shape keys: the active one, or the one on its NLA track."""
    active = compat.active_action(key)
    if animation.is_own(active):
        return active
    return next(
        (a for a in compat.nla_track_actions(key, animation.NLA_TRACK) if animation.is_own(a)),
        None,
    )


def _pc2_samples(path: Path) -> int:
    """The frame count in a PC2 file's header (the cache the modifier plays)."""
    try:
        with open(path, "rb") as f:
            header = f.read(PC2_HEADER.size)
    except OSError as exc:
        raise MeshTalkError(
            f"Cannot read the mesh cache {path}: {exc.strerror or exc}; generate again"
        ) from None
    if len(header) < PC2_HEADER.size or header[:12] != PC2_MAGIC:
        raise MeshTalkError(f"The mesh cache {path} is not a PC2 file; generate again")
    return PC2_HEADER.unpack(header)[5]


def find_clip(obj: bpy.types.Object) -> Clip:
    """What MeshTalk left on `obj` (a Mesh Cache modifier, or its action on the shape keys)."""
    mod = output.own_modifier(obj)
    if mod is not None:
        start = round(mod.frame_start)
        return Clip(
            "MESH_CACHE", start, start + _pc2_samples(Path(bpy.path.abspath(mod.filepath))) - 1
        )
    key = obj.data.shape_keys
    action = _own_action(key) if key is not None else None
    frames: list[float] = []
    for fc in compat.action_fcurves(action) if action is not None else ():
        points = np.empty(len(fc.keyframe_points) * 2, np.float32)
        fc.keyframe_points.foreach_get("co", points)
        frames.extend(points[0::2].tolist())
    if not frames:
        raise MeshTalkError(f"'{obj.name}' has no MeshTalk animation to export: Generate first")
    mode = "SHAPE_KEYS" if output.own_key_names(obj) else "ARKIT"
    return Clip(mode, round(min(frames)), round(max(frames)), action)


def curve_weights(clip: Clip, target: targets.Target, names: tuple[str, ...]) -> np.ndarray:
    """(T, 52) ARKit weights of the clip's frames from its action's curves (each F-curve
    evaluated, so edited keys and interpolation count); 0 for units without a key."""
    unit_of_key = {key: unit for unit, key in target.arkit.items()}
    column = {name: i for i, name in enumerate(names)}
    frames = range(clip.start, clip.end + 1)
    weights = np.zeros((len(frames), len(names)), np.float32)
    for fc in compat.action_fcurves(clip.action):
        match = _KEY_PATH.match(fc.data_path)
        unit = unit_of_key.get(re.sub(r"\\(.)", r"\1", match.group(1))) if match else None
        if unit is not None:
            weights[:, column[unit]] = [fc.evaluate(f) for f in frames]
    return weights


def evaluated_blocks(
    context: bpy.types.Context,
    obj: bpy.types.Object,
    face: CharacterFace,
    clip: Clip,
    progress: Callable[[int], None] = lambda done: None,
) -> Iterator[VertexBlock]:
    """The clip's frames as the object plays them (depsgraph: shape keys, actions, NLA,
    modifiers), its face in the template's frame, BLOCK frames at a time. The scene's
    current frame is restored afterwards."""
    scene = context.scene
    current = scene.frame_current
    present = face.present
    where = face.indices[present]
    n_mesh = len(obj.data.vertices)
    co = np.empty(n_mesh * 3, np.float32)
    try:
        for start in range(0, clip.n_frames, BLOCK):
            count = min(BLOCK, clip.n_frames - start)
            raw = np.empty((count, len(where), 3), np.float32)
            for i in range(count):
                scene.frame_set(clip.start + start + i)
                mesh = obj.evaluated_get(context.evaluated_depsgraph_get()).data
                if len(mesh.vertices) != n_mesh:
                    raise MeshTalkError(
                        f"'{obj.name}' has {len(mesh.vertices)} vertices after its modifiers, "
                        f"{n_mesh} before: disable the modifiers that change the mesh to export"
                    )
                mesh.vertices.foreach_get("co", co)
                raw[i] = co.reshape(-1, 3)[where]
            block = np.repeat(face.template_input[None], count, axis=0)
            block[:, present] = face.similarity.to_template(raw)
            yield VertexBlock(start, block)
            progress(start + count)
    finally:
        scene.frame_set(current)


def export(
    context: bpy.types.Context,
    obj: bpy.types.Object,
    path: Path,
    progress: Callable[[int], None] = lambda done: None,
) -> str:
    """Write `obj`'s MeshTalk animation to `path` (format by suffix); returns a report."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise MeshTalkError(
            f"Cannot export to {path}: unknown suffix '{path.suffix}' (use {', '.join(FORMATS)})"
        )
    clip = find_clip(obj)
    target = targets.analyse(obj)
    template = load_template()
    fps = compat.scene_fps(context.scene)
    try:
        if clip.mode == "ARKIT" and kind in WEIGHT_FORMATS:
            weights = curve_weights(clip, target, template.arkit_names)
            with open_weights_writer(path, kind, fps, clip.n_frames, template) as writer:
                writer.write_weights(weights)
        elif not target.has_template_topology:
            raise MeshTalkError(
                f"Cannot export to {path}: a .{kind} file holds the template head's vertices, "
                f"and '{obj.name}' has ARKit keys only: export .csv or .json"
            )
        else:
            frames = VertexFrames(target.face.template_input, fps, clip.n_frames)
            with open_writer(path, kind, frames, template) as writer:
                for block in evaluated_blocks(context, obj, target.face, clip, progress):
                    writer.write(block)
    except OSError as exc:
        raise MeshTalkError(f"Cannot write {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise MeshTalkError(f"Cannot export to {path}: {exc}") from None
    return (
        f"MeshTalk: exported '{obj.name}', frames {clip.start}–{clip.end} at {fps:g} fps, to {path}"
    )


class MESHTALK_OT_export_animation(bpy.types.Operator):
    """Write the target's MeshTalk animation to a file: .npz, .pc2 or .glb (template-topology
    characters), .csv (Live Link Face, for Unreal and MetaHuman) or .json (ARKit curves)"""

    bl_idname = "meshtalk.export_animation"
    bl_label = "Export MeshTalk Animation…"
    bl_options = {"REGISTER"}

    filepath: StringProperty(name="File Path", subtype="FILE_PATH", options={"SKIP_SAVE"})
    filter_glob: StringProperty(default="*.npz;*.pc2;*.csv;*.json;*.glb", options={"HIDDEN"})
    check_existing: BoolProperty(default=True, options={"HIDDEN"})
    object_name: StringProperty(name="Object", description="Mesh object (default: the panel's)")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and not is_running()

    def _object(self, context: bpy.types.Context) -> bpy.types.Object:
        name = self.object_name
        obj = bpy.data.objects.get(name) if name else context.scene.meshtalk.target
        if name and obj is None:
            raise MeshTalkError(f"No object named '{name}'")
        return targets.check_mesh(obj)

    def invoke(self, context: bpy.types.Context, event) -> set[str]:
        try:
            obj = self._object(context)
        except MeshTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if not self.filepath:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in obj.name)
            suffix = ".npz" if targets.analyse(obj).has_template_topology else ".csv"
            folder = bpy.path.abspath("//") if bpy.data.filepath else ""
            self.filepath = str(Path(folder) / f"{safe}_MeshTalk{suffix}")
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        wm = context.window_manager
        show = context.window is not None
        try:
            obj = self._object(context)
            if not self.filepath:
                raise MeshTalkError("Choose a file to export the MeshTalk animation to")
            path = Path(bpy.path.abspath(self.filepath))
            if show:
                wm.progress_begin(0, max(1, find_clip(obj).n_frames))
            message = export(context, obj, path, wm.progress_update if show else lambda d: None)
        except MeshTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        finally:
            if show:
                wm.progress_end()
        self.report({"INFO"}, message)
        return {"FINISHED"}


CLASSES = (MESHTALK_OT_export_animation,)
