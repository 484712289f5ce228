"""build.py: the extension zip Blender's own validator accepts, with the numpy core vendored
inside the package and nothing from the training stack."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile

import _extension as ext
import pytest

build = ext.build


@pytest.fixture(scope="module")
def zip_path():
    return ext.built_zip()


def test_zip_name_and_manifest(zip_path):
    manifest = tomllib.loads((ext.ROOT / "addon_manifest.toml").read_text())
    assert zip_path.name == f"meshtalk_blender-{manifest['version']}.zip"
    with zipfile.ZipFile(zip_path) as zf:
        shipped = tomllib.loads(zf.read("blender_manifest.toml").decode())
    assert shipped["id"] == "meshtalk_blender" and shipped["type"] == "add-on"
    assert shipped["blender_version_min"] == "4.2.0"
    assert shipped["version"] == manifest["version"]
    assert shipped["permissions"]["files"]


def test_zip_vendors_the_numpy_core_and_nothing_else(zip_path):
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
    for required in (
        "__init__.py",
        "vendored.py",
        "compat.py",
        "batch.py",
        "operators/generate.py",
        "core/__init__.py",
        "core/template.py",
        "core/retarget.py",
        "core/writers.py",
        "core/audio.py",
        "core/config.py",
        "core/npzio.py",
        "core/metrics.py",
        "core/runtime/__init__.py",
        "core/assets/template.npz",
        "core/assets/meshtalk.npz",
    ):
        assert required in names, required
    lowered = [n.lower() for n in names]
    for banned in ("torch", "librosa", "scipy", "__pycache__", ".pyc"):
        assert not [n for n in lowered if banned in n], banned
    # training-only core modules stay out
    for training in ("core/model.py", "core/losses.py", "core/export.py", "core/data/"):
        assert not [n for n in names if n.startswith(training)], training


def test_blender_validator_accepts_the_zip(zip_path):
    tool = build.blender_ext_tool()
    done = subprocess.run(
        [sys.executable, str(tool), "validate", str(zip_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_stage_refuses_modules_that_import_the_training_stack(tmp_path):
    staged = build.stage(tmp_path / "pkg", ext.weights())
    assert (staged / "core" / "runtime" / "network.py").is_file()
    (staged / "sneaky.py").write_text("import torch\n")
    assert build._imports(staged / "sneaky.py") == {"torch"}
    lazy = staged / "lazy.py"
    lazy.write_text("def f():\n    import librosa\n")
    assert build._imports(lazy) == set()  # optional imports inside functions are allowed


def test_build_without_weights_says_how_to_get_them(tmp_path):
    with pytest.raises(SystemExit, match="random-weights"):
        build.build(tmp_path / "missing.npz", dist=tmp_path, staging=tmp_path / "s")
