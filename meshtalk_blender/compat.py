"""Everything that differs between Blender 4.2 LTS and 5.x, in one place.

- Sequencer: 5.0 renamed `sequence_editor.sequences(_all)` to `strips(_all)`.
- Actions: 4.4 introduced layered actions with slots, 5.0 removed `Action.fcurves`; F-curves
  are created with `fcurve_ensure_for_datablock` and read from the slot's channelbag.
- NLA strips of a slotted action must be told which slot to play.
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


def free_channel(scene: bpy.types.Scene, frame_start: int, frame_end: int) -> int:
    """The lowest channel with no strip overlapping [frame_start, frame_end)."""
    busy = {
        s.channel
        for s in strips(scene, recursive=False)
        if s.frame_final_start < frame_end and s.frame_final_end > frame_start
    }
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


def new_fcurve(action: bpy.types.Action, slot, data_path: str):
    if not _layered(action):
        return action.fcurves.new(data_path)
    from bpy_extras import anim_utils

    return anim_utils.action_ensure_channelbag_for_slot(action, slot).fcurves.new(data_path)


def action_fcurves(action: bpy.types.Action, slot=None) -> list:
    """The F-curves of one slot of `action` (of all slots if None; all of them on 4.2)."""
    if not _layered(action):
        return list(action.fcurves)
    from bpy_extras import anim_utils

    curves: list = []
    for s in [slot] if slot is not None else list(action.slots):
        bag = anim_utils.action_get_channelbag_for_slot(action, s)
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
# modifiers, misc


def move_modifier_first(obj: bpy.types.Object, modifier) -> None:
    """Put a modifier at the top of the stack (it replaces vertex positions of the base mesh,
    before any armature or subdivision)."""
    index = list(obj.modifiers).index(modifier)
    if index:
        obj.modifiers.move(index, 0)


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base
