"""The eyeBlink units close cleanly, on the template and on random identities.

At weight 1 each upper lid meets its lower lid (the mid gap at most 15 % of the neutral one,
the margins crossing by at most 0.5 mm); at no weight in [0, 1] does a lid vertex that is
outside the eyeball at rest go more than 0.3 mm inside it; and seen from the front the closed
lid hides the eyeball completely (no iris or pupil through it).
"""

from __future__ import annotations

import numpy as np
import pytest

from core.assets_build import eyelids
from core.data.identities import identity_unit_deltas, identity_vertices, sample_identities
from core.data.upper_face import blink_closure_weight
from core.runtime import metrics
from core.runtime.template import Template

SIDES = ("left", "right")
WEIGHTS = np.linspace(0.0, 1.0, 41)
MAX_MID_GAP = 0.15  # of the neutral gap, at weight 1
MAX_CROSSING_M = 5e-4  # the upper lid's margin below the lower one's, anywhere, at weight 1
MAX_DEPTH_M = 3e-4  # how far a lid vertex outside the eyeball at rest may go inside it
N_IDENTITIES = 6


@pytest.fixture(scope="module")
def lids(template: Template) -> dict[str, eyelids.EyeLids]:
    return eyelids.template_lids(template)


def test_closed_lids_meet_all_along_the_margin(template, faces, lids):
    """At the corpus's closure weight both eyes' margins meet everywhere across the eye (the
    widest gap under 0.3 mm), on the template and on identities: a gap at the pupil alone
    could hide a slit beside it. At rest the widest gap is the eye's opening."""
    assert eyelids.widest_margin_gap(template.vertices, lids.values()) > 0.006
    for name, rest, deltas in faces:
        cap = blink_closure_weight(rest, deltas)
        shut = rest + cap * (_blink(template, deltas, "left") + _blink(template, deltas, "right"))
        assert eyelids.widest_margin_gap(shut, lids.values()) < 3e-4, name


@pytest.fixture(scope="module")
def faces(template: Template) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, neutral vertices, (52, V, 3) unit deltas): the template and random identities."""
    out = [("template", template.vertices, template.arkit_deltas)]
    for face in sample_identities(N_IDENTITIES, seed=7):
        out.append(
            (
                f"identity {face.seed}",
                identity_vertices(face.coeffs),
                identity_unit_deltas(face.coeffs),
            )
        )
    return out


def _blink(template: Template, deltas: np.ndarray, side: str) -> np.ndarray:
    return np.asarray(deltas[template.arkit_names.index("eyeBlink" + side.title())], np.float64)


def test_lids_are_found_where_the_metrics_look(template: Template, lids):
    """The hidden ring's middle pair is eyelid_gap's landmark pair; margins run corner to
    corner, the upper above the lower; the socket lining is a closed pocket."""
    for side, lid in lids.items():
        pair = tuple(int(template.source_index[i]) for i in lid.back_middle)
        assert pair == metrics.EYELID_CENTRE[side]
        assert lid.upper[0] == lid.lower[0] and lid.upper[-1] == lid.lower[-1]
        v = template.vertices
        assert v[lid.upper[1:-1], 2].mean() > v[lid.lower[1:-1], 2].mean() + 0.004
        assert abs(v[lid.upper[0], 0]) < abs(v[lid.upper[-1], 0])  # inner corner first
        assert 100 < len(lid.socket) < eyelids.MAX_SOCKET
        assert not set(lid.socket) & (set(lid.upper) | set(lid.lower))


def test_eyeball_fit_recovers_spheres_and_ellipsoids():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(72, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    axes = np.array([[0.016, 0.001, 0.0], [0.001, 0.015, 0.0005], [0.0, 0.0005, 0.0145]])
    centre = np.array([0.03, -0.06, 0.15])
    ball = eyelids.eyeball(centre + points @ axes.T, np.arange(72))
    np.testing.assert_allclose(ball.centre, centre, atol=1e-9)
    np.testing.assert_allclose(ball.axes, axes, atol=1e-9)
    sphere = eyelids.eyeball(centre + 0.015 * points, np.arange(72))
    assert sphere.radius == pytest.approx(0.015)
    assert sphere.depth(centre[None] + [[0.0, 0.0, 0.0149]])[0] == pytest.approx(1e-4)


def test_template_eyeball_is_a_sphere(template: Template, lids):
    """So on the template the checks below are plain distances from the eye's centre."""
    for lid in lids.values():
        points = template.vertices[lid.eye].astype(np.float64)
        distance = np.linalg.norm(points - points.mean(axis=0), axis=1)
        assert np.ptp(distance) < 2e-5
        assert eyelids.eyeball(points, np.arange(len(points))).radius == pytest.approx(
            distance.max(), abs=2e-5
        )


