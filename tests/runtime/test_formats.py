"""The interchange formats chosen by suffix: Live Link Face CSV (Unreal/MetaHuman), ARKit
curves JSON (web players) and binary glTF (the head, its ARKit morph targets, their
animation): their layout, streaming across blocks, agreement with the .npz, the vertex
adapter the add-on uses, and the .glb read back by Blender's importer and by the Khronos
validator."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.runtime.outputs import (
    FORMATS,
    VertexBlock,
    VertexFrames,
    format_of,
    open_weights_writer,
    open_writer,
    read_glb,
    read_pc2,
)
from core.runtime.outputs.gltf import accessor_array
from core.runtime.outputs.livelink import (
    EYE_DEGREES,
    eye_rotation_matrix,
    timecode_rate,
    timecodes,
)
from core.runtime.retarget import fit_arkit_weights, fit_similarity
from core.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NODE_PREFIX = ROOT / "build" / "node"
VALIDATOR = "gltf-validator@2.0.0-dev.3.10"
# Unreal's EARFaceBlendShape, EyeBlinkLeft = 0 … TongueOut = 51 (written out independently
# of the module under test)
UNREAL_ORDER = [
    "EyeBlinkLeft",
    "EyeLookDownLeft",
    "EyeLookInLeft",
    "EyeLookOutLeft",
    "EyeLookUpLeft",
    "EyeSquintLeft",
    "EyeWideLeft",
    "EyeBlinkRight",
    "EyeLookDownRight",
    "EyeLookInRight",
    "EyeLookOutRight",
    "EyeLookUpRight",
    "EyeSquintRight",
    "EyeWideRight",
    "JawForward",
    "JawLeft",
    "JawRight",
    "JawOpen",
    "MouthClose",
    "MouthFunnel",
    "MouthPucker",
    "MouthLeft",
    "MouthRight",
    "MouthSmileLeft",
    "MouthSmileRight",
    "MouthFrownLeft",
    "MouthFrownRight",
    "MouthDimpleLeft",
    "MouthDimpleRight",
    "MouthStretchLeft",
    "MouthStretchRight",
    "MouthRollLower",
    "MouthRollUpper",
    "MouthShrugLower",
    "MouthShrugUpper",
    "MouthPressLeft",
    "MouthPressRight",
    "MouthLowerDownLeft",
    "MouthLowerDownRight",
    "MouthUpperUpLeft",
    "MouthUpperUpRight",
    "BrowDownLeft",
    "BrowDownRight",
    "BrowInnerUp",
    "BrowOuterUpLeft",
    "BrowOuterUpRight",
    "CheekPuff",
    "CheekSquintLeft",
    "CheekSquintRight",
    "NoseSneerLeft",
    "NoseSneerRight",
    "TongueOut",
]
ROTATIONS = [
    "HeadYaw",
    "HeadPitch",
    "HeadRoll",
    "LeftEyeYaw",
    "LeftEyePitch",
    "LeftEyeRoll",
    "RightEyeYaw",
    "RightEyePitch",
    "RightEyeRoll",
]


def _clip(template, frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (T, V, 3), weights (T, 52)): smooth random ARKit curves on the template."""
    rng = np.random.default_rng(seed)
    kernel = np.exp(-(np.linspace(-3, 3, 31) ** 2))
    x = rng.normal(0, 1, (frames + 30, 52))
    x = np.stack([np.convolve(x[:, j], kernel / kernel.sum(), "valid") for j in range(52)], 1)
    weights = np.clip(x[:frames] * 2, 0, 1).astype(np.float32)
    return template.pose(weights).astype(np.float32), weights


