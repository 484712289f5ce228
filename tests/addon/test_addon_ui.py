"""The interactive path, as far as background Blender allows: the generation thread (progress,
cancel) gives what the synchronous path gives; the panel's hints; the Add menu entry."""

from __future__ import annotations

import time

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import _extension as ext  # noqa: E402


@pytest.fixture(scope="module")
def addon():
    return ext.install()


def _scene():
    """The head and the speech; returns (head, the pipeline's audio arguments)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps = 30
    src = ext.speech_at(1)
    bpy.ops.meshtalk.add_head()
    return bpy.context.active_object, src


def _wait(job, timeout: float = 120.0) -> None:
    start = time.time()
    while job.thread.is_alive() and time.time() - start < timeout:
        time.sleep(0.05)
    assert not job.thread.is_alive()


def test_background_job_matches_the_synchronous_run(addon):
    head, src = _scene()
    pipeline, generate = addon.pipeline, addon.operators.generate
    settings = addon.runtime.settings.Settings(seed=5)
    request = pipeline.Request(object_name=head.name, mode="SHAPE_KEYS", settings=settings, **src)
    plan = pipeline.plan(bpy.context, request)
    seen = []
    job = generate._Job(plan).start()
    while job.thread.is_alive():
        seen.append(job.fraction)
        time.sleep(0.01)
    _wait(job)
    assert job.error is None and job.result is not None
    assert job.fraction >= 0.9 and all(0 <= f <= 1 for f in seen)
    sync = pipeline.compute(pipeline.plan(bpy.context, request))
    np.testing.assert_allclose(job.result.payload["values"], sync.payload["values"], atol=1e-6)
    pipeline.apply(bpy.context, plan, job.result)
    assert any(k.name.startswith("MeshTalk_") for k in head.data.shape_keys.key_blocks)


def test_cancel_stops_the_job_and_writes_nothing(addon):
    head, src = _scene()
    pipeline, generate = addon.pipeline, addon.operators.generate
    plan = pipeline.plan(bpy.context, pipeline.Request(object_name=head.name, **src))
    job = generate._Job(plan)
    job.cancel.set()  # Esc pressed before the first chunk is done
    job.start()
    _wait(job)
    assert job.error == "cancelled" and job.result is None
    assert head.data.shape_keys is None


@ext.needs_strips
def test_panel_hints(addon):
    head, _ = _scene()
    state = addon.panels.panel_state(bpy.context)
    assert ("CHECKMARK", "template topology") in state
    assert ("SOUND", "speech from frame 1") in state
    status = [line for icon, line in state if line.startswith("Writes")]
    end = addon.compat.strip_duration(addon.audio_source.find_strip(bpy.context.scene))
    want = f"Writes MeshTalk shape keys with keyframes on '{head.name}', frames 1–{end}"
    assert status == [want]
    bpy.ops.mesh.primitive_cube_add()
    bpy.context.scene.meshtalk.target = bpy.context.active_object
    state = addon.panels.panel_state(bpy.context)
    assert state[0] == ("ERROR", "no template topology or ARKit keys")  # problems first
    long = "Scene 'Scene' has 2 sound strips: choose one in the MeshTalk panel " * 2
    lines = addon.panels.wrap(long, width_px=300)
    assert len(lines) > 1 and all(len(x) <= 300 / 7 for x in lines)
    assert " ".join(lines) == long.strip()
    bpy.context.scene.meshtalk.target = head
    assert addon.panels.VIEW3D_PT_meshtalk.bl_category == "MeshTalk"
    assert addon.panels.VIEW3D_PT_meshtalk.bl_region_type == "UI"


def test_add_menu_and_head(addon, template):
    draw_funcs = getattr(bpy.types.VIEW3D_MT_mesh_add, "_dyn_ui_initialize", lambda: [])()
    assert addon.operators.add_head.menu_entry in draw_funcs
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.cursor.location = (1.0, 2.0, 3.0)
    assert bpy.ops.meshtalk.add_head(arkit_keys=True) == {"FINISHED"}
    head = bpy.context.active_object
    assert tuple(head.location) == (1.0, 2.0, 3.0)
    assert len(head.data.vertices) == template.n_vertices
    assert head.data.uv_layers.active is not None and len(head.data.materials) > 0
    names = [k.name for k in head.data.shape_keys.key_blocks]
    assert names[0] == "Basis" and names[1:] == list(template.arkit_names)


@ext.needs_strips  # Audaspace is Blender's audio library: without it, no aud either
def test_other_formats_are_decoded_by_blender(addon, tmp_path):
    """MP3/FLAC/OGG: Blender's own audio library decodes them inside Blender (no soundfile
    there); the network gets the same 16 kHz signal as from the WAV."""
    import aud

    from core.runtime.audio import load_audio, prepare_audio

    sound = aud.Sound(str(ext.SPEECH)).resample(44100, False).rechannel(2)
    flac = tmp_path / "speech.flac"
    sound.write(str(flac), 44100, 2, aud.FORMAT_S16, aud.CONTAINER_FLAC, aud.CODEC_FLAC)
    wav = load_audio(ext.SPEECH)
    got = prepare_audio(*addon.audio_source._load_with_aud(flac, None))
    assert abs(len(got) - len(wav)) <= 2
    n = min(len(got), len(wav))
    assert np.corrcoef(got[:n], wav[:n])[0, 1] > 0.999
    bad = tmp_path / "noise.mp3"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(addon.errors.MeshTalkError, match="Cannot read the audio file"):
        addon.audio_source._load_with_aud(bad, None)


def test_the_runtime_is_the_extensions_own_copy(addon):
    """Inside Blender the runtime lives in the extension's own package, imported relatively:
    another add-on's modules cannot shadow it, and it is not the source checkout's."""
    import importlib

    session = importlib.import_module(f"{ext.MODULE}.runtime.session")
    assert addon.pipeline.Session is session.Session
    assert session.WEIGHTS_PATH.is_file()
    assert str(ext.ROOT) not in session.__file__


def test_arkit_spellings(addon, template):
    match = addon.targets.match_arkit_keys
    spellings = [
        "eyeBlinkLeft",
        "eyeBlink_L",
        "EyeBlinkLeft",
        "eye_blink_left",
        "Eye-Blink-L",
        "blendShape1.eyeBlinkLeft",
    ]
    for name in spellings:
        assert match([name], template.arkit_names) == {"eyeBlinkLeft": name}, name
    assert match(["eyeBlink_R", "mouthSmile_L", "JawOpen"], template.arkit_names) == {
        "eyeBlinkRight": "eyeBlink_R",
        "mouthSmileLeft": "mouthSmile_L",
        "jawOpen": "JawOpen",
    }
    assert match(["eyeBlink_L", "eyeBlinkLeft"], template.arkit_names) == {
        "eyeBlinkLeft": "eyeBlinkLeft"  # the exact name wins
    }
    assert match(["Smile", "Key 1", "blink"], template.arkit_names) == {}
