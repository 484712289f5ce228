"""meshtalk.clear: remove what MeshTalk wrote on a mesh, and only that."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from .. import output, targets
from ..errors import MeshTalkError


class MESHTALK_OT_clear(bpy.types.Operator):
    """Remove what MeshTalk wrote on the target: the shape keys it added, its action and NLA
    track, its Mesh Cache modifier. Your own shape keys, actions and modifiers stay, and so
    do MeshTalk keys you renamed"""

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
        kept = output.clear_previous(obj)
        obj.data.update()
        message = f"MeshTalk: removed its animation from '{obj.name}'"
        if kept:
            message += f"; kept the keys you renamed, with their animation: {', '.join(kept)}"
        self.report({"INFO"}, message)
        return {"FINISHED"}


CLASSES = (MESHTALK_OT_clear,)
