"""MakeHuman identities: the macro model, distinct and plausible faces, deformation transfer of
the ARKit units, and speech motion that stays physically right on every face."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.data.articulation import (
    LABIODENTAL_PHONES,
    articulate,
    phone_frames,
)
from core.data.identities import (
    MACRO_FIELDS,
    MAX_REGIONAL_MM,
    age_value,
    default_model,
    identity_unit_deltas,
    identity_vertices,
    macro_coeffs,
    sample_identities,
    sample_identity,
    target_names,
    transfer_deltas,
)
from core.data.mouth import calibrate, mouth_geometry
from core.data.phones import BILABIALS, Phone
from core.data.upper_face import blink_closure_weight
from core.runtime import metrics


@pytest.fixture(scope="module")
def faces():
    return sample_identities(120, seed=2024)


def test_neutral_identity_is_the_template(template):
    zero = np.zeros(len(target_names()), np.float32)
    np.testing.assert_array_equal(identity_vertices(zero), template.vertices)
    np.testing.assert_allclose(identity_unit_deltas(zero), template.arkit_deltas, atol=1e-7)


def test_transfer_follows_a_rotated_scaled_face(template):
    """For target = s R base + t, every local map is s R: the deltas must become s R d."""
    angle = np.deg2rad(20.0)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                    [0, 0, 1]])  # fmt: skip
    scale = 1.15
    target = scale * template.vertices @ rot.T + np.array([0.01, -0.02, 0.03])
    units = np.stack([template.unit(k) for k in ("jawOpen", "eyeBlinkLeft", "mouthPucker")])
    moved = transfer_deltas(template.vertices, target, units, template.faces)
    expected = scale * units @ rot.T
    assert np.abs(moved - expected).max() < 1e-5


def test_macro_model_is_makehuman_membership():
    """The universal targets' weights are a partition of unity over gender x age x muscle x
    weight, race targets over race x gender x age (with every target name present)."""
    genders, ages = ("female", "male"), ("baby", "child", "young", "old")
    muscles = ("minmuscle", "averagemuscle", "maxmuscle")
    weights = ("minweight", "averageweight", "maxweight")
    names = [
        f"macrodetails/universal-{g}-{a}-{m}-{w}"
        for g, a, m, w in itertools.product(genders, ages, muscles, weights)
    ] + [
        f"macrodetails/{r}-{g}-{a}"
        for r, g, a in itertools.product(("african", "asian", "caucasian"), genders, ages)
    ]
    rng = np.random.default_rng(0)
    for _ in range(50):
        gender, age, muscle, weight = rng.uniform(0, 1, 4)
        races = rng.dirichlet((1, 1, 1))
        c = macro_coeffs(names, gender, age, muscle, weight, *races)
        assert (c >= 0).all()
        assert np.isclose(c[:72].sum(), 1.0) and np.isclose(c[72:].sum(), 1.0)
    male_old = macro_coeffs(names, 1.0, 1.0, 0.5, 0.5, 0.0, 0.0, 1.0)
    assert male_old[names.index("macrodetails/universal-male-old-averagemuscle-averageweight")] == 1
    assert male_old[names.index("macrodetails/caucasian-male-old")] == 1
    assert age_value(25) == 0.5 and age_value(90) == 1.0 and age_value(11) == 0.1875


def test_sliders_are_makehuman_pairs():
    mods = default_model().modifiers
    assert len({m.name for m in mods}) == len(mods)  # every slider once
    names = target_names()
    by_name = {m.name: m for m in mods}
    trans = by_name["nose/nose-trans-down|up"]
    assert (names[trans.negative], names[trans.positive]) == ("nose/nose-trans-down",
                                                              "nose/nose-trans-up")  # fmt: skip
    assert by_name["ears/l-ear-lobe-decr|incr"].mirror == "ears/r-ear-lobe-decr|incr"
    assert by_name["head/head-oval"].negative is None  # one-sided shape
    assert not any(m.name.startswith(("head/head-trans", "neck/neck-trans")) for m in mods)


def test_identities_are_seeded(faces):
    again = sample_identity(faces[3].seed)
    np.testing.assert_array_equal(again.coeffs, faces[3].coeffs)
    assert again.macro == faces[3].macro
    assert faces[3].coeffs.dtype == np.float32 and faces[3].coeffs.shape == (len(target_names()),)


def test_identities_are_distinct(faces, template):
    verts = np.stack([identity_vertices(f.coeffs) for f in faces]) - template.vertices
    flat = verts.reshape(len(faces), -1).astype(np.float64)
    sq = (flat**2).sum(1)
    d2 = sq[:, None] + sq[None] - 2 * flat @ flat.T
    rms = np.sqrt(np.clip(d2, 0, None) / template.n_vertices)
    pairs = np.triu_indices(len(faces), 1)
    assert rms[pairs].min() > 0.0008  # even the two closest faces differ over the whole head
    assert np.median(rms[pairs]) > 0.005  # typical pairs by > 5 mm RMS
    # ... and every pair somewhere by several millimetres (a nose, a chin, a brow).
    largest = min(
        np.linalg.norm(verts[a + 1 :] - verts[a], axis=2).max(axis=1).min()
        for a in range(len(faces) - 1)
    )
    assert largest > 0.003
    assert len({f.seed for f in faces}) == len(faces)
    # Men and women, young and old, all three ancestries are present.
    macro = np.array([f.macro for f in faces])
    g, a = MACRO_FIELDS.index("gender"), MACRO_FIELDS.index("age")
    assert (macro[:, g] < 0.3).sum() > 30 and (macro[:, g] > 0.7).sum() > 30
    assert macro[:, a].min() < age_value(25) and macro[:, a].max() > age_value(65)
    races = macro[:, [MACRO_FIELDS.index(r) for r in ("african", "asian", "caucasian")]]
    assert (races.argmax(axis=1)[:, None] == np.arange(3)).sum(axis=0).min() > 20


def test_identities_are_plausible(faces, template):
    model = default_model()
    face = np.unique(np.concatenate([template.region(r) for r in ("mouth", "upper_face")]))
    for f in faces[:40]:
        v = identity_vertices(f.coeffs)
        d = np.linalg.norm(v - template.vertices, axis=1)
        assert d.max() < 0.06  # the head changes by centimetres, not decimetres
        assert np.sqrt((d[face] ** 2).mean()) < 0.015
        macro_only = model.vertices(macro_coeffs(model.names, *f.macro))
        assert model.plausible(v, macro_only)  # no folded faces, no torn edges
        regional = np.linalg.norm(v - macro_only, axis=1).max()
        assert regional <= MAX_REGIONAL_MM * 1e-3 + 1e-6
        age = f.macro[MACRO_FIELDS.index("age")]
        assert age_value(18) - 1e-9 <= age <= age_value(75) + 1e-9  # adults only


def test_motion_depends_on_the_face(faces, template):
    jaw = template.arkit_names.index("jawOpen")
    ratios = []
    for f in faces[:6]:
        units = identity_unit_deltas(f.coeffs)
        assert units.shape == template.arkit_deltas.shape and units.dtype == np.float32
        diff = np.abs(units - template.arkit_deltas).max()
        assert diff > 5e-4  # the units really are the face's own
        size = (
            np.linalg.norm(units[jaw], axis=1).sum()
            / np.linalg.norm(template.arkit_deltas[jaw], axis=1).sum()
        )
        ratios.append(size)
    assert min(ratios) > 0.7 and max(ratios) < 1.4  # scaled, not exploded
    assert np.ptp(ratios) > 0.02  # and different per face


def test_speech_stays_physical_on_identities(faces, template):
    """With the face's own calibration the lips seal on P/B/M, the lower lip meets the teeth on
    F/V and blinks close the eyes, on faces other than the template."""
    spec = "sil:0.3 B:0.07 AA:0.15 M:0.07 F:0.09 IY:0.12 V:0.07 UW:0.15 P:0.08 AE:0.2 sil:0.3"
    phones, t = [], 0.0
    for tok in spec.split():
        s, dur = tok.split(":")
        phones.append(Phone(s, t, t + float(dur)))
        t += float(dur)
    geo = mouth_geometry()
    for f in faces[:3]:
        verts, units = identity_vertices(f.coeffs), identity_unit_deltas(f.coeffs)
        w = articulate(phones, 30.0, calibration=calibrate(verts, units))
        posed = verts + np.tensordot(w, units, 1)
        n = len(w)
        sealed = phone_frames(phones, n, 30.0, BILABIALS)
        assert (metrics.lip_gap(posed[sealed], template) <= 0).all()
        assert (geo.apertures(posed[sealed]) <= 0).all()
        tucked = np.flatnonzero(phone_frames(phones, n, 30.0, LABIODENTAL_PHONES))
        assert max(geo.teeth_distance(posed[i]) for i in tucked) < 0.002
        assert abs(blink_closure_weight(verts, units) - blink_closure_weight()) < 0.01


def test_unit_transfer_is_cached():
    """(Its speed is the corpus build's and the loader's business: see their benchmarks.)"""
    coeffs = sample_identity(99).coeffs
    first = identity_unit_deltas(coeffs)
    assert identity_unit_deltas(coeffs.copy()) is first
    with pytest.raises(ValueError):
        first[0, 0, 0] = 1.0  # the cached units are read-only
