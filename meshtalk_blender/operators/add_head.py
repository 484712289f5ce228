"""meshtalk.add_head (Add › Mesh › MeshTalk Head): the bundled template head, ready to render
(procedural skin, eyes, lashes, teeth and collar materials, a closed neck, subdivision)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty

from ..head import add_arkit_keys, add_head_object
from ..runtime.template import load_template


class MESHTALK_OT_add_head(bpy.types.Operator):
    """Add MeshTalk's head, ready to animate and render"""

    bl_idname = "meshtalk.add_head"
    bl_label = "MeshTalk Head"
    bl_description = (
        "Add MeshTalk's head: MakeHuman hm08 topology with UVs, procedural materials for "
        "Cycles and EEVEE, and a Subdivision Surface modifier for renders"
    )
    bl_options = {"REGISTER", "UNDO"}

    arkit_keys: BoolProperty(
        name="ARKit Shape Keys",
        default=False,
        description="Also add the 52 ARKit face units as shape keys (for the ARKit mode)",
    )

    def execute(self, context: bpy.types.Context) -> set[str]:
        if context.mode != "OBJECT" and context.active_object is not None:
            bpy.ops.object.mode_set(mode="OBJECT")
        template = load_template()
        obj = add_head_object(template, collection=context.collection)
        obj.location = context.scene.cursor.location
        if self.arkit_keys:
            add_arkit_keys(obj, template)
        for other in context.selected_objects:
            other.select_set(False)
        obj.select_set(True)
        context.view_layer.objects.active = obj
        context.scene.meshtalk.target = obj
        return {"FINISHED"}


def menu_entry(self, _context) -> None:
    self.layout.operator(MESHTALK_OT_add_head.bl_idname, icon="USER")


CLASSES = (MESHTALK_OT_add_head,)
