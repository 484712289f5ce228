"""build.py: the extension zip Blender's own validator accepts: the add-on with the runtime
package inside it and nothing from the training stack."""

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


def test_zip_is_the_addon_plus_the_runtime_package_and_nothing_else(zip_path):
    """Exactly the add-on's files, the runtime package copied whole (code and bundled assets)
    and the manifest: no file list is kept by hand anywhere."""
    with zipfile.ZipFile(zip_path) as zf:
        names = {n for n in zf.namelist() if not n.endswith("/")}
    addon = ext.ROOT / "meshtalk_blender"
    runtime = ext.ROOT / "core" / "runtime"
    expected = {
        str(p.relative_to(addon))
        for p in addon.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.parts[len(addon.parts)] != "runtime"
    }
    expected |= {
        f"runtime/{p.relative_to(runtime)}"
        for p in runtime.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".tmp")
    }
    expected.add("blender_manifest.toml")
    assert names == expected
    assert "runtime/assets/meshtalk.npz" in names and "runtime/session.py" in names
    lowered = [n.lower() for n in names]
    for banned in ("torch", "librosa", "scipy", "__pycache__", ".pyc", "train/", "data/"):
        assert not [n for n in lowered if banned in n], banned


def test_blender_validator_accepts_the_zip(zip_path):
    tool = build.blender_ext_tool()
    done = subprocess.run(
        [sys.executable, str(tool), "validate", str(zip_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_stage_refuses_modules_that_import_the_training_stack(tmp_path):
    staged = build.stage(tmp_path / "pkg", ext.weights())
    assert (staged / "runtime" / "network" / "modules.py").is_file()
    assert not (staged / "runtime").is_symlink()
    (staged / "sneaky.py").write_text("import torch\n")
    assert build._imports(staged / "sneaky.py") == {"torch"}
    lazy = staged / "lazy.py"
    lazy.write_text("def f():\n    import librosa\n")
    assert build._imports(lazy) == set()  # optional imports inside functions are allowed


def test_build_without_weights_says_how_to_get_them(tmp_path):
    with pytest.raises(SystemExit, match="random-weights"):
        build.build(tmp_path / "missing.npz", dist=tmp_path, staging=tmp_path / "s")