def _write(path: Path, template, verts: np.ndarray, fps: float, block: int = 7) -> Path:
    """Write template-topology frames through the vertex adapter, in blocks of `block`."""
    frames = VertexFrames(template.vertices, fps, len(verts))
    with open_writer(path, None, frames, template) as writer:
        for s in range(0, len(verts), block):
            writer.write(VertexBlock(s, verts[s : s + block]))
    return path


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _importer_times(codes: list[str]) -> np.ndarray:
    """Seconds as Unreal's LiveLinkFaceImporter reads timecodes: HH:MM:SS:FF.fff with FF.fff
    a fractional frame number at 60 fps if any exceeds 30, else 30."""
    parts = [code.split(":") for code in codes]
    assert all(len(p) == 4 for p in parts), codes[:3]
    frame = np.array([float(p[3]) for p in parts])
    rate = 60 if (frame > 30).any() else 30
    whole = np.array([int(p[0]) * 3600 + int(p[1]) * 60 + int(p[2]) for p in parts])
    return whole + frame / rate


def _fitted(template, verts: np.ndarray, block: int = 7) -> np.ndarray:
    """The weights a writer fits, block by block as `_write` feeds it (a batch's BLAS
    blocking moves the ill-conditioned fit by ~1e-6, so the blocks must match)."""
    deltas = template.arkit_deltas
    return np.concatenate(
        [
            fit_arkit_weights(verts[s : s + block] - template.vertices, deltas).weights
            for s in range(0, len(verts), block)
        ]
    )


# ---------------------------------------------------------------------------------------
# registration


def test_new_formats_follow_the_suffix_and_the_cli_offers_them(tmp_path):
    from core.runtime.cli import parser

    assert {".csv": "csv", ".json": "json", ".glb": "glb"}.items() <= FORMATS.items()
    assert format_of(Path("a.GLB")) == "glb" and format_of(Path("a.csv"), "csv") == "csv"
    with pytest.raises(ValueError, match="does not match the suffix"):
        format_of(Path("a.csv"), "json")
    with pytest.raises(ValueError, match=r"unknown output suffix '\.fbx'"):
        format_of(Path("a.fbx"))
    animate = parser()._subparsers._group_actions[0].choices["animate"]
    choices = next(a.choices for a in animate._actions if a.dest == "format")
    assert set(choices) == {"npz", "pc2", "csv", "json", "glb"}


# ---------------------------------------------------------------------------------------
# Live Link Face CSV


def test_csv_has_unreals_columns_and_the_clips_weights(tmp_path, template):
    verts, weights = _clip(template, 50)
    header, rows = _read_csv(_write(tmp_path / "take.csv", template, verts, 30))
    assert header == ["Timecode", "BlendShapeCount", *UNREAL_ORDER, *ROTATIONS]
    assert len(header) == 61 + 2 and header.index("JawLeft") == 2 + 15
    assert header.index("MouthLeft") == 2 + 21 and header.index("TongueOut") == 2 + 51
    assert len(rows) == 50 and all(len(r) == 63 for r in rows)
    assert {r[1] for r in rows} == {"61"}
    values = np.array([[float(v) for v in r[2:]] for r in rows])
    camel = [n[0].lower() + n[1:] for n in UNREAL_ORDER]
    want = _fitted(template, verts)[:, [template.arkit_names.index(n) for n in camel]]
    np.testing.assert_allclose(values[:, :52], want, atol=5e-7)  # 6 decimals
    np.testing.assert_allclose(
        values[:, :52], weights[:, [template.arkit_names.index(n) for n in camel]], atol=2e-3
    )
    assert not values[:, 52:55].any()  # the head stays still
    times = _importer_times([r[0] for r in rows])
    np.testing.assert_allclose(times, np.arange(50) / 30, atol=1e-9)
    assert rows[0][0] == "00:00:00:00.000" and rows[31][0] == "00:00:01:01.000"


