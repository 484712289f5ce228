"""The template head as a real Blender mesh (PyPI bpy, background mode): its face units,
applied as shape keys and evaluated through the depsgraph, do what their names say; and the
head Add › Mesh › MeshTalk Head gives (the installed extension) keeps the template's vertices
and topology under its neck cap, subdivision and procedural materials."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import _extension as ext  # noqa: E402

from core.runtime.metrics import eyelid_gap, lip_gap  # noqa: E402
from core.runtime.outputs import read_pc2  # noqa: E402
from meshtalk_blender.head import add_head_object  # noqa: E402

UNITS = ("jawOpen", "mouthClose", "eyeBlinkLeft", "mouthFunnel", "browInnerUp")


@pytest.fixture
def head(template):
    """A fresh head in each test's empty file (the add-on tests' autouse reset)."""
    obj = add_head_object(template)
    obj.shape_key_add(name="Basis", from_mix=False)
    for name in UNITS:
        key = obj.shape_key_add(name=name, from_mix=False)
        key.data.foreach_set("co", (template.vertices + template.unit(name)).ravel())
    return obj


@pytest.fixture(scope="module")
def addon():
    return ext.install()


def _evaluated(obj, **values: float) -> np.ndarray:
    for key in obj.data.shape_keys.key_blocks[1:]:
        key.value = values.get(key.name, 0.0)
    obj.data.update()
    return _vertices(obj)


def _vertices(obj) -> np.ndarray:
    depsgraph = bpy.context.evaluated_depsgraph_get()
    mesh = obj.evaluated_get(depsgraph).data
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def _added_head(**kwargs):
    """Add › Mesh › MeshTalk Head, as a user runs it."""
    assert bpy.ops.meshtalk.add_head(**kwargs) == {"FINISHED"}
    return bpy.context.active_object


def _polygon_vertices(mesh) -> list[np.ndarray]:
    loops = np.empty(len(mesh.loops), np.int32)
    mesh.loops.foreach_get("vertex_index", loops)
    starts = np.empty(len(mesh.polygons), np.int32)
    mesh.polygons.foreach_get("loop_start", starts)
    return np.split(loops, starts[1:])


def test_head_mesh_matches_the_template(head, template):
    assert bpy.app.background
    assert len(head.data.vertices) == template.n_vertices
    assert len(head.data.polygons) == len(template.faces) + 1  # the quads, then the neck cap
    assert head.data.uv_layers.active is not None
    assert [m.name for m in head.data.materials] == [
        f"MeshTalk_{p}" for p in (*template.material_names, "collar")
    ]
    np.testing.assert_allclose(_evaluated(head), template.vertices, atol=1e-7)


def test_jaw_open_opens_and_mouth_close_closes(head, template):
    rest = lip_gap(_evaluated(head), template)
    opened = lip_gap(_evaluated(head, jawOpen=1.0), template)
    closed = lip_gap(_evaluated(head, jawOpen=1.0, mouthClose=1.0), template)
    assert abs(rest) < 0.001
    assert opened - rest > 0.025, f"jawOpen opened the lips by only {1000 * (opened - rest):.1f} mm"
    assert abs(closed) < 0.003, f"mouthClose left {1000 * closed:.1f} mm"


def test_eye_blink_left_closes_only_the_left_eye(head, template):
    rest = _evaluated(head)
    blink = _evaluated(head, eyeBlinkLeft=1.0)
    assert eyelid_gap(rest, template, "left") > 0.006
    assert eyelid_gap(blink, template, "left") < 0.0005
    right = eyelid_gap(rest, template, "right")
    assert eyelid_gap(blink, template, "right") == pytest.approx(right)


def test_region_masks_in_blender_vertex_groups(head, template):
    """Regions become vertex groups with the same members; disjoint where they must be."""
    for name, index in template.regions.items():
        group = head.vertex_groups.new(name=name)
        group.add(index.tolist(), 1.0, "REPLACE")
    members: dict[str, set[int]] = {g.name: set() for g in head.vertex_groups}
    names = {g.index: g.name for g in head.vertex_groups}
    for v in head.data.vertices:
        for g in v.groups:
            members[names[g.group]].add(v.index)
    for name, index in template.regions.items():
        assert members[name] == set(index.tolist()) and members[name]
    assert not members["mouth"] & members["upper_face"]
    assert not members["eyelid_upper_left"] & members["eyelid_upper_right"]
    assert not members["eyelid_upper_left"] & members["eyelid_lower_left"]
    assert members["lips"] <= members["mouth"]


# ---------------------------------------------------------------------------------------
# the head the Add menu gives (installed extension)


def test_added_head_keeps_the_templates_vertices_faces_and_topology(addon, template):
    head = _added_head()
    mesh = head.data
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    np.testing.assert_array_equal(co.reshape(-1, 3), template.vertices)  # count and order
    polygons = _polygon_vertices(mesh)
    np.testing.assert_array_equal(np.stack(polygons[: len(template.faces)]), template.faces)
    (cap,) = polygons[len(template.faces) :]
    # the cap covers the skin's one open loop, the neck's cut: the skin is closed now
    skin = np.flatnonzero(np.asarray(template.face_part) == template.part_names.index("skin"))
    faces = [template.faces[f] for f in skin] + [cap]
    edges = np.concatenate([np.stack([f, np.roll(f, -1)], 1) for f in faces])
    _, uses = np.unique(np.sort(edges, 1), axis=0, return_counts=True)
    assert (uses == 2).all()
    assert template.vertices[cap, 2].max() < 0.02  # at the cut, not over the mouth or eyes
    # the add-on still recognises the template's topology (shape keys, mesh cache output)
    target = addon.targets.analyse(head)
    assert target.has_template_topology


def test_added_head_with_arkit_keys_rests_until_animated(addon, template):
    """Add › MeshTalk Head with its 52 ARKit keys shows the neutral face (Blender 5.0 starts
    a new shape key at value 1)."""
    assert bpy.ops.meshtalk.add_head(arkit_keys=True) == {"FINISHED"}
    head = bpy.context.active_object
    keys = head.data.shape_keys.key_blocks
    assert [k.name for k in keys[1:]] == list(template.arkit_names)
    assert all(k.value == 0 for k in keys[1:])  # (the Basis is the reference, not a unit)
    mesh = head.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    n = template.n_vertices  # the subdivision adds vertices after the template's
    assert np.abs(co.reshape(-1, 3)[:n] - template.vertices).max() < 1e-6


def test_added_head_is_smooth_and_subdivided_for_renders(addon):
    head = _added_head()
    assert all(p.use_smooth for p in head.data.polygons)
    (mod,) = head.modifiers
    assert mod.type == "SUBSURF" and mod.levels == 1 and mod.render_levels == 2
    assert mod.show_render
    # off in the viewport: what Python reads through the depsgraph keeps 5,084 vertices
    assert not mod.show_viewport
    assert len(_vertices(head)) == len(head.data.vertices)
    mod.show_viewport = True
    assert len(_vertices(head)) > 3 * len(head.data.vertices)


def test_added_head_materials_are_procedural_with_subsurface_skin(addon, template):
    head = _added_head()
    mats = {m.name.removeprefix("MeshTalk_"): m for m in head.data.materials}
    assert set(mats) == {*template.material_names, "collar"}
    attributes = set(head.data.attributes.keys())
    for name, mat in mats.items():
        nodes = mat.node_tree.nodes
        output = next(n for n in nodes if n.bl_idname == "ShaderNodeOutputMaterial")
        assert output.inputs["Surface"].is_linked, name
        assert any(n.bl_idname == "ShaderNodeBsdfPrincipled" for n in nodes), name
        assert mat.diffuse_color[:3] != (0.8, 0.8, 0.8), f"{name}: no viewport colour"
        for node in nodes:  # every attribute a shader reads is on the mesh
            if node.bl_idname == "ShaderNodeAttribute":
                assert node.attribute_name in attributes, (name, node.attribute_name)
    skin = next(
        n for n in mats["skin"].node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"
    )
    weight = skin.inputs["Subsurface Weight"]
    assert not weight.is_linked and weight.default_value > 0
    assert skin.inputs["Subsurface Radius"].default_value[0] > 0
    for part in ("eyes", "iris", "pupil"):  # one eye shader: round iris, under a wet coat
        bsdf = next(
            n for n in mats[part].node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"
        )
        assert bsdf.inputs["Coat Weight"].default_value > 0.5
        assert bsdf.inputs["Coat Roughness"].default_value < 0.1
    lashes = next(
        n for n in mats["eyelashes"].node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"
    )
    assert lashes.inputs["Alpha"].is_linked  # see-through between the hairs
    # the rest positions the shaders draw on are the template's, whatever the shape keys do
    rest = np.empty(len(head.data.vertices) * 3, np.float32)
    head.data.attributes["meshtalk_rest"].data.foreach_get("vector", rest)
    np.testing.assert_array_equal(rest.reshape(-1, 3), template.vertices)
    # a second head shares the first's materials rather than piling up copies
    second = _added_head()
    assert [m.name for m in second.data.materials] == [m.name for m in head.data.materials]


def test_mesh_cache_output_stays_first_and_animates_the_subdivided_face(addon, tmp_path):
    bpy.context.scene.render.fps = 30
    src = ext.speech_at(1)
    head = _added_head()
    result = bpy.ops.meshtalk.generate(
        object_name=head.name, mode="MESH_CACHE", cache_dir=str(tmp_path), **src
    )
    assert result == {"FINISHED"}
    assert [m.type for m in head.modifiers] == ["MESH_CACHE", "SUBSURF"]
    cache = read_pc2(tmp_path / "MeshTalk_MeshTalk_Head.pc2").frames
    moving = int(np.argmax(np.abs(cache - cache[0]).max(axis=(1, 2))))
    assert np.abs(cache[moving] - cache[0]).max() > 1e-3  # the clip moves the face
    scene = bpy.context.scene
    scene.frame_set(1 + moving)
    np.testing.assert_allclose(_vertices(head), cache[moving], atol=2e-6)
    head.modifiers["Subdivision"].show_viewport = True  # what renders see (level 1 here)
    scene.frame_set(1)
    first = _vertices(head)
    scene.frame_set(1 + moving)
    later = _vertices(head)
    assert len(later) > len(cache[0]) and np.abs(later - first).max() > 1e-3


def test_shape_keys_and_arkit_keys_play_through_the_subdivision(addon, template):
    head = _added_head(arkit_keys=True)
    keys = head.data.shape_keys.key_blocks
    assert [k.name for k in keys[1:]] == list(template.arkit_names)
    head.modifiers["Subdivision"].show_viewport = True
    rest = _evaluated(head)
    opened = _evaluated(head, jawOpen=1.0)
    assert len(opened) == len(rest) and np.abs(opened - rest).max() > 0.01


def test_head_renders_in_cycles(addon, tmp_path):
    """The node trees compile: a tiny Cycles render has no magenta (missing shader) pixels
    and shows a warm, lit face against the dark world. Judged on a patch at 16 samples:
    random-walk subsurface scattering picks one colour channel per path, so a single pixel
    at 2 samples can come out teal on Blender 4.2 (issue 23) or orange on 5.0."""
    head = _added_head()
    scene = bpy.context.scene
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    cam.location = (0.0, -0.8, 0.15)
    cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
    scene.camera = cam
    light = bpy.data.objects.new("key", bpy.data.lights.new("key", "SUN"))
    light.rotation_euler = (np.radians(60), 0.0, np.radians(-30))
    scene.collection.objects.link(light)
    scene.render.engine = "CYCLES"
    scene.cycles.samples, scene.cycles.use_denoising = 16, False
    scene.render.resolution_x = scene.render.resolution_y = 48
    scene.render.filepath = str(tmp_path / "head.png")
    assert bpy.ops.render.render(write_still=True) == {"FINISHED"}
    img = bpy.data.images.load(str(tmp_path / "head.png"))
    px = np.empty(48 * 48 * 4, np.float32)
    img.pixels.foreach_get(px)
    rgb = px.reshape(48, 48, 4)[..., :3]
    magenta = (rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.2) & (rgb[..., 2] > 0.8)
    assert not magenta.any()
    face = rgb[20:28, 20:28].mean(axis=(0, 1))  # the middle of the face
    assert face.mean() > 0.1 and face[0] > face[1] > face[2]  # lit, warm skin
    assert head.name in bpy.data.objects
