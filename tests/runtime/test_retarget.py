"""core.retarget: bounded ARKit fits (checked against scipy's BVLS) and hm08 character maps."""

from __future__ import annotations

import numpy as np
import pytest

from core.runtime.retarget import (
    ArkitFitter,
    _primal_active_set,
    character_face,
    fit_arkit_weights,
    fit_similarity,
    hm08_vertex_indices,
    solve_box_qp,
)


def _smooth_weights(rng, frames: int, scale: float = 2.0) -> np.ndarray:
    """Speech-like ARKit curves: smooth in time, about half the units at 0, a few at 1."""
    kernel = np.exp(-(np.linspace(-3, 3, 31) ** 2))
    x = rng.normal(0, 1, (frames + 30, 52))
    x = np.stack([np.convolve(x[:, j], kernel / kernel.sum(), "valid") for j in range(52)], 1)
    return np.clip(x[:frames] * scale, 0, 1).astype(np.float32)


def test_exact_weights_are_recovered(template):
    rng = np.random.default_rng(1)
    truth = _smooth_weights(rng, 300)
    offsets = template.pose(truth) - template.vertices
    fit = fit_arkit_weights(offsets, template.arkit_deltas)
    assert fit.weights.shape == (300, 52) and fit.weights.dtype == np.float32
    assert np.abs(fit.weights - truth).max() < 1e-3
    assert fit.rms_residual < 1e-6


def test_the_fitter_of_a_clip_gives_the_same_weights(template):
    """ArkitFitter (the writers': Gram matrix once, no residual) == fit_arkit_weights."""
    rng = np.random.default_rng(3)
    offsets = template.pose(_smooth_weights(rng, 200, scale=3.0)) - template.vertices
    offsets += rng.normal(0, 5e-4, offsets.shape).astype(np.float32)
    fitter = ArkitFitter(template.arkit_deltas)
    for block in (offsets[:120], offsets[120:], offsets[7:8]):
        expected = fit_arkit_weights(block, template.arkit_deltas).weights
        assert fitter.weights(block).tobytes() == expected.tobytes()


def test_bounds_hold_and_match_scipy_bvls(template):
    lsq_linear = pytest.importorskip("scipy.optimize").lsq_linear
    rng = np.random.default_rng(2)
    truth = _smooth_weights(rng, 120, scale=3.0)
    noise = rng.normal(0, 5e-4, (120, template.n_vertices, 3)).astype(np.float32)
    offsets = template.pose(truth) - template.vertices + noise
    offsets[::7] *= 1.8  # push many units past 1: the upper bound must bite
    fit = fit_arkit_weights(offsets, template.arkit_deltas)
    assert fit.weights.min() >= 0.0 and fit.weights.max() <= 1.0
    assert (fit.weights == 1.0).any() and (fit.weights == 0.0).any()
    design = template.arkit_deltas.reshape(52, -1).T.astype(np.float64)
    for t in range(0, 120, 17):
        target = offsets[t].ravel().astype(np.float64)
        ref = lsq_linear(design, target, bounds=(0, 1), method="bvls").x
        cost = lambda w, y=target: float(np.sum((design @ w - y) ** 2))  # noqa: E731
        assert cost(fit.weights[t].astype(np.float64)) <= cost(ref) * (1 + 1e-5)
        assert np.abs(fit.weights[t] - ref).max() < 1e-3


def test_fallback_solver_agrees_with_the_active_set_iteration():
    """The per-frame solver that finishes non-settled frames gives the same optimum."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(40, 12))
    gram = a.T @ a + 0.01 * np.eye(12)
    rhs = rng.normal(size=(25, 12)) * 3
    batched, _ = solve_box_qp(gram, rhs, 0.0, 1.0)
    for b, w in zip(rhs, batched, strict=True):
        exact = _primal_active_set(gram, b, np.zeros(12), 0.0, 1.0)
        np.testing.assert_allclose(exact, w, atol=1e-8)
        grad = gram @ exact - b  # KKT: free -> 0, at 0 -> >= 0, at 1 -> <= 0
        free = (exact > 1e-9) & (exact < 1 - 1e-9)
        assert np.abs(grad[free]).max(initial=0) < 1e-8
        assert (grad[exact <= 1e-9] >= -1e-8).all() and (grad[exact >= 1 - 1e-9] <= 1e-8).all()


def test_hm08_indices_pick_the_face_from_a_body(template):
    assert np.array_equal(hm08_vertex_indices(template.n_vertices, template), np.arange(5084))
    full = int(template.source_index.max()) + 1
    assert np.array_equal(hm08_vertex_indices(19158, template), template.source_index)
    assert np.array_equal(hm08_vertex_indices(full, template), template.source_index)
    skin_only = hm08_vertex_indices(13380, template)  # helpers deleted: skin still maps
    skin = template.source_index < 13380
    assert np.array_equal(skin_only[skin], template.source_index[skin])
    assert (skin_only[~skin] == -1).all()
    assert hm08_vertex_indices(13379, template) is None
    assert hm08_vertex_indices(500, template) is None


def test_character_face_undoes_scale_rotation_and_translation(template):
    rng = np.random.default_rng(5)
    body = rng.normal(size=(19158, 3)).astype(np.float32)
    angle = 0.3
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    # a character whose face is the template, 1.1x larger, turned, and 1.6 m up
    body[template.source_index] = 1.1 * template.vertices @ rot.T + [0.2, 0.0, 1.6]
    face = character_face(body, template)
    sim = face.similarity
    assert np.array_equal(face.indices, template.source_index) and face.present.all()
    np.testing.assert_allclose(face.template_input, template.vertices, atol=1e-5)
    skin_only = character_face(body[:13380], template)  # the lacking helpers: template's own
    np.testing.assert_allclose(skin_only.template_input, template.vertices, atol=1e-5)
    offsets = np.zeros_like(template.vertices)
    offsets[:, 2] = 0.01  # 1 cm up in the template frame is 1.1 cm, turned, on the character
    np.testing.assert_allclose(sim.offsets_to_character(offsets), 1.1 * offsets @ rot.T, atol=1e-6)
    with pytest.raises(ValueError, match="hm08"):
        character_face(body[:900], template)


def test_similarity_of_identical_points_is_identity(template):
    sim = fit_similarity(template.vertices, template.vertices)
    assert sim.scale == pytest.approx(1.0)
    np.testing.assert_allclose(sim.rotation, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(sim.translation, 0, atol=1e-7)