@pytest.mark.parametrize("fps", [24, 25, 30000 / 1001, 30, 48, 50, 60000 / 1001, 60])
@pytest.mark.parametrize("frames", [12, 400])
def test_csv_timecodes_give_the_exact_times_under_unreals_rate_inference(fps, frames):
    rate = timecode_rate(fps, frames)
    codes = timecodes(0, frames, fps, rate)
    times = _importer_times(codes)
    assert np.all(np.diff(times) > 0)
    # exact to half a thousandth of a frame of the grid
    np.testing.assert_allclose(times, np.arange(frames) / fps, atol=0.5 / (rate * 1000) + 1e-9)
    assert rate == (60 if fps > 30 and frames == 400 else 30)
    if fps in (30, 60) and rate == fps:  # the app's own layout: whole frames
        assert all(c.endswith(".000") for c in codes)


def test_timecode_examples():
    ntsc = 30000 / 1001
    assert timecodes(1, 1, ntsc, 30) == ["00:00:00:01.001"]
    assert timecodes(30, 1, ntsc, 30) == ["00:00:01:00.030"]
    assert timecodes(24 * 3600 // 2, 1, 24, 30) == ["00:30:00:00.000"]
    assert timecodes(30 * 3600 + 29, 1, 30, 30) == ["01:00:00:29.000"]
    assert timecodes(59, 1, 60, 60) == ["00:00:00:59.000"]
    assert timecodes(1, 1, 24, 30) == ["00:00:00:01.250"]
    assert timecodes(0, 3, 30, 30) == [f"00:00:00:0{k}.000" for k in range(3)]


def _gaze_degrees(template, unit: str) -> tuple[float, float]:
    """(yaw, pitch) in degrees the template's eyeball turns at weight 1 of `unit`: yaw to the
    character's left (+X), pitch up (+Z); the face looks towards -Y."""
    eye_faces = template.faces[template.face_part == template.part_names.index("eyes")]
    eye = np.unique(eye_faces)
    side = 1 if unit.endswith("Left") else -1
    idx = eye[np.sign(template.vertices[eye, 0]) == side]
    rest = template.vertices[idx]
    rotation = fit_similarity(rest, rest + template.unit(unit)[idx]).rotation
    gaze = rotation @ np.array([0.0, -1.0, 0.0])
    return np.degrees(np.arctan2(gaze[0], -gaze[1])), np.degrees(np.arctan2(gaze[2], -gaze[1]))


def test_eye_rotations_are_the_templates_eye_angles(template):
    """The CSV's eye yaw/pitch per eyeLook* weight is the angle the template's own unit turns
    the eyeball (measured here from the deltas), in Live Link's degrees / 180."""
    matrix = eye_rotation_matrix(template.arkit_names) * 180
    for side, col in (("Left", 0), ("Right", 3)):
        for direction in ("In", "Out", "Up", "Down"):
            unit = f"eyeLook{direction}{side}"
            yaw, pitch = _gaze_degrees(template, unit)
            row = matrix[template.arkit_names.index(unit)]
            assert row[col] == pytest.approx(yaw, abs=0.3), unit
            assert row[col + 1] == pytest.approx(pitch, abs=0.3), unit
            assert row[col + 2] == 0 and not np.delete(row, [col, col + 1]).any()
    assert max(EYE_DEGREES.values()) < 30  # well inside ARKit's typical range


def test_csv_eye_columns_follow_the_eye_look_weights(tmp_path, template):
    names = template.arkit_names
    weights = np.zeros((3, 52), np.float32)
    weights[0, names.index("eyeLookOutLeft")] = 1  # both eyes to the character's left
    weights[0, names.index("eyeLookInRight")] = 1
    weights[1, names.index("eyeLookUpLeft")] = 0.5
    weights[1, names.index("eyeLookDownRight")] = 1
    weights[2, names.index("eyeLookInLeft")] = 1e-9  # rounds to 0: no "-0.000000"
    with open_weights_writer(tmp_path / "eyes.csv", None, 30, 3, template) as writer:
        writer.write_weights(weights)
    header, rows = _read_csv(tmp_path / "eyes.csv")
    eyes = {n: np.array([float(r[header.index(n)]) for r in rows]) for n in ROTATIONS}
    np.testing.assert_allclose(eyes["LeftEyeYaw"], [15.0 / 180, 0, 0], atol=1e-6)
    np.testing.assert_allclose(eyes["RightEyeYaw"], [15.4 / 180, 0, 0], atol=1e-6)
    np.testing.assert_allclose(eyes["LeftEyePitch"], [0, 4.9 / 180, 0], atol=1e-6)
    np.testing.assert_allclose(eyes["RightEyePitch"], [0, -11.4 / 180, 0], atol=1e-6)
    assert not any(eyes[n].any() for n in ROTATIONS if "Roll" in n or "Head" in n)
    assert "-0.000000" not in (tmp_path / "eyes.csv").read_text()


# ---------------------------------------------------------------------------------------
# ARKit curves JSON


def test_json_curves(tmp_path, template):
    verts, _ = _clip(template, 40, seed=2)
    path = _write(tmp_path / "clip.json", template, verts, 24, block=9)
    doc = json.loads(path.read_text())
    assert doc["format"] == "meshtalk-arkit-curves" and doc["version"] == 1
    assert doc["fps"] == 24 and doc["frames"] == 40 and doc["names"] == list(template.arkit_names)
    assert all(n[0].islower() for n in doc["names"])
    got = np.array(doc["weights"])
    assert got.shape == (40, 52)
    np.testing.assert_allclose(got, _fitted(template, verts, block=9), atol=5e-5 + 1e-7)
    assert all(round(v, 4) == v for row in doc["weights"] for v in row)
    assert len(path.read_text().splitlines()) == 40 + 3  # one frame per line


# ---------------------------------------------------------------------------------------
# binary glTF


def test_glb_layout(tmp_path, template):
    verts, _ = _clip(template, 30, seed=3)
    doc, binary = read_glb(_write(tmp_path / "head.glb", template, verts, 25))
    assert doc["asset"]["version"] == "2.0"
    mesh = doc["meshes"][0]
    prim = mesh["primitives"][0]
    assert mesh["extras"]["targetNames"] == list(template.arkit_names)
    assert len(prim["targets"]) == 52 and mesh["weights"] == [0.0] * 52
    position = accessor_array(doc, binary, prim["attributes"]["POSITION"])
    rest = template.vertices
    np.testing.assert_array_equal(position, np.stack([rest[:, 0], rest[:, 2], -rest[:, 1]], 1))
    normals = accessor_array(doc, binary, prim["attributes"]["NORMAL"])
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1, atol=1e-5)
    nose_tip = int(np.argmax(position[:, 2]))  # frontmost (glTF +Z faces the viewer)
    assert normals[nose_tip, 2] > 0.5  # outward: the winding survived the axis change
    jaw_target = prim["targets"][template.arkit_names.index("jawOpen")]["POSITION"]
    jaw = accessor_array(doc, binary, jaw_target)
    d = template.unit("jawOpen")
    np.testing.assert_array_equal(jaw, np.stack([d[:, 0], d[:, 2], -d[:, 1]], 1))
    tris = accessor_array(doc, binary, prim["indices"]).reshape(-1, 3)
    assert len(tris) == 2 * len(template.faces) and tris.max() == len(rest) - 1
    (anim,) = doc["animations"]
    (channel,) = anim["channels"]
    assert channel["target"] == {"node": 0, "path": "weights"}
    sampler = anim["samplers"][channel["sampler"]]
    assert sampler["interpolation"] == "LINEAR"
    times = accessor_array(doc, binary, sampler["input"])
    np.testing.assert_allclose(times, np.arange(30) / 25, rtol=1e-6)
    values = accessor_array(doc, binary, sampler["output"]).reshape(30, 52)
    np.testing.assert_array_equal(values, _fitted(template, verts))


