"""meshtalk.load_audio: add an audio file as a sound strip at the current frame."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from .. import compat
from ..audio_source import check_readable
from ..errors import MeshTalkError


class MESHTALK_OT_load_audio(bpy.types.Operator, ImportHelper):
    """Add an audio file to the Sequencer at the current frame and animate from it"""

    bl_idname = "meshtalk.load_audio"
    bl_label = "Load Audio…"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(
        default="*.wav;*.mp3;*.ogg;*.flac;*.aif;*.aiff;*.m4a", options={"HIDDEN"}
    )

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Refuse a file that will not decode now (header and first second, cheap), not at
        Generate: a 20-byte WAV or random bytes named .wav never become a strip."""
        scene = context.scene
        path = Path(bpy.path.abspath(self.filepath))
        try:
            if not self.filepath:
                raise MeshTalkError("Choose an audio file")
            if path.is_dir():
                raise MeshTalkError(f"{path} is a folder: choose an audio file in it")
            check_readable(path)
        except MeshTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        frame = scene.frame_current
        channel = compat.free_channel(scene, frame, frame + 1)
        try:
            strip = compat.new_sound_strip(scene, path.stem, str(path), channel, frame)
        except RuntimeError as exc:
            self.report({"ERROR"}, f"Blender cannot load {path.name} as sound: {exc}")
            return {"CANCELLED"}
        scene.meshtalk.strip_name = strip.name
        scene.sequence_editor.active_strip = strip
        self.report({"INFO"}, f"MeshTalk: sound strip '{strip.name}' at frame {frame}")
        return {"FINISHED"}


CLASSES = (MESHTALK_OT_load_audio,)
