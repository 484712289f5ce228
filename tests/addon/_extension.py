"""The extension as users get it: the zip build.py makes, installed into this test session's
(temporary) Blender user folder with Blender's own installer. Shared by tests/test_addon_*.py."""

from __future__ import annotations

import functools
import importlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import build  # noqa: E402

MODULE = "bl_ext.user_default.meshtalk_blender"
SPEECH = ROOT / "demo" / "speech.wav"


@functools.cache
def weights() -> Path:
    """The trained weights if the repository has them, else untrained ones from core.export
    (cached under build/; rebuilt when the runtime no longer reads them)."""
    real = build.WEIGHTS_PATH
    if real.is_file():
        return real
    path = ROOT / "build" / "meshtalk_random.npz"
    if path.is_file():
        from core.runtime.network import WeightsError, load_weights

        try:
            load_weights(path)
        except WeightsError:
            path.unlink()
    return build.random_weights(path)


@functools.cache
def built_zip() -> Path:
    out = Path(tempfile.mkdtemp(prefix="meshtalk-dist-"))
    return build.build(weights(), dist=out, staging=out / "staging")


def install():
    """Install the zip (once per process) and make sure the extension is enabled; returns
    the extension's package module."""
    import addon_utils
    import bpy

    if MODULE not in sys.modules or not _installed():
        result = bpy.ops.extensions.package_install_files(
            filepath=str(built_zip()), repo="user_default", enable_on_install=True
        )
        assert result == {"FINISHED"}, result
    if not hasattr(bpy.types.Scene, "meshtalk"):
        addon_utils.enable(MODULE, default_set=True)
    return importlib.import_module(MODULE)


def _installed() -> bool:
    import bpy

    return (
        bpy.utils.user_resource("EXTENSIONS", path="user_default/meshtalk_blender")
        and Path(
            bpy.utils.user_resource("EXTENSIONS", path="user_default/meshtalk_blender")
        ).is_dir()
    )


def run_blender(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`blender -b --python-expr CODE`, with PyPI bpy: a fresh Python that imports bpy, sees
    the same (temporary) user folder, and has the installed extension to enable."""
    prelude = (
        "import sys, bpy, addon_utils\n"
        f"addon_utils.enable({MODULE!r}, default_set=True)\n"
        "assert hasattr(bpy.types.Scene, 'meshtalk'), 'extension not enabled'\n"
    )
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tempfile.gettempdir(),  # not the repo: the source tree's packages must not leak in
        env=env,
    )


def has_sound_strips() -> bool:
    """PyPI's bpy 4.2 is built without Audaspace, so it cannot make sound strips (Blender
    4.2 itself can); there the tests pass the audio file to the operator instead."""
    import bpy

    return bool(bpy.app.build_options.audaspace)


def speech_at(frame: int) -> dict:
    """Put the demo speech at `frame`: a sound strip where Blender can, else the operator's
    audio_path (which starts at the current frame). Returns the generate() arguments."""
    import bpy

    bpy.context.scene.frame_current = frame
    if has_sound_strips():
        assert bpy.ops.meshtalk.load_audio(filepath=str(SPEECH)) == {"FINISHED"}
        return {}
    return {"audio_path": str(SPEECH)}


needs_strips = None  # set below (pytest imported lazily so build.py users need no pytest)
try:
    import pytest

    needs_strips = pytest.mark.skipif(
        "not __import__('bpy').app.build_options.audaspace",
        reason="this bpy build has no Audaspace: no sound strips",
    )
except ImportError:  # pragma: no cover
    pass


# ------------------------------------------------------------------ shared by the mode tests


def new_scene(fps: int = 30, strip_frame: int = 1) -> dict:
    """An empty file with the demo speech starting at `strip_frame` (a sound strip where this
    Blender can make one); returns the extra generate() arguments."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    return speech_at(strip_frame)


def evaluated(obj, frame: int):
    """The object's vertices as they play at `frame` (through the depsgraph)."""
    import bpy
    import numpy as np

    bpy.context.scene.frame_set(frame)
    mesh = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def max_vertex_error(a, b) -> float:
    import numpy as np

    return float(np.sqrt(((a - b) ** 2).sum(-1)).max())


def session_vertices(speech16k, rest, seed: int = 0, fps: float = 30):
    """The runtime's inference path: what the add-on must reproduce."""
    import numpy as np

    from core.runtime.session import Session
    from core.runtime.settings import Settings

    session = Session(Settings(fps=fps, seed=seed, weights=weights()), rest)
    return np.concatenate([session.vertices(b) for b in session.run(speech16k, 16000)])