# ---------------------------------------------------------------------------------------
# one session, every format


def test_every_format_of_one_session_agrees(tmp_path, random_weights, template):
    """`animate_file` with a character's face: the .glb's mesh is that face, and the .csv,
    .json and .glb carry the .npz's ARKit weights (to their rounding). The vertex adapter fed
    the .npz's vertices writes the same .pc2 byte for byte and the same weights to 1e-5: it
    fits offsets, the session its coefficients (offsets are affine in them), so only float
    rounding differs."""
    from core.runtime.session import animate_file

    audio = ROOT / "demo" / "speech.wav"
    face = tmp_path / "face.npz"
    np.savez(face, vertices=template.vertices * 1.05)
    settings = Settings(fps=24, seed=1, weights=random_weights)
    out = {kind: tmp_path / f"line.{kind}" for kind in ("npz", "pc2", "csv", "json", "glb")}
    n = {animate_file(audio, path, settings, face) for path in out.values()}
    assert len(n) == 1
    with np.load(out["npz"]) as data:
        verts, weights = data["vertices"], data["arkit_weights"]
    assert len(verts) == n.pop()
    header, rows = _read_csv(out["csv"])
    csv_weights = np.array([[float(v) for v in r[2:54]] for r in rows])
    order = [template.arkit_names.index(h[0].lower() + h[1:]) for h in header[2:54]]
    np.testing.assert_allclose(csv_weights, weights[:, order], atol=5e-7)
    doc = json.loads(out["json"].read_text())
    np.testing.assert_allclose(np.array(doc["weights"]), weights, atol=5e-5 + 1e-7)
    gdoc, binary = read_glb(out["glb"])
    prim = gdoc["meshes"][0]["primitives"][0]
    position = accessor_array(gdoc, binary, prim["attributes"]["POSITION"])
    rest = template.vertices * 1.05
    np.testing.assert_allclose(position, np.stack([rest[:, 0], rest[:, 2], -rest[:, 1]], 1))
    sampler = gdoc["animations"][0]["samplers"][0]
    np.testing.assert_array_equal(
        accessor_array(gdoc, binary, sampler["output"]).reshape(-1, 52), weights
    )
    # the add-on's path: the same vertices through VertexFrames give the same files
    again = tmp_path / "again"
    frames = VertexFrames(np.load(face)["vertices"], 24, len(verts))
    for kind in ("pc2", "csv", "json", "glb"):
        with open_writer(again.with_suffix(f".{kind}"), None, frames, template) as writer:
            for s in range(0, len(verts), 50):
                writer.write(VertexBlock(s, verts[s : s + 50]))
    assert again.with_suffix(".pc2").read_bytes() == out["pc2"].read_bytes()
    _, rows = _read_csv(again.with_suffix(".csv"))
    again_csv = np.array([[float(v) for v in r[2:54]] for r in rows])
    np.testing.assert_allclose(again_csv, csv_weights, atol=1e-5)
    again_doc = json.loads(again.with_suffix(".json").read_text())
    np.testing.assert_allclose(np.array(again_doc["weights"]), doc["weights"], atol=1e-4 + 1e-7)
    again_gdoc, again_binary = read_glb(again.with_suffix(".glb"))
    again_sampler = again_gdoc["animations"][0]["samplers"][0]
    np.testing.assert_allclose(
        accessor_array(again_gdoc, again_binary, again_sampler["output"]).reshape(-1, 52),
        weights,
        atol=1e-5,
    )
    assert read_pc2(out["pc2"]).frames.shape == verts.shape


