"""The 3D View sidebar tab "MeshTalk". (Blender never calls draw() in background mode, so
the logic it shows lives in `panel_state`, which tests call directly.)"""

from __future__ import annotations

import math
import textwrap

import bpy

from . import audio_source, compat, targets
from .errors import MeshTalkError
from .operators.generate import is_running

_analysed: dict[tuple, targets.Target] = {}


def _analyse_cached(obj: bpy.types.Object) -> targets.Target:
    """The panel redraws often; analysing a 19k-vertex body each time would be felt. The key
    changes whenever the answer can (vertex/edge counts, shape-key names)."""
    mesh = obj.data
    keys = mesh.shape_keys
    names = tuple(k.name for k in keys.key_blocks) if keys is not None else ()
    stamp = (obj.name, mesh.name, len(mesh.vertices), len(mesh.edges), names)
    if stamp not in _analysed:
        _analysed.clear()
        _analysed[stamp] = targets.analyse(obj)
    return _analysed[stamp]


WHAT_IS_WRITTEN = {
    "SHAPE_KEYS": "MeshTalk shape keys with keyframes",
    "MESH_CACHE": "a .pc2 cache and a Mesh Cache modifier",
    "ARKIT": "keyframes on its ARKit shape keys",
}


def panel_state(context: bpy.types.Context) -> list[tuple[str, str]]:
    """(icon, line) hints: problems first (icon ERROR), then what the target supports, which
    audio, and what Generate will write where (the status line)."""
    settings = context.scene.meshtalk
    obj = settings.target
    if obj is None:
        return [("INFO", "Choose a mesh to animate")]
    try:
        targets.check_editable(obj, context)
        t = _analyse_cached(obj)
    except MeshTalkError as exc:
        return [("ERROR", str(exc))]
    kinds = []
    if t.has_template_topology:
        kinds.append("template topology")
    if t.has_arkit:
        kinds.append(f"{len(t.arkit)} ARKit keys")
    lines = [
        (
            "CHECKMARK" if kinds else "ERROR",
            ", ".join(kinds) or "no template topology or ARKit keys",
        )
    ]
    try:
        strip = audio_source.find_strip(context.scene, settings.strip_name)
    except MeshTalkError as exc:
        lines.append(("ERROR", str(exc)))
        strip = None
    if strip is not None:
        fps = compat.scene_fps(context.scene)
        first, _, seconds = audio_source.strip_window(strip, fps)  # what is heard
        lines.append(("SOUND", f"{strip.name} from frame {first}"))
        start = first + settings.frame_offset
        end = start + max(1, math.ceil(seconds * fps - 1e-6)) - 1
        what = WHAT_IS_WRITTEN[settings.mode]
        lines.append(("INFO", f"Writes {what} on '{obj.name}', frames {start}–{end}"))
    return sorted(lines, key=lambda line: line[0] != "ERROR")  # problems first


def wrap(text: str, width_px: float, scale: float = 1.0) -> list[str]:
    """Lines of `text` that fit a sidebar `width_px` wide (Blender's labels never wrap)."""
    chars = max(20, int(width_px / (7.0 * scale)) - 4)
    return textwrap.wrap(text, chars) or [""]


class VIEW3D_PT_meshtalk(bpy.types.Panel):
    bl_label = "MeshTalk"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "MeshTalk"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.meshtalk
        state = panel_state(context)
        width = context.region.width if context.region else 300
        scale = context.preferences.system.ui_scale
        for _, line in (x for x in state if x[0] == "ERROR"):
            box = layout.box().column(align=True)
            for k, part in enumerate(wrap(line, width, scale)):
                box.label(text=part, icon="ERROR" if k == 0 else "BLANK1")
        layout.prop(settings, "target")
        row = layout.row(align=True)
        editor = context.scene.sequence_editor
        if editor is not None:
            row.prop_search(
                settings,
                "strip_name",
                editor,
                compat.strip_collection_name(context.scene),
                text="Audio",
            )
        else:
            row.label(text="No sound strip yet")
        layout.operator("meshtalk.load_audio", icon="FILE_SOUND")
        col = layout.column(align=True)
        col.prop(settings, "mode")
        if settings.mode == "MESH_CACHE":
            col.prop(settings, "cache_dir")
        col = layout.column(align=True)
        col.label(text="Strength")
        col.prop(settings, "mouth_strength", slider=True)
        col.prop(settings, "upper_strength", slider=True)
        col = layout.column(align=True)
        col.prop(settings, "temperature")
        col.prop(settings, "seed")
        col.prop(settings, "lips_only")
        col.prop(settings, "frame_offset")
        for icon, line in (x for x in state if x[0] != "ERROR"):
            for k, part in enumerate(wrap(line, width, scale)):
                layout.label(text=part, icon=icon if k == 0 else "BLANK1")
        layout.label(text=f"Scene: {compat.scene_fps(context.scene):g} fps", icon="TIME")
        row = layout.row()
        row.scale_y = 1.4
        row.enabled = not is_running()
        row.operator("meshtalk.generate", icon="PLAY_SOUND")
        layout.operator("meshtalk.clear", icon="TRASH")
        layout.operator("meshtalk.export_animation", icon="EXPORT")


CLASSES = (VIEW3D_PT_meshtalk,)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
