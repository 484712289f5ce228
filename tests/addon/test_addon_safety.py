"""Nothing lost, clear errors: the installed extension replaces only what it wrote, leaves the
animator's keys, actions and modifiers alone, undoes in one step, and says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import _extension as ext  # noqa: E402


@pytest.fixture(scope="module")
def addon():
    return ext.install()


SRC: dict = {}  # how the speech reaches generate(): a strip, or audio_path without Audaspace


def new_scene_with_head(arkit_keys: bool = False, strip: bool = True):
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps = 30
    SRC.clear()
    if strip:
        SRC.update(ext.speech_at(1))
    bpy.ops.meshtalk.add_head(arkit_keys=arkit_keys)
    head = bpy.context.active_object
    HEAD_MODIFIERS[:] = [m.name for m in head.modifiers]  # the head's own (Subdivision)
    return head


HEAD_MODIFIERS: list[str] = []


def modifiers(obj) -> list[str]:
    """The modifier stack without the ones the bundled head comes with."""
    return [m.name for m in obj.modifiers if m.name not in HEAD_MODIFIERS]


def generate(**kwargs) -> set[str]:
    """The operator, with the scene's speech unless the call names its own audio."""
    if not {"audio_path", "strip_name"} & kwargs.keys():
        kwargs = {**SRC, **kwargs}
    return bpy.ops.meshtalk.generate(**kwargs)


def meshtalk_keys(obj) -> list[str]:
    return [k.name for k in obj.data.shape_keys.key_blocks if k.name.startswith("MeshTalk_")]


def _animator_setup(head):
    """What an animator might already have: a shape key of their own, keyframed in their
    own action, and a modifier."""
    head.shape_key_add(name="Basis", from_mix=False)
    smile = head.shape_key_add(name="MySmile", from_mix=False)
    co = np.empty(len(smile.data) * 3, np.float32)
    smile.data.foreach_get("co", co)
    smile.data.foreach_set("co", co + 0.001)
    smile.value = 0.0
    smile.keyframe_insert("value", frame=1)
    smile.value = 1.0
    smile.keyframe_insert("value", frame=30)
    head.modifiers.new("MySmooth", "SMOOTH")
    key = head.data.shape_keys
    key.animation_data.action.name = "MyAction"
    return co.reshape(-1, 3) + 0.001


@pytest.mark.parametrize("mode", ["SHAPE_KEYS", "MESH_CACHE"])
def test_animators_data_survives_runs_and_reruns(addon, tmp_path, mode):
    head = new_scene_with_head()
    smile_co = _animator_setup(head)
    for seed in (0, 1):  # a re-run replaces MeshTalk's output, nothing else
        assert generate(object_name=head.name, mode=mode, seed=seed, cache_dir=str(tmp_path)) == {
            "FINISHED"
        }
    key = head.data.shape_keys
    assert key.animation_data.action.name == "MyAction"  # their action is still the active one
    assert not key.animation_data.action.get("meshtalk")
    assert len(ext_fcurves(key.animation_data.action)) == 1
    smile = key.key_blocks["MySmile"]
    co = np.empty(len(smile.data) * 3, np.float32)
    smile.data.foreach_get("co", co)
    np.testing.assert_array_equal(co.reshape(-1, 3), smile_co)
    assert modifiers(head) == (
        ["MeshTalk Cache", "MySmooth"] if mode == "MESH_CACHE" else ["MySmooth"]
    )
    if mode == "SHAPE_KEYS":
        names = meshtalk_keys(head)
        assert names and len(set(names)) == len(names)
        track = key.animation_data.nla_tracks["MeshTalk"]  # theirs active, ours a layer below
        assert len(track.strips) == 1 and track.strips[0].action.get("meshtalk")
        bpy.context.scene.frame_set(40)
        assert any(abs(key.key_blocks[n].value) > 1e-4 for n in names)  # ours still plays
        assert key.key_blocks["MySmile"].value == pytest.approx(1.0)  # and so does theirs
    else:
        assert meshtalk_keys(head) == []
        assert len([a for a in bpy.data.actions if a.get("meshtalk")]) == 0


def ext_fcurves(action):
    return ext.install().compat.action_fcurves(action)


def test_switching_modes_leaves_one_result(addon, tmp_path):
    head = new_scene_with_head()
    generate(object_name=head.name, mode="SHAPE_KEYS")
    assert meshtalk_keys(head)
    generate(object_name=head.name, mode="MESH_CACHE", cache_dir=str(tmp_path))
    assert meshtalk_keys(head) == [] and "MeshTalk Cache" in head.modifiers
    assert not [a for a in bpy.data.actions if a.get("meshtalk") and a.users]
    generate(object_name=head.name, mode="SHAPE_KEYS")
    assert "MeshTalk Cache" not in head.modifiers and meshtalk_keys(head)