def test_the_worker_threads_write_the_same_files(tmp_path, random_weights, monkeypatch):
    """`animate_file` with the network's worker threads (the default: features, next chunk
    and writing beside the frame loops) and without them: byte for byte the same files, and
    OpenBLAS's thread count is back to what it was."""
    from core.runtime.blas import _openblas_functions
    from core.runtime.session import animate_file, load_network

    audio = ROOT / "demo" / "speech.wav"
    settings = Settings(fps=24, seed=3, weights=random_weights)
    network = load_network(random_weights)
    functions = _openblas_functions()
    before = functions[1]() if functions else None
    files = {}
    for overlap in (True, False):
        monkeypatch.setattr(network, "overlap", overlap)
        for kind in ("npz", "pc2"):
            path = tmp_path / f"{overlap}.{kind}"
            animate_file(audio, path, settings)
            files[overlap, kind] = path.read_bytes()
    assert files[True, "npz"] == files[False, "npz"]
    assert files[True, "pc2"] == files[False, "pc2"]
    assert (functions[1]() if functions else None) == before


# ---------------------------------------------------------------------------------------
# streaming: no partial files, counts checked, weights-only writers


@pytest.mark.parametrize("kind", ["csv", "json", "glb"])
def test_an_error_mid_clip_leaves_the_previous_file(tmp_path, template, kind):
    verts, _ = _clip(template, 20)
    path = tmp_path / f"take.{kind}"
    path.write_bytes(b"previous")
    frames = VertexFrames(template.vertices, 30, 20)
    with pytest.raises(RuntimeError, match="stop"), open_writer(path, None, frames, template) as w:
        w.write(VertexBlock(0, verts[:10]))
        raise RuntimeError("stop")
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("kind", ["csv", "json", "npz"])
def test_a_short_clip_is_an_error_not_a_file(tmp_path, template, kind):
    verts, _ = _clip(template, 20)
    path = tmp_path / f"take.{kind}"
    frames = VertexFrames(template.vertices, 30, 25)  # promised 25, given 20
    with (
        pytest.raises(ValueError, match="wrote 20 of 25 frames"),
        open_writer(path, None, frames, template) as writer,
    ):
        writer.write(VertexBlock(0, verts))
    assert not list(tmp_path.iterdir())