@pytest.mark.parametrize("side", SIDES)
def test_lids_meet_at_weight_one(template: Template, lids, faces, side):
    for name, rest, deltas in faces:
        rest = np.asarray(rest, np.float64)
        blink = _blink(template, deltas, side)
        neutral = float(metrics.eyelid_gap(rest, template, side))
        closed = float(metrics.eyelid_gap(rest + blink, template, side))
        assert abs(closed) <= MAX_MID_GAP * neutral, (name, closed / neutral)
        margin = eyelids.margin_gaps(rest + blink, lids[side])
        assert -np.nanmin(margin) <= MAX_CROSSING_M, (name, np.nanmin(margin))
        assert np.nanmax(margin) <= MAX_MID_GAP * neutral, (name, np.nanmax(margin))  # no slit
        # Before 1 the lids are still apart in the middle: weight 1 is "just closed".
        assert float(metrics.eyelid_gap(rest + 0.9 * blink, template, side)) > 0, name


@pytest.mark.parametrize("side", SIDES)
def test_no_lid_enters_an_eyeball(template: Template, lids, faces, side):
    """Neither eye: MakeHuman's eyeBlinkLeft also moves the right eye's inner corner."""
    for name, rest, deltas in faces:
        rest = np.asarray(rest, np.float64)
        blink = _blink(template, deltas, side)
        for eye in SIDES:
            depth = eyelids.penetration(rest, blink, lids[eye], WEIGHTS)
            assert depth <= MAX_DEPTH_M, (name, side, eye, depth)


@pytest.mark.parametrize("side", SIDES)
def test_template_lids_stay_off_the_eyeball_sphere(template: Template, lids, side):
    """The same on the template with nothing but its eyeball's sphere (centre and radius of
    its vertices), independent of the module's ellipsoid."""
    rest = template.vertices.astype(np.float64)
    blink = _blink(template, template.arkit_deltas, side)
    moving = np.abs(blink).max(axis=1) > 0
    points = rest[lids[side].eye]
    centre = points.mean(axis=0)
    radius = np.linalg.norm(points - centre, axis=1).max()
    outside = moving & (np.linalg.norm(rest - centre, axis=1) > radius)
    assert outside.sum() > 500  # the lids, their lashes and the skin around
    posed = rest[outside] + WEIGHTS[:, None, None] * blink[outside]
    deepest = radius - np.linalg.norm(posed - centre, axis=-1).min()
    assert deepest <= MAX_DEPTH_M


def _front_hits(vertices: np.ndarray, faces: np.ndarray, eye: np.ndarray, n: int) -> np.ndarray:
    """Orthographic rays along +Y (the face looks toward -Y) on an n x n grid 28 mm wide around
    the eye: per ray, whether the first surface it meets is the eyeball."""
    centre = vertices[eye].mean(axis=0)
    half = 0.014
    tris = np.concatenate([faces[:, [0, 1, 2]], faces[:, [0, 2, 3]]])
    on_eye = np.isin(tris, eye).all(axis=1)
    p = vertices[tris] - centre
    near = (np.abs(p[..., 0]).min(axis=1) < 1.5 * half) & (
        np.abs(p[..., 2]).min(axis=1) < 1.5 * half
    )
    grid = np.linspace(-half, half, n)
    gx, gz = (g.ravel() for g in np.meshgrid(grid, grid))
    first = np.full(len(gx), np.inf)
    hit_eye = np.zeros(len(gx), bool)
    for tri, eye_tri in zip(p[near], on_eye[near], strict=True):
        e1, e2 = tri[1] - tri[0], tri[2] - tri[0]
        det = e1[0] * e2[2] - e2[0] * e1[2]
        if abs(det) < 1e-14:
            continue
        dx, dz = gx - tri[0, 0], gz - tri[0, 2]
        u = (dx * e2[2] - e2[0] * dz) / det
        v = (e1[0] * dz - dx * e1[2]) / det
        y = tri[0, 1] + u * e1[1] + v * e2[1]
        closer = (u >= 0) & (v >= 0) & (u + v <= 1) & (y < first)
        first[closer] = y[closer]
        hit_eye[closer] = eye_tri
    return hit_eye


@pytest.mark.parametrize("side", SIDES)
def test_closed_lid_hides_the_eyeball(template: Template, lids, faces, side):
    """Seen from the front (lashes left out, they would hide defects), rays reach the eyeball
    at rest and none does at weight 1: no iris or pupil through the closed lid."""
    keep = template.face_part != template.part_names.index("eyelashes")
    eye = lids[side].eye
    for name, rest, deltas in faces:
        rest = np.asarray(rest, np.float64)
        blink = _blink(template, deltas, side)
        assert _front_hits(rest, template.faces[keep], eye, 40).mean() > 0.1, name
        assert not _front_hits(rest + blink, template.faces[keep], eye, 80).any(), name


def test_blink_closure_weight_is_just_under_one(faces):
    """The corpus caps its blinks there (core.data.upper_face): the same on every face."""
    weight = blink_closure_weight()
    assert abs(weight - eyelids.CLOSED_AT) < 0.01
    for name, rest, deltas in faces[1:]:
        assert abs(blink_closure_weight(rest, deltas) - weight) < 0.01, name
