"""The template head as a real Blender mesh (PyPI bpy, background mode): its face units,
applied as shape keys and evaluated through the depsgraph, do what their names say."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from core.runtime.metrics import eyelid_gap, lip_gap  # noqa: E402
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


def _evaluated(obj, **values: float) -> np.ndarray:
    for key in obj.data.shape_keys.key_blocks[1:]:
        key.value = values.get(key.name, 0.0)
    obj.data.update()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    mesh = obj.evaluated_get(depsgraph).data
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def test_head_mesh_matches_the_template(head, template):
    assert bpy.app.background
    assert len(head.data.vertices) == template.n_vertices
    assert len(head.data.polygons) == len(template.faces)
    assert head.data.uv_layers.active is not None
    assert [m.name for m in head.data.materials] == [
        f"MeshTalk_{p}" for p in template.material_names
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
    assert not members["eyelid_upper_left"] & members["eyelid_lower_left"]
    assert not members["eyelid_upper_left"] & members["eyelid_upper_right"]
    assert members["lips"] <= members["mouth"]