def test_weights_alone_make_csv_and_json_only(tmp_path, template):
    _, weights = _clip(template, 15)
    for kind in ("csv", "json"):
        with open_weights_writer(tmp_path / f"w.{kind}", None, 30, 15, template) as writer:
            writer.write_weights(weights[:8])
            writer.write_weights(weights[8:])
    doc = json.loads((tmp_path / "w.json").read_text())
    np.testing.assert_allclose(doc["weights"], weights, atol=5e-5 + 1e-7)
    assert len(_read_csv(tmp_path / "w.csv")[1]) == 15
    for kind in ("pc2", "npz", "glb"):
        with pytest.raises(ValueError, match=r"only ARKit weights: write \.csv or \.json"):
            open_weights_writer(tmp_path / f"w.{kind}", None, 30, 15, template)
    assert not (tmp_path / "w.glb").exists()
    with (
        pytest.raises(ValueError, match=r"\(n, 52\)"),
        open_weights_writer(tmp_path / "bad.csv", None, 30, 1, template) as writer,
    ):
        writer.write_weights(np.zeros((1, 51)))
    assert not (tmp_path / "bad.csv").exists()


def test_vertex_frames_check_their_blocks(template):
    frames = VertexFrames(template.vertices, 30, 2)
    with pytest.raises(ValueError, match=r"\(n, 5084, 3\)"):
        frames.offsets(VertexBlock(0, np.zeros((2, 10, 3), np.float32)))
    with pytest.raises(ValueError, match="fps must be positive"):
        VertexFrames(template.vertices, 0, 2)
    verts, _ = _clip(template, 2)
    np.testing.assert_array_equal(frames.offsets(VertexBlock(0, verts)), verts - template.vertices)


# ---------------------------------------------------------------------------------------
# the .glb read back by other software

