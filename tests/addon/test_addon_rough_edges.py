"""Rough edges users met in the add-on (installed from its zip, real bpy): broken audio caught
when it is loaded, a trimmed strip animated where it is heard, the scene's range following a
long clip, batch jobs that keep their sound and report bad values in one line, and re-runs
that take away only what MeshTalk made (a renamed take and the animator's own keys stay)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import _extension as ext  # noqa: E402


@pytest.fixture(scope="module")
def addon():
    return ext.install()


def new_scene(fps: int = 30, strip_frame: int | None = 1) -> dict:
    """An empty file at `fps` with the demo speech from `strip_frame` (None: no speech)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    return {} if strip_frame is None else ext.speech_at(strip_frame)


def speech_samples() -> tuple[np.ndarray, int]:
    with wave.open(str(ext.SPEECH)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), "<i2"), w.getframerate()


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return path


def error_of(op, **kwargs) -> str:
    with pytest.raises(RuntimeError) as info:
        op(**kwargs)
    return str(info.value)


def key_curves(key) -> dict[str, np.ndarray]:
    """data path -> (n, 2) keyframes of every F-curve of the actions that animate `key`
    (the active one and those on NLA tracks)."""
    compat = ext.install().compat
    ad = key.animation_data
    actions = [ad.action] if ad and ad.action else []
    actions += [s.action for t in (ad.nla_tracks if ad else ()) for s in t.strips if s.action]
    out = {}
    for action in actions:
        for fc in compat.action_fcurves(action):
            co = np.empty(len(fc.keyframe_points) * 2, np.float32)
            fc.keyframe_points.foreach_get("co", co)
            out[fc.data_path] = co.reshape(-1, 2)
    return out


def shape(kb) -> np.ndarray:
    co = np.empty(len(kb.data) * 3, np.float32)
    kb.data.foreach_get("co", co)
    return co.reshape(-1, 3)


# --------------------------------------------------------------------- broken audio files


@ext.needs_strips
def test_load_audio_refuses_files_that_do_not_decode(addon, tmp_path):
    new_scene(strip_frame=None)
    pcm, rate = speech_samples()
    whole = write_wav(tmp_path / "whole.wav", pcm, rate).read_bytes()
    tiny = tmp_path / "tiny.wav"
    tiny.write_bytes(whole[:20])
    noise = tmp_path / "noise.wav"
    noise.write_bytes(np.random.default_rng(1).bytes(4000))
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: 44 + 2 * rate])  # the first second of a 4.7 s clip
    load = bpy.ops.meshtalk.load_audio
    msg = error_of(load, filepath=str(tiny))
    assert f"Cannot read the audio file {tiny}: truncated WAV" in msg and "(20 bytes)" in msg
    msg = error_of(load, filepath=str(noise))
    assert f"Cannot read the audio file {noise}: not a WAV file" in msg
    assert "Blender cannot decode it" in msg
    msg = error_of(load, filepath=str(cut))
    assert f"announces {len(pcm)} frames" in msg and f"holds {rate} (1.00 s)" in msg
    assert "is a folder" in error_of(load, filepath=str(tmp_path))
    assert addon.audio_source.sound_strips(bpy.context.scene) == []  # nothing was added
    assert load(filepath=str(tmp_path / "whole.wav")) == {"FINISHED"}
    assert [s.name for s in addon.audio_source.sound_strips(bpy.context.scene)] == ["whole"]


def test_generate_refuses_a_truncated_wav_before_any_work(addon, tmp_path):
    new_scene(strip_frame=None)
    bpy.ops.meshtalk.add_head()
    pcm, rate = speech_samples()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(write_wav(tmp_path / "w.wav", pcm, rate).read_bytes()[: 44 + rate])
    msg = error_of(bpy.ops.meshtalk.generate, object_name="MeshTalk Head", audio_path=str(cut))
    assert f"{cut}: truncated WAV" in msg and "(0.50 s)" in msg
    assert bpy.data.objects["MeshTalk Head"].data.shape_keys is None  # nothing written


def test_not_a_mesh_names_the_kind_of_object(addon):
    new_scene()
    bpy.ops.object.empty_add()
    bpy.context.active_object.name = "Empty"
    msg = error_of(bpy.ops.meshtalk.generate, object_name="Empty")
    assert "'Empty' is an Empty object, not a mesh" in msg
    bpy.ops.object.text_add()
    assert "is a Text object, not a mesh" in error_of(
        bpy.ops.meshtalk.generate, object_name=bpy.context.active_object.name
    )


# ------------------------------------------------------------------ strips and frame range


