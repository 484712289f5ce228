"""Build the Blender extension: dist/meshtalk_blender-<version>.zip.

    python build.py                       # bundles core/runtime/assets/meshtalk.npz
    python build.py --weights other.npz   # bundles another weights file under that name
    python build.py --random-weights      # development: untrained weights (needs torch)

Stages `meshtalk_blender/` with the runtime package copied whole inside it
(`core/runtime` → `meshtalk_blender/runtime`: in the checkout that folder is a symlink, so
the add-on's relative imports read the same in both places), writes blender_manifest.toml
from addon_manifest.toml, then lets Blender's own extension tool (shipped in the `bpy` wheel)
build the zip and validate it. Refuses to ship torch, librosa or scipy imports.
"""

from __future__ import annotations

import argparse
import ast
import glob
import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "meshtalk_blender"
MANIFEST_SOURCE = ROOT / "addon_manifest.toml"
RUNTIME = ROOT / "core" / "runtime"
WEIGHTS_PATH = RUNTIME / "assets" / "meshtalk.npz"
FORBIDDEN_IMPORTS = {"torch", "librosa", "scipy", "bpy_types_stub"}


def blender_ext_tool() -> Path | None:
    """Blender's extension CLI inside the installed `bpy` wheel (no need to import bpy)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    base = spec.submodule_search_locations[0]
    hits = sorted(glob.glob(f"{base}/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    return Path(hits[-1]) if hits else None


def read_manifest() -> dict:
    manifest = tomllib.loads(MANIFEST_SOURCE.read_text())
    core_version = ast.literal_eval(
        next(
            line.split("=", 1)[1].strip()
            for line in (RUNTIME / "__init__.py").read_text().splitlines()
            if line.startswith("__version__")
        )
    )
    if manifest["version"] != core_version:
        raise SystemExit(
            f"addon_manifest.toml version {manifest['version']} != runtime {core_version}"
        )
    return manifest


def _imports(path: Path) -> set[str]:
    """Top-level packages a module imports when it is loaded. (Optional imports inside
    functions, like core.audio's soundfile/librosa fallback for non-WAV files, only run where
    those packages exist; inside Blender the add-on decodes such files with `aud`.)"""
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in _module_level(tree.body):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _module_level(body: list) -> list:
    """Statements that run on import: the module body and its if/try blocks, not functions."""
    out = []
    for node in body:
        out.append(node)
        for field in ("body", "orelse", "finalbody", "handlers"):
            if isinstance(node, ast.If | ast.Try | ast.ExceptHandler):
                out += _module_level(getattr(node, field, []))
    return out


def stage(out: Path, weights: Path) -> Path:
    """Copy the add-on with the runtime package inside it into `out` (emptied first); the
    bundled network is `weights`."""
    if out.exists():
        shutil.rmtree(out)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "*.tmp")
    shutil.copytree(PACKAGE, out, ignore=ignore, symlinks=False)  # the runtime link: copied
    bundled = out / "runtime" / "assets" / "meshtalk.npz"
    if weights.resolve() != WEIGHTS_PATH.resolve():
        shutil.copy2(weights, bundled)
    bad = {
        f"{p.relative_to(out)}: {', '.join(sorted(_imports(p) & FORBIDDEN_IMPORTS))}"
        for p in out.rglob("*.py")
        if _imports(p) & FORBIDDEN_IMPORTS
    }
    if bad:
        raise SystemExit(
            "the extension must not import torch/librosa/scipy:\n  " + "\n  ".join(bad)
        )
    return out


def write_blender_manifest(manifest: dict, package_dir: Path) -> Path:
    """blender_manifest.toml: the source manifest, as TOML Blender reads."""
    lines = [
        "# Written by build.py from addon_manifest.toml: edit that file instead.",
    ]
    tables = {k: v for k, v in manifest.items() if isinstance(v, dict)}
    for key, value in manifest.items():
        if key not in tables:
            lines.append(f"{key} = {_toml(value)}")
    for name, table in tables.items():
        lines += ["", f"[{name}]"]
        lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
    path = package_dir / "blender_manifest.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def random_weights(out: Path) -> Path:
    """Untrained weights from core.train.export (needs torch: development machines only)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.is_file():
        subprocess.run(
            [sys.executable, "-m", "core.train.export", "--random", "--out", str(out)],
            cwd=ROOT,
            check=True,
        )
    return out


def build(
    weights: Path | None = None, dist: Path = ROOT / "dist", staging: Path = ROOT / "build"
) -> Path:
    """Stage, write the manifest, build and validate; returns the zip's path."""
    manifest = read_manifest()
    weights = weights or WEIGHTS_PATH
    if not weights.is_file():
        raise SystemExit(
            f"no weights file at {weights}: train and export one (make train), pass "
            "--weights, or use --random-weights for development"
        )
    package_dir = stage(staging / manifest["id"], weights)
    write_blender_manifest(manifest, package_dir)
    dist.mkdir(parents=True, exist_ok=True)
    zip_path = dist / f"{manifest['id']}-{manifest['version']}.zip"
    zip_path.unlink(missing_ok=True)
    tool = blender_ext_tool()
    if tool is None:
        raise SystemExit("Blender's extension tool not found: pip install bpy (deps/dev.txt)")
    run = [sys.executable, str(tool)]
    _blender_ext(
        [*run, "build", "--source-dir", str(package_dir), "--output-filepath", str(zip_path)]
    )
    _blender_ext([*run, "validate", str(zip_path)])
    return zip_path


def _blender_ext(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"Blender's extension tool failed:\n{done.stdout}{done.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--weights", type=Path, help="weights file to bundle")
    group.add_argument(
        "--random-weights", action="store_true", help="bundle untrained weights (development)"
    )
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    args = parser.parse_args(argv)
    weights = args.weights
    if args.random_weights:
        weights = random_weights(ROOT / "build" / "meshtalk_random.npz")
    path = build(weights, args.dist)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
