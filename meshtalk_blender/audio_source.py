"""Where the speech comes from: a sound strip of the scene's Sequencer (or a file), decoded
to samples (the runtime's session brings them to the network's rate)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from . import compat
from .errors import MeshTalkError
from .runtime.audio import AudioError, read_audio


@dataclass(frozen=True)
class AudioSource:
    path: Path  # absolute
    frame_start: int  # scene frame where the sound's first sample plays
    strip_name: str | None


def sound_strips(scene: bpy.types.Scene) -> list:
    return [s for s in compat.strips(scene) if s.type == "SOUND"]


def find_strip(scene: bpy.types.Scene, name: str = ""):
    """The named sound strip; without a name the active strip if it is a sound, else the
    only sound strip. Errors say what to do."""
    strips = sound_strips(scene)
    if name:
        for s in strips:
            if s.name == name:
                return s
        raise MeshTalkError(
            f"No sound strip named '{name}' in scene '{scene.name}'"
            + (f" (sound strips: {', '.join(s.name for s in strips)})" if strips else "")
        )
    if not strips:
        raise MeshTalkError(
            f"Scene '{scene.name}' has no sound strip: add one with 'Load Audio…' in the "
            "MeshTalk panel or in the Video Sequencer"
        )
    editor = scene.sequence_editor
    active = getattr(editor, "active_strip", None)
    if active is not None and active.type == "SOUND":
        return active
    if len(strips) == 1:
        return strips[0]
    raise MeshTalkError(
        f"Scene '{scene.name}' has {len(strips)} sound strips: choose one in the MeshTalk panel"
    )


def strip_path(strip) -> Path:
    sound = strip.sound
    if sound is None:
        raise MeshTalkError(f"Sound strip '{strip.name}' has no sound data")
    if sound.packed_file is not None and not sound.filepath:
        raise MeshTalkError(
            f"The sound of strip '{strip.name}' is packed in the .blend: unpack it "
            "(File › External Data › Unpack Resources) so MeshTalk can read it"
        )
    return Path(bpy.path.abspath(sound.filepath, library=sound.library)).resolve()


def from_strip(scene: bpy.types.Scene, name: str = "") -> AudioSource:
    strip = find_strip(scene, name)
    path = strip_path(strip)
    check_readable(path)
    return AudioSource(path, int(strip.frame_start), strip.name)


def from_file(path: str, frame_start: int) -> AudioSource:
    resolved = Path(bpy.path.abspath(path)).resolve()
    check_readable(resolved)
    return AudioSource(resolved, int(frame_start), None)


def check_readable(path: Path) -> None:
    if not path.is_file():
        raise MeshTalkError(f"Audio file not found: {path}")
    if not os.access(path, os.R_OK):
        raise MeshTalkError(f"Audio file is not readable (permissions): {path}")


def load_samples(path: Path) -> tuple[np.ndarray, int]:
    """(samples, sample rate). WAV goes through MeshTalk's own numpy decoder; any other format
    Blender can play (MP3, OGG, FLAC, ...) through Blender's audio library `aud`."""
    try:
        samples, rate = read_audio(path)
    except AudioError as exc:
        samples, rate = _load_with_aud(path, exc)
    if samples.size == 0 or not np.isfinite(samples).all():
        raise MeshTalkError(f"Audio file has no usable samples: {path}")
    return samples, rate


def _load_with_aud(path: Path, first_error: Exception) -> tuple[np.ndarray, int]:
    try:
        import aud
    except ImportError:
        raise MeshTalkError(f"Cannot read the audio file {path}: {first_error}") from None
    try:
        sound = aud.Sound(str(path))
        rate = int(sound.specs[0])
        data = np.asarray(sound.data(), np.float32)
    except Exception as exc:  # aud raises plain Exceptions for undecodable files
        raise MeshTalkError(f"Cannot read the audio file {path}: {exc}") from None
    return data, rate