@ext.needs_strips
@pytest.mark.parametrize(
    ("trim", "first", "offset"),
    [
        # handles: 1 s cut off the start, 2 s long; the sound plays from frame 10 as before
        ({"frame_offset_start": 24, "frame_final_duration": 48}, 34, 1.0),
        # a hard cut (12 frames of content) and the sound 0.25 s later: 0.25 s net. Where the
        # strip then starts differs by version (10 up to 5.0; 5.1+ moves the handle to 22)
        ({"animation_offset_start": 12, "sound_offset": 0.25}, None, 0.25),
    ],
)
def test_trimmed_strip_animates_what_is_heard_where_it_is_heard(
    addon, tmp_path, trim, first, offset
):
    """The animation of a trimmed strip equals that of a file holding only the audible part
    of the sound, placed at the strip's visible start."""
    new_scene(fps=24, strip_frame=10)
    bpy.ops.meshtalk.add_head(arkit_keys=True)
    head = bpy.context.active_object
    strip = addon.audio_source.sound_strips(bpy.context.scene)[0]
    for name, value in trim.items():
        setattr(strip, name, value)
    left, right = addon.compat.strip_span(strip)
    first = left if first is None else first
    assert left == first
    assert bpy.ops.meshtalk.generate(object_name=head.name, mode="ARKIT") == {"FINISHED"}
    got = key_curves(head.data.shape_keys)

    pcm, rate = speech_samples()
    start = round(offset * rate)
    audible = write_wav(
        tmp_path / "audible.wav", pcm[start : start + round((right - left) / 24 * rate)], rate
    )
    new_scene(fps=24, strip_frame=None)
    bpy.context.scene.frame_current = first
    bpy.ops.meshtalk.add_head(arkit_keys=True)
    head = bpy.context.active_object
    assert bpy.ops.meshtalk.generate(
        object_name=head.name, mode="ARKIT", audio_path=str(audible)
    ) == {"FINISHED"}
    want = key_curves(head.data.shape_keys)
    assert got.keys() == want.keys() and len(got) == 52
    jaw = 'key_blocks["jawOpen"].value'
    assert got[jaw][0, 0] == first and abs(len(got[jaw]) - (right - left)) <= 1
    for path, keys in want.items():
        np.testing.assert_allclose(got[path], keys, atol=1e-6, err_msg=path)


@ext.needs_strips
def test_a_strip_offset_past_its_end_says_so(addon):
    new_scene(fps=24, strip_frame=10)
    bpy.ops.meshtalk.add_head()
    strip = addon.audio_source.sound_strips(bpy.context.scene)[0]
    strip.sound_offset = 60.0  # the sound would start a minute after the strip's end
    msg = error_of(bpy.ops.meshtalk.generate, object_name="MeshTalk Head")
    assert f"Sound strip '{strip.name}' plays none of its sound" in msg


def test_the_scene_end_moves_out_to_the_animation_and_never_in(addon):
    src = new_scene(fps=30)
    bpy.ops.meshtalk.add_head()
    scene = bpy.context.scene
    pipeline = addon.pipeline
    scene.frame_end = 50
    request = pipeline.Request(object_name="MeshTalk Head", **_audio(src))
    message = pipeline.run(bpy.context, request)
    end = scene.frame_end
    assert end > 130  # the 4.7 s clip at 30 fps, from frame 1
    assert message.endswith(f"; scene end frame 50 → {end}")
    assert f"frames 1–{end}" in message
    scene.frame_end = 50
    assert bpy.ops.meshtalk.generate(object_name="MeshTalk Head", extend_scene=False, **src) == {
        "FINISHED"
    }
    assert scene.frame_end == 50
    request.extend_scene = False
    assert pipeline.run(bpy.context, request).endswith("; it ends after the scene (frame 50)")
    scene.frame_end = 5000
    assert bpy.ops.meshtalk.generate(object_name="MeshTalk Head", **src) == {"FINISHED"}
    assert scene.frame_end == 5000  # never shortened


def _audio(src: dict) -> dict:
    """Request fields for the scene's speech: its strip, or the file without Audaspace."""
    if "audio_path" in src:
        return {"audio_path": src["audio_path"]}
    return {"strip_name": bpy.context.scene.meshtalk.strip_name}


# ------------------------------------------------------------------------ ownership


