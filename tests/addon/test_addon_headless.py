"""`blender -b` pipelines: a fresh process (PyPI bpy stands in for the blender binary) enables
the installed extension, calls the operator with explicit arguments, and runs batch jobs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import _extension as ext  # noqa: E402


@pytest.fixture(scope="module")
def addon():
    return ext.install()


@pytest.fixture(scope="module")
def scene_file(addon, tmp_path_factory) -> Path:
    """A saved shot: the bundled head, a cube, and the speech as a strip at frame 12."""
    folder = tmp_path_factory.mktemp("shots")
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps = 24
    bpy.context.scene.frame_current = 12
    if ext.has_sound_strips():
        bpy.ops.meshtalk.load_audio(filepath=str(ext.SPEECH))
    bpy.ops.meshtalk.add_head(arkit_keys=True)
    bpy.ops.mesh.primitive_cube_add()
    path = folder / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def test_operator_with_explicit_arguments(scene_file, tmp_path):
    out = tmp_path / "out.blend"
    code = (
        f"bpy.ops.wm.open_mainfile(filepath={str(scene_file)!r})\n"
        "r = bpy.ops.meshtalk.generate(object_name='MeshTalk Head', "
        + ("strip_name='speech'" if ext.has_sound_strips() else f"audio_path={str(ext.SPEECH)!r}")
        + ", mode='ARKIT', seed=4, temperature=0.5, lips_only=True)\n"
        "assert r == {'FINISHED'}, r\n"
        "heavy = {'torch', 'librosa', 'scipy'} & set(sys.modules)\n"
        "assert not heavy, f'the add-on pulled in {heavy}'\n"
        f"bpy.ops.wm.save_as_mainfile(filepath={str(out)!r})\n"
    )
    done = ext.run_blender(code)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "ARKit keys animated on 'MeshTalk Head', frames 12–" in done.stdout
    bpy.ops.wm.open_mainfile(filepath=str(out))
    key = bpy.data.objects["MeshTalk Head"].data.shape_keys
    action = key.animation_data.action
    assert action.get("meshtalk")
    curves = ext.install().compat.action_fcurves(action)
    assert len(curves) == 52
    frames = np.array([p.co[0] for p in curves[0].keyframe_points])
    assert frames[0] == 12 and np.all(np.diff(frames) == 1)  # one key per 24 fps frame
    # lips only: the upper face (brows, blinks) is not animated
    values = {fc.data_path: [p.co[1] for p in fc.keyframe_points] for fc in curves}
    assert max(values['key_blocks["browInnerUp"].value']) < 0.05


def test_headless_errors_exit_nonzero_with_the_message(scene_file):
    code = (
        f"bpy.ops.wm.open_mainfile(filepath={str(scene_file)!r})\n"
        "bpy.ops.meshtalk.generate(object_name='MeshTalk Head', audio_path='missing.wav')\n"
    )
    done = ext.run_blender(code)
    assert done.returncode != 0
    assert "Audio file not found" in done.stderr + done.stdout


def test_batch_runs_every_job_and_reports_failures(scene_file, tmp_path):
    strip = {"strip": "speech"} if ext.has_sound_strips() else {"audio": str(ext.SPEECH)}
    jobs = [
        {
            "blend": str(scene_file),
            "object": "MeshTalk Head",
            "audio": str(ext.SPEECH),
            "mode": "SHAPE_KEYS",
            "output": "a.blend",
        },
        {
            "blend": str(scene_file),
            "object": "MeshTalk Head",
            **strip,
            "mode": "MESH_CACHE",
            "cache_dir": str(tmp_path / "cache"),
            "output": "b.blend",
        },
        {"blend": str(scene_file), "object": "Cube", "audio": str(ext.SPEECH), "mode": "ARKIT"},
        {"blend": str(scene_file), "object": "MeshTalk Head", **strip, "mode": "ARKIT"},
    ]
    jobs_path = tmp_path / "jobs.json"
    jobs_path.write_text(json.dumps(jobs))
    script = Path(bpy.utils.user_resource("EXTENSIONS", path="user_default")) / (
        "meshtalk_blender/batch.py"
    )
    assert script.is_file()
    # blender -b --python batch.py -- jobs.json
    done = subprocess.run(
        [sys.executable, str(script), "--", str(jobs_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr + done.stdout  # job 2 fails
    reports = [
        json.loads(line.split(" ", 1)[1])
        for line in done.stdout.splitlines()
        if line.startswith("meshtalk-batch {")
    ]
    assert [r["ok"] for r in reports] == [True, True, False, True]
    assert "ARKit names" in reports[2]["error"]
    assert "3 jobs done, 1 failed" in done.stdout
    assert (tmp_path / "a.blend").is_file() and (tmp_path / "b.blend").is_file()
    assert (scene_file.parent / "shot_meshtalk.blend").is_file()  # the default output name
    assert (tmp_path / "cache" / "MeshTalk_MeshTalk_Head.pc2").is_file()
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "b.blend"))
    assert "MeshTalk Cache" in bpy.data.objects["MeshTalk Head"].modifiers
