"""The template assets: reproducible from the wheel, right shapes, units and orientation."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from core.__main__ import main as core_main
from core.assets_build.build import build
from core.data.identities import IDENTITIES_PATH, load_identity_targets
from core.runtime.template import TEMPLATE_PATH, Template


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> list[Path]:
    """Rebuild from the wheel (cached where MESHTALK_WHEEL_CACHE points, else downloaded)."""
    cache = Path(os.environ.get("MESHTALK_WHEEL_CACHE") or tmp_path_factory.mktemp("wheel"))
    return build(tmp_path_factory.mktemp("assets"), cache)


def test_build_reproduces_committed_assets_byte_for_byte(rebuilt):
    assert [_sha(p) for p in rebuilt] == [_sha(TEMPLATE_PATH), _sha(IDENTITIES_PATH)]


def test_assets_are_compact():
    assert TEMPLATE_PATH.stat().st_size + IDENTITIES_PATH.stat().st_size < 15e6


def test_shapes_and_types(template: Template):
    v = template.n_vertices
    assert 4000 < v < 7000
    assert template.vertices.shape == (v, 3) and template.vertices.dtype == np.float32
    assert template.faces.shape[1] == 4 and template.faces.max() == v - 1
    assert template.uv.shape == (len(template.faces), 4, 2)
    assert (template.uv >= 0).all() and (template.uv <= 1).all()
    assert template.arkit_deltas.shape == (52, v, 3)
    assert len(set(template.arkit_names)) == 52
    assert template.source_index.shape == (v,)
    assert np.all(np.diff(template.source_index) > 0)  # unique hm08 indices
    assert set(np.unique(template.faces)) == set(range(v))  # no loose vertices


def test_units_and_orientation(template: Template):
    lo, hi = template.vertices.min(0), template.vertices.max(0)
    height = hi[2] - lo[2]
    assert 0.24 < height < 0.32, "head and neck in metres"
    assert lo[2] == 0.0 and abs(lo[0] + hi[0]) < 1e-6 and abs(lo[1] + hi[1]) < 1e-6
    verts = template.vertices
    nose_tip = verts[np.argmin(verts[:, 1])]
    assert nose_tip[2] > verts[template.region("lips"), 2].mean(), "faces -Y, nose above lips"
    assert verts[template.region("eye_left"), 0].mean() > 0, "character's left is +X"
    assert verts[template.region("brows"), 2].mean() > verts[template.region("eye_left"), 2].max()


def test_geometry_is_clean(template: Template):
    faces = template.faces
    assert all(len(set(f)) == 4 for f in faces.tolist()), "no degenerate quads"
    edges = np.sort(np.stack([faces, np.roll(faces, -1, axis=1)], -1).reshape(-1, 2), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert counts.max() <= 2, "manifold"
    for part in ("eyes", "tongue"):  # closed in the source, closed here
        pf = faces[template.face_part == template.part_names.index(part)]
        pe = np.sort(np.stack([pf, np.roll(pf, -1, axis=1)], -1).reshape(-1, 2), axis=1)
        _, c = np.unique(pe, axis=0, return_counts=True)
        assert (c == 2).all(), f"{part} watertight"


def test_regions_nonempty_and_disjoint(template: Template):
    r = {k: set(v.tolist()) for k, v in template.regions.items()}
    assert all(r.values())
    assert r["lips"] == r["lip_upper"] | r["lip_lower"] and not r["lip_upper"] & r["lip_lower"]
    assert r["lips"] <= r["mouth"]
    assert not r["mouth"] & r["upper_face"]
    for side in ("left", "right"):
        assert not r[f"eyelid_upper_{side}"] & r[f"eyelid_lower_{side}"]
        assert r[f"eyelid_upper_{side}"] <= r["upper_face"]
    assert not (r["eyelid_upper_left"] | r["eyelid_lower_left"]) & (
        r["eyelid_upper_right"] | r["eyelid_lower_right"]
    )
    assert r["brows"] <= r["upper_face"] and r["forehead"] <= r["upper_face"]
    assert not r["brows"] & r["forehead"]


def test_units_move_their_regions(template: Template):
    """Each unit's largest motion lies in the region it is named for (Blender tests check
    the geometry: lips open and close, lids close)."""
    for unit, inside, outside in (
        ("browInnerUp", "brows", "mouth"),
        ("eyeBlinkLeft", "eyelid_upper_left", "eyelid_upper_right"),
        ("mouthRollLower", "lip_lower", "upper_face"),
        ("jawOpen", "lip_lower", "upper_face"),
    ):
        motion = np.linalg.norm(template.unit(unit), axis=1)
        assert motion[template.region(inside)].max() == motion.max(), unit
        # Mean, not max: MakeHuman's eyeBlinkLeft also nudges the right lid's inner corner.
        assert (
            motion[template.region(outside)].mean() < 0.1 * motion[template.region(inside)].mean()
        )


def test_identity_targets_cover_the_face_groups(template: Template):
    names, deltas = load_identity_targets()
    groups = {n.split("/")[0] for n in names}
    assert groups == {"head", "mouth", "nose", "eyes", "ears", "chin", "cheek", "forehead",
                      "eyebrows", "neck", "macrodetails"}  # fmt: skip
    assert deltas.shape == (len(names), template.n_vertices, 3) and len(names) > 300
    assert any("universal-female-old" in n for n in names) and any("african" in n for n in names)


def test_cli_writes_the_template(tmp_path, template: Template):
    out = tmp_path / "t.npz"
    assert core_main(["template", "--out", str(out)]) == 0
    with np.load(out) as data:
        assert data["vertices"].shape == (template.n_vertices, 3)
        assert data["source_index"].dtype == np.int32
        assert data["arkit_deltas"].dtype == np.float32 and len(data["arkit_names"]) == 52
        assert set(data["region_names"]) == set(template.regions)