def test_renamed_takes_and_the_animators_keys_survive_reruns_and_clear(addon):
    src = new_scene()
    bpy.ops.meshtalk.add_head()
    head = bpy.context.active_object
    head.shape_key_add(name="Basis", from_mix=False)
    theirs = head.shape_key_add(name="MeshTalk_05", from_mix=False)  # the animator's own
    theirs.data.foreach_set("co", (shape(theirs) + np.float32([0, 0, 0.002])).ravel())
    their_shape = shape(theirs)
    assert bpy.ops.meshtalk.generate(object_name=head.name, seed=0, **src) == {"FINISHED"}
    key = head.data.shape_keys
    own = addon.output.own_key_names(head)
    assert "MeshTalk_05" not in own and "MeshTalk_05.001" in own  # Blender's unique name
    take = key.key_blocks["MeshTalk_00"]
    take_shape = shape(take)
    take.name = "KeepTake"  # the animator keeps this one
    take_curve = key_curves(key)['key_blocks["KeepTake"].value'].copy()

    assert bpy.ops.meshtalk.generate(object_name=head.name, seed=1, **src) == {"FINISHED"}
    names = [kb.name for kb in key.key_blocks]
    assert "KeepTake" in names and "MeshTalk_05" in names
    np.testing.assert_array_equal(shape(key.key_blocks["KeepTake"]), take_shape)
    np.testing.assert_array_equal(shape(key.key_blocks["MeshTalk_05"]), their_shape)
    curves = key_curves(key)
    np.testing.assert_array_equal(curves['key_blocks["KeepTake"].value'], take_curve)
    kept = key.animation_data.action  # the take's curves, in an action of the animator's
    assert not kept.get("meshtalk") and kept.name.endswith("(kept)")
    new_own = addon.output.own_key_names(head)
    assert new_own and not {"KeepTake", "MeshTalk_05"} & set(new_own)
    assert key.animation_data.nla_tracks["MeshTalk"].strips[0].action.get("meshtalk")

    bpy.ops.ed.undo_push(message="before clear")  # background mode: the caller pushes
    assert bpy.ops.meshtalk.clear(object_name=head.name) == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Remove MeshTalk Animation")
    names = [kb.name for kb in key.key_blocks]
    assert names == ["Basis", "MeshTalk_05", "KeepTake"]
    assert "MeshTalk" not in key.animation_data.nla_tracks
    assert key.animation_data.action == kept  # the kept take still plays
    assert addon.output.own_key_names(head) == []
    bpy.ops.ed.undo()  # the clear is one undo step
    head = bpy.data.objects["MeshTalk Head"]
    assert sorted(addon.output.own_key_names(head)) == sorted(new_own)


def test_output_of_older_versions_is_recognised(addon, tmp_path):
    """Files made before the records existed: MeshTalk's keys are the MeshTalk_* keys its
    action animates, its modifier the 'MeshTalk Cache' playing a MeshTalk_*.pc2."""
    src = new_scene()
    bpy.ops.meshtalk.add_head()
    head = bpy.context.active_object
    assert bpy.ops.meshtalk.generate(object_name=head.name, **src) == {"FINISHED"}
    key = head.data.shape_keys
    del key["meshtalk_keys"]  # as an older version left it
    key.key_blocks["MeshTalk_02"].name = "Keeper"
    head.shape_key_add(name="MeshTalk_99", from_mix=False)  # the animator's, not animated
    assert sorted(addon.output.own_key_names(head)) == sorted(
        k.name for k in key.key_blocks if k.name.startswith("MeshTalk_") and k.name[-2:] != "99"
    )
    assert bpy.ops.meshtalk.clear(object_name=head.name) == {"FINISHED"}
    assert [k.name for k in key.key_blocks] == ["Basis", "Keeper", "MeshTalk_99"]
    assert 'key_blocks["Keeper"].value' in key_curves(key)
    assert bpy.ops.meshtalk.generate(
        object_name=head.name, mode="MESH_CACHE", cache_dir=str(tmp_path), **src
    ) == {"FINISHED"}
    del head["meshtalk_modifier"]
    assert addon.output.own_modifier(head).name == "MeshTalk Cache"
    assert bpy.ops.meshtalk.clear(object_name=head.name) == {"FINISHED"}
    assert caches(head) == []


def test_a_reshaped_meshtalk_key_is_the_animators(addon):
    """A key MeshTalk made and the animator sculpted is their work: a re-run keeps it."""
    src = new_scene()
    bpy.ops.meshtalk.add_head()
    head = bpy.context.active_object
    assert bpy.ops.meshtalk.generate(object_name=head.name, **src) == {"FINISHED"}
    kb = head.data.shape_keys.key_blocks["MeshTalk_01"]
    kb.data.foreach_set("co", (shape(kb) * np.float32(1.01)).ravel())
    assert bpy.ops.meshtalk.clear(object_name=head.name) == {"FINISHED"}
    assert [k.name for k in head.data.shape_keys.key_blocks] == ["Basis", "MeshTalk_01"]


