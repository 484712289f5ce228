"""Everything that differs between Blender 4.2 LTS and 5.x, in one place.

- Sequencer: 5.0 renamed `sequence_editor.sequences(_all)` to `strips(_all)`; 5.2 renamed a
  strip's timing (`frame_start` → `content_start`, `frame_final_start/_end` →
  `left_handle`/`right_handle`, `frame_final_duration` → `duration`; the old names warn that
  they go in 6.0).
- Actions: 4.4 introduced layered actions with slots, 5.0 removed `Action.fcurves`; F-curves
  live in a slot's channelbag (layer → keyframe strip → channelbag), which 4.4–4.5 and 5.x
  make alike through the RNA API (`bpy_extras.anim_utils`' helper for it is 5.0+ only).
- NLA strips of a slotted action must be told which slot to play.
- Shape keys: 5.0 starts a new key at value 1.0, so a new key is set to 0 explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable

import bpy

VERSION = bpy.app.version
LAYERED_ACTIONS = VERSION >= (4, 4, 0)


# ---------------------------------------------------------------------------------------
# sequencer


def strips(scene: bpy.types.Scene, recursive: bool = True) -> Iterable:
    """All strips of the scene's sequencer (inside meta strips too when recursive)."""
    editor = scene.sequence_editor
    if editor is None:
        return ()
    if hasattr(editor, "strips_all"):
        return editor.strips_all if recursive else editor.strips
    return editor.sequences_all if recursive else editor.sequences


def strip_collection_name(scene: bpy.types.Scene) -> str:
    """Name of the top-level strip collection (for UILayout.prop_search)."""
    editor = scene.sequence_editor
    return "strips_all" if editor is not None and hasattr(editor, "strips_all") else "sequences_all"


def new_sound_strip(scene: bpy.types.Scene, name: str, filepath: str, channel: int, frame: int):
    editor = scene.sequence_editor or scene.sequence_editor_create()
    top = editor.strips if hasattr(editor, "strips") else editor.sequences
    return top.new_sound(name, filepath, channel, frame)


def strip_content_start(strip) -> float:
    """The frame where the strip's content (the sound's first sample) sits."""
    return strip.content_start if hasattr(strip, "content_start") else strip.frame_start


def strip_content_trim(strip) -> float:
    """Frames cut off the start of the strip's content (`content_trim_start` in 5.1+)."""
    if hasattr(strip, "content_trim_start"):
        return strip.content_trim_start
    return getattr(strip, "animation_offset_start", 0)


def strip_span(strip) -> tuple[int, int]:
    """The frames the strip plays, [left handle, right handle)."""
    if hasattr(strip, "left_handle"):
        return strip.left_handle, strip.right_handle
    return strip.frame_final_start, strip.frame_final_end


def strip_duration(strip) -> int:
    """Frames from the left handle to the right handle."""
    return strip.duration if hasattr(strip, "duration") else strip.frame_final_duration


def free_channel(scene: bpy.types.Scene, frame_start: int, frame_end: int) -> int:
    """The lowest channel with no strip overlapping [frame_start, frame_end)."""
    busy = set()
    for s in strips(scene, recursive=False):
        left, right = strip_span(s)
        if left < frame_end and right > frame_start:
            busy.add(s.channel)
    channel = 1
    while channel in busy:
        channel += 1
    return channel


# ---------------------------------------------------------------------------------------
# actions and F-curves
#
# On 4.4+ an action holds F-curves per slot (one slot per animated ID); a slot is created
# explicitly so that the same code fills an action that is active or only on an NLA track.


def _layered(action: bpy.types.Action) -> bool:
    return LAYERED_ACTIONS and hasattr(action, "slots")


def new_action(name: str, id_data: bpy.types.ID):
    """A new action for `id_data`, and its slot (None before 4.4)."""
    action = bpy.data.actions.new(name)
    if not _layered(action):
        action.id_root = id_data.id_type
        return action, None
    slot = action.slots.new(id_type=id_data.id_type, name=id_data.name)
    return action, slot


def _channelbag(action: bpy.types.Action, slot, ensure: bool = False):
    """The slot's F-curve container (in the first keyframe strip that has one), created with
    its layer and strip when `ensure`. Written against the RNA API that 4.4 introduced:
    bpy_extras.anim_utils has `action_get_channelbag_for_slot` since 4.4 but
    `action_ensure_channelbag_for_slot` only since 5.0."""
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                return bag
    if not ensure:
        return None
    layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
    strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True)


def new_fcurve(action: bpy.types.Action, slot, data_path: str):
    if not _layered(action):
        return action.fcurves.new(data_path)
    return _channelbag(action, slot, ensure=True).fcurves.new(data_path)


def action_fcurves(action: bpy.types.Action, slot=None) -> list:
    """The F-curves of one slot of `action` (of all slots if None; all of them on 4.2)."""
    if not _layered(action):
        return list(action.fcurves)
    curves: list = []
    for s in [slot] if slot is not None else list(action.slots):
        bag = _channelbag(action, s)
        if bag is not None:
            curves.extend(bag.fcurves)
    return curves


def active_action(id_data: bpy.types.ID):
    ad = id_data.animation_data
    return ad.action if ad is not None else None


def assign_action(id_data: bpy.types.ID, action: bpy.types.Action, slot) -> None:
    """Make `action` (with `slot` on 4.4+) the active action of `id_data`."""
    ad = id_data.animation_data or id_data.animation_data_create()
    ad.action = action
    if slot is not None:
        ad.action_slot = slot


def nla_track_strip(id_data: bpy.types.ID, track_name: str, action, slot, start: int):
    """Put `action` alone on the NLA track `track_name` of `id_data` (created if missing),
    playing at its own frame numbers, under the active action which stays untouched."""
    ad = id_data.animation_data or id_data.animation_data_create()
    track = ad.nla_tracks.get(track_name)
    if track is None:
        track = ad.nla_tracks.new()
        track.name = track_name
    for old in list(track.strips):
        track.strips.remove(old)
    strip = track.strips.new(action.name, int(start), action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot
    return strip


def nla_track_actions(id_data: bpy.types.ID, track_name: str) -> list:
    ad = id_data.animation_data
    track = ad.nla_tracks.get(track_name) if ad is not None else None
    return [s.action for s in track.strips if s.action is not None] if track else []


def remove_nla_track(id_data: bpy.types.ID, track_name: str) -> None:
    ad = id_data.animation_data
    track = ad.nla_tracks.get(track_name) if ad is not None else None
    if track is not None:
        ad.nla_tracks.remove(track)


# ---------------------------------------------------------------------------------------
# shape keys, modifiers


def add_shape_key(obj: bpy.types.Object, name: str):
    """A new shape key made from the basis, at value 0 (5.0 would start it at 1.0: a character
    given the 52 ARKit keys would show every unit at full until something keys them)."""
    key = obj.shape_key_add(name=name, from_mix=False)
    key.value = 0.0
    return key


def move_modifier_first(obj: bpy.types.Object, modifier) -> None:
    """Put a modifier at the top of the stack (it replaces vertex positions of the base mesh,
    before any armature or subdivision)."""
    index = list(obj.modifiers).index(modifier)
    if index:
        obj.modifiers.move(index, 0)


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base
