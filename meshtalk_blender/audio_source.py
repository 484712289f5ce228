"""Where the speech comes from: a sound strip of the scene's Sequencer (or a file), decoded
to samples (the runtime's session brings them to the network's rate). A strip is animated
where it is heard: between its handles (its trim), with its sound's offset."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from . import compat
from .errors import MeshTalkError
from .runtime.audio import AudioError, read_audio
from .runtime.audio.decode import TruncatedAudioError, check_wav, describe, is_wav


@dataclass(frozen=True)
class AudioSource:
    path: Path  # absolute
    frame_start: int  # scene frame of the first animated frame: `offset` s into the sound
    strip_name: str | None
    offset: float = 0.0  # seconds into the sound where the animation starts
    duration: float | None = None  # seconds of the sound to animate (None: to its end)


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


def sound_zero(strip, fps: float) -> float:
    """The scene time (seconds) at which the strip plays its sound's first sample: Blender
    plays second s of the sound at (content start - content trim) / fps + sound_offset + s,
    and only between the strip's handles (`BKE_sound_add_scene_sound`)."""
    trim = compat.strip_content_trim(strip)  # frames cut off the content's start
    return (compat.strip_content_start(strip) - trim) / fps + getattr(strip, "sound_offset", 0.0)


def strip_window(strip, fps: float) -> tuple[int, float, float]:
    """The strip's audible part: (scene frame where it starts, seconds into the sound there,
    seconds long). It starts at the left handle, or at the first whole frame at or after
    the sound's first sample when an offset puts that later; it ends at the right handle."""
    left, right = compat.strip_span(strip)
    zero = sound_zero(strip, fps)
    first = max(int(left), math.ceil(zero * fps - 1e-6))
    return first, max(0.0, first / fps - zero), max(0.0, (int(right) - first) / fps)


def from_strip(scene: bpy.types.Scene, name: str = "") -> AudioSource:
    strip = find_strip(scene, name)
    path = strip_path(strip)
    check_readable(path)
    first, offset, duration = strip_window(strip, compat.scene_fps(scene))
    if duration <= 0:
        raise MeshTalkError(
            f"Sound strip '{strip.name}' plays none of its sound: its sound offset "
            f"({getattr(strip, 'sound_offset', 0.0):g} s) puts the sound after its end"
        )
    return AudioSource(path, first, strip.name, offset, duration)


def from_file(path: str, frame_start: int) -> AudioSource:
    resolved = Path(bpy.path.abspath(path)).resolve()
    check_readable(resolved)
    return AudioSource(resolved, int(frame_start), None)


def check_readable(path: Path) -> None:
    """Exists, may be read, and decodes: a WAV's header, its length against what the header
    announces and its first second; another format's first second through Blender's `aud`.
    Cheap (a 10-minute file is not read), so Load Audio refuses a broken file at once,
    not at Generate."""
    if not path.is_file():
        raise MeshTalkError(f"Audio file not found: {path}")
    if not os.access(path, os.R_OK):
        raise MeshTalkError(f"Audio file is not readable (permissions): {path}")
    wav_error: AudioError | None = None
    try:
        if is_wav(path):
            check_wav(path)
            return
    except TruncatedAudioError as exc:  # missing for every decoder: no second opinion
        raise MeshTalkError(_cannot_read(path, exc)) from None
    except AudioError as exc:  # a WAV flavour MeshTalk does not decode: Blender may
        wav_error = exc
    except OSError as exc:
        raise MeshTalkError(_cannot_read(path, exc)) from None
    _check_with_aud(path, wav_error)


def _cannot_read(path: Path, exc: BaseException) -> str:
    """'Cannot read the audio file <path>: <cause>', the cause without the path again."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else describe(exc)
    return f"Cannot read the audio file {path}: {text.removeprefix(f'{path}: ')}"


def _check_with_aud(path: Path, wav_error: AudioError | None) -> None:
    """Decode the first second with Blender's audio library (MP3, OGG, FLAC, WAV flavours)."""
    try:
        import aud
    except ImportError:  # a Blender built without Audaspace: Generate will tell
        return
    try:
        sound = aud.Sound(str(path))
        _ = sound.specs  # opens the file: aud.error if no reader takes it, where asking
        data = sound.limit(0.0, 1.0).data()  # for samples first would abort Blender
    except Exception as exc:  # aud raises its own aud.error for undecodable files
        if wav_error is not None:
            raise MeshTalkError(_cannot_read(path, wav_error)) from None
        what = "not a WAV file (no RIFF/WAVE header), and " if path.suffix.lower() == ".wav" else ""
        raise MeshTalkError(
            f"Cannot read the audio file {path}: {what}Blender cannot decode it ({describe(exc)})"
        ) from None
    if len(data) == 0:
        raise MeshTalkError(f"The audio file {path} holds no audio")


def load_samples(
    path: Path, offset: float = 0.0, duration: float | None = None, slack: float = 0.0
) -> tuple[np.ndarray, int]:
    """(samples, sample rate) of `duration` seconds from `offset` (a strip's audible part);
    an end within `slack` seconds (a frame) of the sound's end is its end: a strip's length
    is whole frames, and an untrimmed strip is animated from the whole sound, as a file is.
    WAV goes through MeshTalk's own numpy decoder; any other format Blender can play (MP3,
    OGG, FLAC, ...) through Blender's audio library `aud`. A truncated WAV is an error, not
    half a clip (`aud` would decode the part that is there without a word)."""
    try:
        samples, rate = read_audio(path)
    except TruncatedAudioError as exc:
        raise MeshTalkError(_cannot_read(path, exc)) from None
    except AudioError as exc:
        samples, rate = _load_with_aud(path, exc)
    if samples.size == 0 or not np.isfinite(samples).all():
        raise MeshTalkError(f"Audio file has no usable samples: {path}")
    if offset > 0 or duration is not None:
        first = int(round(offset * rate))
        stop = len(samples) if duration is None else first + int(round(duration * rate))
        if len(samples) - stop <= slack * rate:
            stop = len(samples)
        if first >= len(samples):
            raise MeshTalkError(
                f"The audible part of the strip starts {offset:.2f} s into {path.name}, "
                f"which is only {len(samples) / rate:.2f} s long"
            )
        samples = samples[first:stop]
    return samples, rate


def _load_with_aud(path: Path, first_error: Exception | None) -> tuple[np.ndarray, int]:
    try:
        import aud
    except ImportError:
        reason = first_error or ImportError("this Blender has no audio library (aud)")
        raise MeshTalkError(_cannot_read(path, reason)) from None
    try:
        sound = aud.Sound(str(path))
        rate = int(sound.specs[0])
        data = np.asarray(sound.data(), np.float32)
    except Exception as exc:  # aud raises plain Exceptions for undecodable files
        raise MeshTalkError(_cannot_read(path, exc)) from None
    return data, rate
