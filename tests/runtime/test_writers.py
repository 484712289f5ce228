"""core.writers: PC2 files, the compact shape-key basis, frame-rate resampling, the .npz
animation schema."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from core.runtime.framerate import resample_frames
from core.runtime.outputs import (
    Animation,
    compact_basis,
    load_animation,
    read_pc2,
    save_animation,
    write_pc2,
)
from core.runtime.outputs.pc2 import PC2_HEADER


def _clip(template, frames: int, units: int = 52, seed: int = 0) -> np.ndarray:
    """Offsets (T, V, 3) of smooth random ARKit curves on the first `units` face units."""
    rng = np.random.default_rng(seed)
    kernel = np.exp(-(np.linspace(-3, 3, 31) ** 2))
    x = rng.normal(0, 1, (frames + 30, units))
    x = np.stack([np.convolve(x[:, j], kernel / kernel.sum(), "valid") for j in range(units)], 1)
    w = np.clip(x[:frames] * 2, 0, 1).astype(np.float32)
    return (w @ template.arkit_deltas[:units].reshape(units, -1)).reshape(frames, -1, 3)


def _max_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(((a - b) ** 2).sum(-1)).max())


def test_pc2_round_trip_and_header(tmp_path, template):
    frames = template.vertices + _clip(template, 40)
    path = write_pc2(tmp_path / "x.pc2", frames, start_frame=12, sample_rate=1.0)
    raw = path.read_bytes()
    assert raw[:12] == b"POINTCACHE2\0"
    assert struct.unpack_from("<iiffi", raw, 12) == (1, template.n_vertices, 12.0, 1.0, 40)
    assert len(raw) == PC2_HEADER.size + 40 * template.n_vertices * 12
    back = read_pc2(path)
    assert back.start_frame == 12 and back.sample_rate == 1.0
    np.testing.assert_array_equal(back.frames, frames.astype(np.float32))
    assert not (tmp_path / "x.pc2.tmp").exists()


def test_pc2_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"\(T, V, 3\)"):
        write_pc2(tmp_path / "a.pc2", np.zeros((4, 5)))
    (tmp_path / "b.pc2").write_bytes(b"NOTACACHE" * 5)
    with pytest.raises(ValueError, match="not a PC2"):
        read_pc2(tmp_path / "b.pc2")
    write_pc2(tmp_path / "c.pc2", np.ones((3, 10, 3)))
    (tmp_path / "c.pc2").write_bytes((tmp_path / "c.pc2").read_bytes()[:-12])
    with pytest.raises(ValueError, match="truncated"):
        read_pc2(tmp_path / "c.pc2")


@pytest.mark.parametrize("units", [1, 10, 52])
def test_basis_uses_the_clip_rank_and_rebuilds_within_0_1_mm(template, units):
    offsets = _clip(template, 200, units=units, seed=units)
    basis = compact_basis(offsets)
    assert basis.within_tolerance and basis.max_error <= 1e-4
    assert len(basis.keys) <= units  # a rank-r clip needs at most r keys
    rebuilt = basis.reconstruct(template.vertices)
    assert _max_error(rebuilt, template.vertices + offsets) <= 1e-4
    assert basis.max_error == pytest.approx(
        _max_error(rebuilt - template.vertices, offsets), abs=1e-6
    )
    assert basis.keys.dtype == np.float32 and basis.values.shape == (200, len(basis.keys))


def test_basis_takes_the_fewest_keys(template):
    offsets = _clip(template, 150, units=52, seed=7)
    basis = compact_basis(offsets, tolerance=2e-3)  # a loose tolerance: far fewer keys
    assert basis.within_tolerance and len(basis.keys) < 52
    fewer = compact_basis(offsets, tolerance=2e-3, max_keys=len(basis.keys) - 1)
    assert not fewer.within_tolerance  # one key less would miss it
    assert fewer.max_error > 2e-3
    assert "ABOVE" in fewer.report() and "within" in basis.report()


def test_basis_reports_when_64_keys_are_not_enough(template):
    rng = np.random.default_rng(3)
    offsets = rng.normal(0, 1e-3, (100, template.n_vertices, 3)).astype(np.float32)  # full rank
    basis = compact_basis(offsets)
    assert len(basis.keys) == 64 and not basis.within_tolerance
    rebuilt = basis.reconstruct(np.zeros_like(template.vertices))
    assert basis.max_error == pytest.approx(_max_error(rebuilt, offsets), rel=1e-4)
    assert "64 shape keys" in basis.report()


def test_basis_of_a_still_or_short_clip(template):
    still = compact_basis(np.zeros((10, template.n_vertices, 3), np.float32))
    assert len(still.keys) == 0 and still.values.shape == (10, 0) and still.within_tolerance
    short = _clip(template, 5)
    basis = compact_basis(short)
    assert len(basis.keys) <= 5 and basis.within_tolerance


def test_basis_of_a_minute_is_within_tolerance(template):
    """(Its speed is measured by benchmarks/bench_writers.py, not here.)"""
    basis = compact_basis(_clip(template, 1800))
    assert basis.within_tolerance


def test_resample_frames_keeps_duration_and_values():
    t = np.arange(30, dtype=np.float32)
    frames = np.stack([t, 2 * t], axis=1)[:, None, :]  # (30, 1, 2): linear in time
    out = resample_frames(frames, 30, 60)
    assert out.shape == (60, 1, 2)
    np.testing.assert_allclose(out[:59, 0, 0], np.arange(59) / 2, atol=1e-5)
    assert out[-1, 0, 0] == 29  # held at the end, never extrapolated
    assert resample_frames(frames, 30, 24).shape[0] == 24
    assert resample_frames(frames, 30, 25).shape[0] == 25
    np.testing.assert_array_equal(resample_frames(frames, 30, 30), frames)
    assert resample_frames(frames, 30, 30000 / 1001).shape[0] == 30
    with pytest.raises(ValueError):
        resample_frames(frames, 0, 30)


def test_animation_npz_round_trip(tmp_path, template):
    vertices = template.vertices + _clip(template, 12)
    weights = np.random.default_rng(0).random((12, 52)).astype(np.float32)
    anim = Animation(vertices, 30.0, template.source_index, template.arkit_names, weights)
    save_animation(tmp_path / "a.npz", anim)
    with np.load(tmp_path / "a.npz") as data:
        assert data["vertices"].dtype == np.float32 and data["vertices"].shape == (12, 5084, 3)
        assert data["source_index"].dtype == np.int32
        assert data["arkit_weights"].dtype == np.float32
        assert data["arkit_names"].shape == (52,)
    back = load_animation(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.vertices, anim.vertices)
    assert back.fps == 30.0 and back.arkit_names == template.arkit_names
    np.testing.assert_array_equal(back.arkit_weights, weights)
    assert (tmp_path / "a.npz").read_bytes() == save_animation(
        tmp_path / "b.npz", anim
    ).read_bytes()  # byte-reproducible
    with pytest.raises(ValueError, match="arkit_weights"):
        Animation(vertices, 30.0, template.source_index, template.arkit_names, weights[:3])
    np.savez(tmp_path / "other.npz", vertices=vertices)
    with pytest.raises(ValueError, match="missing fps"):
        load_animation(tmp_path / "other.npz")


def test_pc2_writer_streams_blocks(tmp_path, template):
    from core.runtime.outputs import PC2Writer

    frames = template.vertices + _clip(template, 30)
    with PC2Writer(tmp_path / "s.pc2", template.n_vertices, 30, start_frame=5) as pc2:
        for s in range(0, 30, 7):
            pc2.write(frames[s : s + 7])
    assert (tmp_path / "s.pc2").read_bytes() == write_pc2(
        tmp_path / "w.pc2", frames, 5
    ).read_bytes()
    with (
        pytest.raises(ValueError, match="wrote 7 of 30"),
        PC2Writer(tmp_path / "x.pc2", 5084, 30) as pc2,
    ):
        pc2.write(frames[:7])
    assert not (tmp_path / "x.pc2").exists() and not (tmp_path / "x.pc2.tmp").exists()