def test_the_animators_modifier_named_like_meshtalks_stays(addon, tmp_path):
    src = new_scene()
    bpy.ops.meshtalk.add_head()
    head = bpy.context.active_object
    mine = head.modifiers.new("MeshTalk Cache", "MESH_CACHE")
    mine.filepath = str(tmp_path / "my_own_take.pc2")
    for seed in (0, 1):
        assert bpy.ops.meshtalk.generate(
            object_name=head.name, mode="MESH_CACHE", cache_dir=str(tmp_path), seed=seed, **src
        ) == {"FINISHED"}
        assert caches(head) == ["MeshTalk Cache.001", "MeshTalk Cache"]  # ours first
    own = addon.output.own_modifier(head)
    assert own.name == "MeshTalk Cache.001" and own.filepath.endswith("MeshTalk_MeshTalk_Head.pc2")
    own.name = "Renamed Cache"  # still MeshTalk's: it plays the file every run overwrites
    assert bpy.ops.meshtalk.generate(
        object_name=head.name, mode="MESH_CACHE", cache_dir=str(tmp_path), **src
    ) == {"FINISHED"}
    assert caches(head) == ["MeshTalk Cache.001", "MeshTalk Cache"]  # the renamed one went
    assert bpy.ops.meshtalk.clear(object_name=head.name) == {"FINISHED"}
    assert caches(head) == ["MeshTalk Cache"]
    assert head.modifiers["MeshTalk Cache"].filepath == str(tmp_path / "my_own_take.pc2")


def caches(obj) -> list[str]:
    """The object's Mesh Cache modifiers in stack order (the head also has a Subdivision)."""
    return [m.name for m in obj.modifiers if m.type == "MESH_CACHE"]


# --------------------------------------------------------------------------- batch jobs


def batch():
    """The installed extension's batch module (the package does not import it itself)."""
    import importlib

    return importlib.import_module(f"{ext.MODULE}.batch")


@pytest.fixture
def shot(addon, tmp_path) -> Path:
    """A saved shot without any sound: the head, the current frame at 7."""
    new_scene(fps=24, strip_frame=None)
    bpy.context.scene.frame_current = 7
    bpy.ops.meshtalk.add_head()
    path = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def test_batch_bad_values_fail_their_job_in_one_line(addon, shot, capsys):
    base = {"blend": shot.name, "object": "MeshTalk Head", "audio": str(ext.SPEECH)}
    jobs = [
        {**base, "seed": "abc"},
        {**base, "sede": 3},
        {**base, "frame_offset": "soon"},
        {**base, "extend_scene": "yes"},
        {**base, "object": 7},
        ["not", "a", "job"],
    ]
    jobs_path = shot.with_name("jobs.json")
    jobs_path.write_text(json.dumps(jobs))
    reports = batch().run_jobs(jobs_path)
    errors = [r.get("error") for r in reports]
    assert errors == [
        "job: seed must be a whole number, got 'abc'",
        f"job: unknown key sede (known: {', '.join(batch().KNOWN_KEYS)})",
        "job: frame_offset must be a whole number, got 'soon'",
        "job: extend_scene must be true or false, got 'yes'",
        "job: object must be text, got 7",
        "job: expected an object {...}, got ['not', 'a', 'job']",
    ]
    assert not any(r["ok"] for r in reports)
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert len([line for line in out.out.splitlines() if line.startswith("meshtalk-batch {")]) == 6


@ext.needs_strips
def test_batch_audio_becomes_a_sound_strip_in_the_saved_file(addon, shot):
    jobs = [{"blend": shot.name, "object": "MeshTalk Head", "audio": str(ext.SPEECH)}]
    jobs_path = shot.with_name("jobs.json")
    jobs_path.write_text(json.dumps(jobs))
    (report,) = batch().run_jobs(jobs_path)
    assert report["ok"], report
    bpy.ops.wm.open_mainfile(filepath=report["output"])
    strips = addon.audio_source.sound_strips(bpy.context.scene)
    assert [s.name for s in strips] == ["speech"]
    assert strips[0].frame_start == 7  # the job's start frame
    assert addon.audio_source.strip_path(strips[0]) == ext.SPEECH.resolve()
    key = bpy.data.objects["MeshTalk Head"].data.shape_keys
    first = min(c[0, 0] for c in key_curves(key).values())
    assert first == 7  # the face starts with the sound