_BLENDER_IMPORT = """
import json, sys
import bpy
import numpy as np

bpy.ops.wm.read_homefile(use_empty=True)
bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = 25, 1.0
assert bpy.ops.import_scene.gltf(filepath=sys.argv[1]) == {"FINISHED"}
(obj,) = [o for o in bpy.data.objects if o.type == "MESH"]
key = obj.data.shape_keys
co = np.empty(len(obj.data.vertices) * 3, np.float32)
obj.data.vertices.foreach_get("co", co)
curves = {}
action = key.animation_data.action
if hasattr(action, "slots") and action.layers:  # layered actions (4.4+)
    fcurves = action.layers[0].strips[0].channelbag(key.animation_data.action_slot).fcurves
else:  # 4.2-4.3
    fcurves = action.fcurves
for fc in fcurves:
    points = np.empty(len(fc.keyframe_points) * 2, np.float32)
    fc.keyframe_points.foreach_get("co", points)
    curves[fc.data_path] = points.reshape(-1, 2).tolist()
played = {}
for frame in (0, 7, 19):
    bpy.context.scene.frame_set(frame)
    played[frame] = [kb.value for kb in key.key_blocks[1:]]
print("RESULT" + json.dumps({
    "keys": [kb.name for kb in key.key_blocks],
    "vertices": co.reshape(-1, 3).tolist(),
    "faces": len(obj.data.polygons),
    "action": action.name,
    "curves": curves,
    "played": played,
}))
"""


@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="no bpy module")
def test_blender_imports_the_glb_as_shape_key_animation(tmp_path, template):
    verts, _ = _clip(template, 20, seed=5)
    path = _write(tmp_path / "head.glb", template, verts, 25)
    weights = _fitted(template, verts)
    home = tmp_path / "home"
    home.mkdir()
    script = tmp_path / "import_glb.py"
    script.write_text(_BLENDER_IMPORT)
    env = {**os.environ, "HOME": str(home), "BLENDER_USER_RESOURCES": str(home / "blender")}
    env.pop("PYTHONPATH", None)
    res = subprocess.run(
        [sys.executable, str(script), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    line = next(x for x in res.stdout.splitlines() if x.startswith("RESULT"))
    got = json.loads(line[len("RESULT") :])
    assert got["keys"] == ["Basis", *template.arkit_names]
    assert got["faces"] == 2 * len(template.faces)
    np.testing.assert_allclose(got["vertices"], template.vertices, atol=1e-6)  # back to Z-up
    for j, name in enumerate(template.arkit_names):
        points = np.array(got["curves"][f'key_blocks["{name}"].value'])
        np.testing.assert_allclose(points[:, 0], np.arange(20), atol=1e-4)  # 25 fps on 25
        np.testing.assert_allclose(points[:, 1], weights[:, j], atol=1e-6)
    for frame, values in got["played"].items():
        np.testing.assert_allclose(values, weights[int(frame)], atol=1e-6)


_VALIDATE = """
const fs = require("fs");
const validator = require(process.argv[2]);
validator.validateBytes(new Uint8Array(fs.readFileSync(process.argv[3])), {maxIssues: 50})
  .then((report) => console.log(JSON.stringify(report)))
  .catch((error) => { console.error(String(error)); process.exit(2); });
"""


@pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None, reason="no node/npm"
)
def test_the_khronos_validator_finds_no_issue(tmp_path, template):
    module = NODE_PREFIX / "node_modules" / "gltf-validator"
    if not module.is_dir():  # installed once, under the git-ignored build/
        cmd = ["npm", "install", "--prefix", str(NODE_PREFIX), "--save-exact", "--no-audit"]
        res = subprocess.run([*cmd, VALIDATOR], capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
    verts, _ = _clip(template, 45, seed=6)
    path = _write(tmp_path / "head.glb", template, verts, 30000 / 1001)
    script = tmp_path / "validate.js"
    script.write_text(_VALIDATE)
    res = subprocess.run(
        ["node", str(script), str(module), str(path)], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout)
    issues = report["issues"]
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, issues["messages"]
    assert report["info"]["animationCount"] == 1 and report["info"]["hasMorphTargets"]
    assert report["info"]["totalVertexCount"] == template.n_vertices
