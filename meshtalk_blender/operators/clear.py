"""meshtalk.clear: remove what MeshTalk wrote on a mesh, and only that."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from .. import output, targets
from ..errors import MeshTalkError


class MESHTALK_OT_clear(bpy.types.Operator):
    """Remove what MeshTalk wrote on the target: its MeshTalk_ shape keys, its action and NLA
    track, its Mesh Cache modifier. Your own shape keys, actions and modifiers stay"""

    bl_idname = "meshtalk.clear"
    bl_label = "Remove MeshTalk Animation"
    bl_options = {"REGISTER", "UNDO"}

    object_name: StringProperty(name="Object", description="Mesh object (default: the panel's)")

    def execute(self, context: bpy.types.Context) -> set[str]:
        name = self.object_name
        obj = bpy.data.objects.get(name) if name else context.scene.meshtalk.target
        try:
            if name and obj is None:
                raise MeshTalkError(f"No object named '{name}'")
            targets.check_editable(obj, context)
        except MeshTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        output.clear_previous(obj)
        obj.data.update()
        self.report({"INFO"}, f"MeshTalk: removed its animation from '{obj.name}'")
        return {"FINISHED"}


CLASSES = (MESHTALK_OT_clear,)
