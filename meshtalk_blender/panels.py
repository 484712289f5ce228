"""The 3D View sidebar tab "MeshTalk". (Blender never calls draw() in background mode, so
the logic it shows lives in `panel_state`, which tests call directly.)"""

from __future__ import annotations

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


def panel_state(context: bpy.types.Context) -> list[tuple[str, str]]:
    """(icon, line) hints under the Generate button: what the target supports, which audio."""
    settings = context.scene.meshtalk
    lines: list[tuple[str, str]] = []
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
    lines.append(
        (
            "CHECKMARK" if kinds else "ERROR",
            ", ".join(kinds) or "no template topology or ARKit keys",
        )
    )
    try:
        strip = audio_source.find_strip(context.scene, settings.strip_name)
        lines.append(("SOUND", f"{strip.name} from frame {int(strip.frame_start)}"))
    except MeshTalkError as exc:
        lines.append(("ERROR", str(exc)))
    return lines


class VIEW3D_PT_meshtalk(bpy.types.Panel):
    bl_label = "MeshTalk"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "MeshTalk"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.meshtalk
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
        col.prop(settings, "seed")
        col.prop(settings, "temperature")
        col.prop(settings, "lips_only")
        col.prop(settings, "frame_offset")
        layout.label(text=f"Scene: {compat.scene_fps(context.scene):g} fps")
        row = layout.row()
        row.scale_y = 1.4
        row.enabled = not is_running()
        row.operator("meshtalk.generate", icon="PLAY_SOUND")
        layout.operator("meshtalk.clear", icon="TRASH")
        for icon, line in panel_state(context):
            layout.label(text=line, icon=icon)


CLASSES = (VIEW3D_PT_meshtalk,)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
