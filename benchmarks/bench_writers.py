"""How long the add-on takes to *write* a minute of animation, per output mode (no inference).

    .venv/bin/python benchmarks/bench_writers.py [--seconds 60] [--fps 30]

A 60 s clip at 30 fps (1800 frames of the 5084-vertex head, smooth ARKit-driven motion) is
saved as a MeshTalk .npz animation and applied through the add-on's pipeline in Blender (PyPI
bpy, background, throwaway user folder), timing each step the operator takes after inference:
shape keys (PCA basis + bulk keyframes), mesh cache (PC2 file + modifier) and ARKit (bounded
least squares + 52 curves). Also times the core pieces alone. Budget: under 3 s per mode;
prints time and time/budget.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="meshtalk-bench-home-"))
os.environ.update(HOME=str(_HOME), BLENDER_USER_RESOURCES=str(_HOME / "blender"))
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

import meshtalk_blender  # noqa: E402
from core.runtime.outputs import Animation, compact_basis, save_animation, write_pc2  # noqa: E402
from core.runtime.retarget import fit_arkit_weights  # noqa: E402
from core.runtime.template import load_template  # noqa: E402

BUDGET = 3.0


def clip(template, frames: int, seed: int = 0) -> np.ndarray:
    """Speech-like motion: smooth random ARKit curves on the template, plus sensor-like noise."""
    rng = np.random.default_rng(seed)
    kernel = np.exp(-(np.linspace(-3, 3, 31) ** 2))
    x = rng.normal(0, 1, (frames + 30, 52))
    x = np.stack([np.convolve(x[:, j], kernel / kernel.sum(), "valid") for j in range(52)], 1)
    w = np.clip(x[:frames] * 2, 0, 1).astype(np.float32)
    return template.pose(w).astype(np.float32), w


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args()
    template = load_template()
    frames = int(args.seconds * args.fps)
    verts, weights = clip(template, frames)
    work = Path(tempfile.mkdtemp(prefix="meshtalk-bench-"))
    anim_path = work / "clip.npz"
    save_animation(
        anim_path,
        Animation(verts, float(args.fps), template.source_index, template.arkit_names, weights),
    )
    rows: list[tuple[str, float]] = []
    t, basis = timed(compact_basis, verts - template.vertices)
    rows.append(
        (f"core: compact_basis -> {len(basis.keys)} keys, {basis.max_error * 1e3:.3f} mm", t)
    )
    t, _ = timed(fit_arkit_weights, verts - template.vertices, template.arkit_deltas)
    rows.append(("core: fit_arkit_weights (bounded LSQ)", t))
    t, _ = timed(write_pc2, work / "x.pc2", verts)
    rows.append(("core: write_pc2", t))

    meshtalk_blender.register()
    from meshtalk_blender import pipeline

    for mode, arkit in (("SHAPE_KEYS", False), ("MESH_CACHE", False), ("ARKIT", True)):
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.context.scene.render.fps = args.fps
        bpy.ops.meshtalk.add_head(arkit_keys=arkit)
        head = bpy.context.active_object
        request = pipeline.Request(
            head.name, mode, animation_path=str(anim_path), cache_dir=str(work)
        )
        # what the operator does, step by step; the clip stands in for the network's output
        t_plan, plan = timed(pipeline.plan, bpy.context, request)
        t_load, (vertices, fps) = timed(pipeline.infer, plan)
        t_derive, result = timed(pipeline.derive, plan, vertices, fps)
        t_apply, message = timed(pipeline.apply, bpy.context, plan, result)
        print(message)
        rows.append(
            (
                f"add-on: {mode} writing (numpy {t_derive:.2f} + Blender {t_apply:.2f})",
                t_plan + t_derive + t_apply,
            )
        )
        rows.append((f"    (reading the .npz clip: {t_load:.2f} s, not counted)", t_load))
    meshtalk_blender.unregister()

    print(
        f"\nwriting a {args.seconds:g} s clip at {args.fps} fps ({frames} frames, "
        f"{template.n_vertices} vertices), Blender {bpy.app.version_string}"
    )
    print(f"{'step':58s} {'seconds':>8s} {'/budget':>8s} {'x realtime':>11s}")
    failed = False
    for name, t in rows:
        over = name.startswith("add-on") and t > BUDGET
        failed |= over
        print(
            f"{name:58s} {t:8.2f} {t / BUDGET:8.2f} {args.seconds / t:10.0f}x"
            + ("  OVER BUDGET" if over else "")
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
