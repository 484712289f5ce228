"""meshtalk.export_animation in the installed extension (built zip, real bpy): what it writes
is what the object plays, frame by frame, in the template's frame, through the runtime's own
writers; ARKit-only characters export their curves; errors name the file and the cause."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import _extension as ext  # noqa: E402

from core.runtime.audio import load_audio  # noqa: E402
from core.runtime.outputs import compact_basis, read_glb, read_pc2  # noqa: E402
from core.runtime.outputs.gltf import accessor_array  # noqa: E402


@pytest.fixture(scope="module")
def addon():
    return ext.install()


@pytest.fixture(scope="module")
def speech():
    return load_audio(ext.SPEECH)


animate, new_scene, evaluated = ext.session_vertices, ext.new_scene, ext.evaluated
max_error = ext.max_vertex_error


def export(obj, path) -> set[str]:
    return bpy.ops.meshtalk.export_animation(filepath=str(path), object_name=obj.name)


def key_values(obj, frame: int, names) -> np.ndarray:
    bpy.context.scene.frame_set(frame)
    blocks = obj.data.shape_keys.key_blocks
    return np.array([blocks[n].value if n in blocks else 0.0 for n in names], np.float32)


def test_the_operator_is_registered_with_a_file_filter(addon):
    rna = bpy.ops.meshtalk.export_animation.get_rna_type()
    assert rna.name == "Export MeshTalk Animation…"
    assert rna.properties["filter_glob"].default == "*.npz;*.pc2;*.csv;*.json;*.glb"
    assert rna.properties["filepath"].subtype == "FILE_PATH"


def test_shape_keys_export_to_npz_is_what_plays(addon, speech, template, tmp_path):
    src = new_scene(24, strip_frame=10)
    bpy.ops.meshtalk.add_head()
    head = bpy.context.active_object
    assert bpy.ops.meshtalk.generate(
        object_name=head.name, mode="SHAPE_KEYS", seed=3, frame_offset=2, **src
    ) == {"FINISHED"}
    bpy.context.scene.frame_set(5)
    assert export(head, tmp_path / "out" / "line.npz") == {"FINISHED"}
    assert bpy.context.scene.frame_current == 5  # restored
    expected = animate(speech, template.vertices, seed=3, fps=24)
    with np.load(tmp_path / "out" / "line.npz") as data:
        verts, fps, weights = data["vertices"], float(data["fps"]), data["arkit_weights"]
        assert list(data["arkit_names"]) == list(template.arkit_names)
    assert verts.shape == expected.shape and fps == 24 and weights.shape == (len(verts), 52)
    for i in (0, 17, len(verts) // 2, len(verts) - 1):
        assert max_error(verts[i], evaluated(head, 12 + i)) < 2e-6, i  # the frame that plays
    basis = compact_basis(expected - template.vertices)
    tol = 1.05e-4 if basis.within_tolerance else basis.max_error * 1.05
    assert max_error(verts, expected) <= tol


def test_mesh_cache_exports_pc2_and_glb(addon, template, tmp_path):
    src = new_scene(25, strip_frame=20)
    bpy.ops.meshtalk.add_head()
    head = bpy.context.active_object
    assert bpy.ops.meshtalk.generate(
        object_name=head.name, mode="MESH_CACHE", seed=1, cache_dir=str(tmp_path), **src
    ) == {"FINISHED"}
    cache = read_pc2(tmp_path / "MeshTalk_MeshTalk_Head.pc2").frames
    assert export(head, tmp_path / "again.pc2") == {"FINISHED"}
    again = read_pc2(tmp_path / "again.pc2")
    assert again.frames.shape == cache.shape
    assert max_error(again.frames, cache) < 2e-6
    assert export(head, tmp_path / "head.glb") == {"FINISHED"}
    doc, binary = read_glb(tmp_path / "head.glb")
    prim = doc["meshes"][0]["primitives"][0]
    position = accessor_array(doc, binary, prim["attributes"]["POSITION"])
    rest = template.vertices
    np.testing.assert_allclose(
        position, np.stack([rest[:, 0], rest[:, 2], -rest[:, 1]], 1), atol=1e-6
    )
    sampler = doc["animations"][0]["samplers"][0]
    times = accessor_array(doc, binary, sampler["input"])
    np.testing.assert_allclose(times, np.arange(len(cache)) / 25, rtol=1e-6)
    weights = accessor_array(doc, binary, sampler["output"]).reshape(len(cache), 52)
    assert weights.min() >= 0 and weights.max() <= 1 and weights.any()


def test_a_turned_scaled_character_exports_in_the_templates_frame(
    addon, speech, template, tmp_path
):
    """A character 1.2x the template's size, turned 30°, elsewhere in space: its exported
    vertices are the network's output in the template's frame, as the CLI writes them."""
    src = new_scene(30, strip_frame=1)
    angle = np.radians(30)
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]],
        np.float32,
    )
    mesh = bpy.data.meshes.new("Big")
    mesh.from_pydata(
        (1.2 * template.vertices @ rot.T + [0.4, -0.2, 1.1]).tolist(), [], template.faces.tolist()
    )
    obj = bpy.data.objects.new("Big", mesh)
    bpy.context.scene.collection.objects.link(obj)
    assert bpy.ops.meshtalk.generate(
        object_name="Big", mode="MESH_CACHE", cache_dir=str(tmp_path), **src
    ) == {"FINISHED"}
    assert export(obj, tmp_path / "big.npz") == {"FINISHED"}
    assert export(obj, tmp_path / "big.json") == {"FINISHED"}
    with np.load(tmp_path / "big.npz") as data:
        verts, weights = data["vertices"], data["arkit_weights"]
    expected = animate(speech, template.vertices)
    assert verts.shape == expected.shape
    assert max_error(verts, expected) < 2e-5
    doc = json.loads((tmp_path / "big.json").read_text())
    assert doc["frames"] == len(verts) and doc["fps"] == 30
    np.testing.assert_allclose(np.array(doc["weights"]), weights, atol=5e-5 + 1e-6)


def _arkit_only_mesh(template, drop=("tongueOut", "cheekPuff")):
    """A 10 x 10 grid (not the template's topology) with ARKit-named keys, some respelled,
    two units missing."""
    rng = np.random.default_rng(1)
    x, y = np.meshgrid(np.linspace(-0.1, 0.1, 10), np.linspace(-0.1, 0.1, 10))
    co = np.stack([x.ravel(), np.zeros(100), y.ravel()], 1)
    faces = [
        (i * 10 + j, i * 10 + j + 1, i * 10 + j + 11, i * 10 + j + 10)
        for i in range(9)
        for j in range(9)
    ]
    mesh = bpy.data.meshes.new("Avatar")
    mesh.from_pydata(co.tolist(), [], faces)
    obj = bpy.data.objects.new("Avatar", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis", from_mix=False)
    names = {}
    for unit in template.arkit_names:
        if unit in drop:
            continue
        name = {"eyeBlinkLeft": "eyeBlink_L", "jawOpen": "JawOpen"}.get(unit, unit)
        kb = obj.shape_key_add(name=name, from_mix=False)
        kb.data.foreach_set("co", (co + rng.normal(0, 0.01, co.shape)).ravel())
        names[unit] = name
    return obj, names


def test_an_arkit_only_character_exports_its_curves(addon, template, tmp_path):
    src = new_scene(30, strip_frame=4)
    obj, names = _arkit_only_mesh(template)
    assert bpy.ops.meshtalk.generate(object_name=obj.name, mode="ARKIT", seed=2, **src) == {
        "FINISHED"
    }
    assert export(obj, tmp_path / "avatar.json") == {"FINISHED"}
    assert export(obj, tmp_path / "avatar.csv") == {"FINISHED"}
    doc = json.loads((tmp_path / "avatar.json").read_text())
    weights = np.array(doc["weights"])
    assert doc["names"] == list(template.arkit_names) and weights.shape == (doc["frames"], 52)
    with open(tmp_path / "avatar.csv", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert len(rows) == doc["frames"] and len(header) == 63 and header[2] == "EyeBlinkLeft"
    by_name = {h: np.array([float(r[k]) for r in rows]) for k, h in enumerate(header) if k >= 2}
    key_names = [names.get(unit, "") for unit in template.arkit_names]
    for i in (0, 30, doc["frames"] - 1):
        played = key_values(obj, 4 + i, key_names)
        np.testing.assert_allclose(weights[i], played, atol=5e-5 + 1e-6)
        for unit, value in zip(template.arkit_names, played, strict=True):
            assert by_name[unit[0].upper() + unit[1:]][i] == pytest.approx(value, abs=6e-7)
    for missing in ("tongueOut", "cheekPuff"):
        assert not weights[:, template.arkit_names.index(missing)].any()
    assert weights[:, template.arkit_names.index("jawOpen")].max() > 0  # the lips move
    for suffix in (".npz", ".pc2", ".glb"):
        path = tmp_path / f"avatar{suffix}"
        with pytest.raises(RuntimeError, match=r"ARKit keys only: export \.csv or \.json"):
            export(obj, path)
        assert not path.exists()


def test_an_arkit_head_exports_the_glb_from_what_plays(addon, template, tmp_path):
    """The bundled head in the ARKit mode: .csv holds its curves exactly; the .glb, made from
    the evaluated mesh, fits weights that give back the same curves."""
    src = new_scene(30, strip_frame=1)
    bpy.ops.meshtalk.add_head(arkit_keys=True)
    head = bpy.context.active_object
    assert bpy.ops.meshtalk.generate(object_name=head.name, mode="ARKIT", **src) == {"FINISHED"}
    assert export(head, tmp_path / "head.glb") == {"FINISHED"}
    doc, binary = read_glb(tmp_path / "head.glb")
    sampler = doc["animations"][0]["samplers"][0]
    weights = accessor_array(doc, binary, sampler["output"]).reshape(-1, 52)
    for i in (0, 40, len(weights) - 1):
        played = key_values(head, 1 + i, template.arkit_names)
        assert np.abs(weights[i] - played).max() < 2e-3, i


def test_export_errors_name_the_file_and_the_cause(addon, tmp_path):
    new_scene(30, strip_frame=1)
    with pytest.raises(RuntimeError, match="Choose a target mesh"):
        bpy.ops.meshtalk.export_animation(filepath=str(tmp_path / "x.npz"))
    bpy.ops.meshtalk.add_head()
    head = bpy.context.active_object
    with pytest.raises(RuntimeError, match="'MeshTalk Head' has no MeshTalk animation"):
        export(head, tmp_path / "x.npz")
    src = ext.speech_at(1)
    assert bpy.ops.meshtalk.generate(object_name=head.name, mode="SHAPE_KEYS", **src) == {
        "FINISHED"
    }
    with pytest.raises(RuntimeError, match=r"x\.fbx: unknown suffix '\.fbx' \(use \.npz"):
        export(head, tmp_path / "x.fbx")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(RuntimeError, match=r"Cannot write .*a_file/x\.csv"):
        export(head, blocker / "x.csv")
    with pytest.raises(RuntimeError, match="No object named 'Nobody'"):
        bpy.ops.meshtalk.export_animation(filepath=str(tmp_path / "x.npz"), object_name="Nobody")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