def test_clear_removes_only_meshtalks_output(addon, tmp_path):
    head = new_scene_with_head()
    smile_co = _animator_setup(head)
    generate(object_name=head.name, mode="SHAPE_KEYS")
    assert meshtalk_keys(head)
    assert bpy.ops.meshtalk.clear(object_name=head.name) == {"FINISHED"}
    key = head.data.shape_keys
    assert meshtalk_keys(head) == [] and "MeshTalk" not in key.animation_data.nla_tracks
    assert key.animation_data.action.name == "MyAction"
    co = np.empty(len(smile_co) * 3, np.float32)
    key.key_blocks["MySmile"].data.foreach_get("co", co)
    np.testing.assert_array_equal(co.reshape(-1, 3), smile_co)
    generate(object_name=head.name, mode="MESH_CACHE", cache_dir=str(tmp_path))
    bpy.ops.meshtalk.clear(object_name=head.name)
    assert modifiers(head) == ["MySmooth"]
    with pytest.raises(RuntimeError, match="No object named"):
        bpy.ops.meshtalk.clear(object_name="Ghost")


def test_one_undo_step_reverts_a_generation(addon):
    """The operator is an undo step ({'REGISTER', 'UNDO'}); Blender pushes it after the
    operator in the UI, which background mode leaves to the caller, so the test pushes."""
    assert {"REGISTER", "UNDO"} <= addon.operators.generate.MESHTALK_OT_generate.bl_options
    head = new_scene_with_head()
    _animator_setup(head)
    bpy.ops.ed.undo_push(message="before MeshTalk")
    assert generate(object_name=head.name, mode="SHAPE_KEYS") == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Generate")
    assert meshtalk_keys(bpy.data.objects[head.name])
    bpy.ops.ed.undo()
    head = bpy.data.objects["MeshTalk Head"]
    assert meshtalk_keys(head) == []
    key = head.data.shape_keys
    assert "MySmile" in key.key_blocks and key.animation_data.action.name == "MyAction"
    assert "MeshTalk" not in key.animation_data.nla_tracks
    bpy.ops.ed.redo()
    assert meshtalk_keys(bpy.data.objects["MeshTalk Head"])


def _error(**kwargs) -> str:
    with pytest.raises(RuntimeError) as info:
        generate(**kwargs)
    return str(info.value)


def test_clear_errors(addon, tmp_path):
    head = new_scene_with_head(strip=False)
    assert "has no sound strip" in _error(object_name=head.name)
    assert "No sound strip named 'nope'" in _error(object_name=head.name, strip_name="nope")
    assert "Audio file not found" in _error(object_name=head.name, audio_path="/no/such.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    assert "Cannot read the audio file" in _error(object_name=head.name, audio_path=str(junk))
    SRC.update(ext.speech_at(1))
    assert "No object named 'Ghost'" in _error(object_name="Ghost")
    bpy.ops.mesh.primitive_cube_add()
    msg = _error(object_name="Cube")
    assert "does not have the template head's topology" in msg
    assert "ARKit names" in _error(object_name="Cube", mode="ARKIT")
    bpy.ops.object.camera_add()
    assert "not a mesh" in _error(object_name=bpy.context.active_object.name)
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    msg = _error(object_name=head.name, mode="MESH_CACHE", cache_dir=str(not_a_folder / "sub"))
    assert "Cannot create the cache folder" in msg
    assert "Save the .blend first" in _error(
        object_name=head.name, mode="MESH_CACHE", cache_dir="//"
    )
    bpy.context.view_layer.objects.active = head
    bpy.ops.object.mode_set(mode="EDIT")
    assert "Edit Mode" in _error(object_name=head.name)
    bpy.ops.object.mode_set(mode="OBJECT")
    assert meshtalk_keys(head) == [] if head.data.shape_keys else True


def test_linked_object_is_refused(addon, tmp_path):
    head = new_scene_with_head()
    library = tmp_path / "library.blend"
    bpy.data.libraries.write(str(library), {head})
    bpy.ops.wm.read_homefile(use_empty=True)
    with bpy.data.libraries.load(str(library), link=True) as (src, dst):
        dst.objects = ["MeshTalk Head"]
    linked = dst.objects[0]
    bpy.context.scene.collection.objects.link(linked)
    assert linked.library is not None
    assert "linked from a library" in _error(object_name=linked.name)


def test_target_poll_accepts_meshes_only(addon):
    """The panel's target picker lists meshes only (Blender applies the poll in the UI)."""
    new_scene_with_head()
    settings = bpy.context.scene.meshtalk
    assert settings.target.name == "MeshTalk Head"  # Add › MeshTalk Head sets it
    poll = addon.properties._is_mesh
    bpy.ops.object.camera_add()
    bpy.ops.object.light_add()
    kinds = {o.type: poll(settings, o) for o in bpy.data.objects}
    assert kinds == {"MESH": True, "CAMERA": False, "LIGHT": False}
