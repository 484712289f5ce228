"""Shared fixtures. Blender's user folders go to a temp dir before anything imports bpy, so
tests never read or write the developer's own Blender configuration.

Product tests (tests/runtime, tests/addon) run by default; the corpus and training tests
(tests/training) carry the `training` marker: `pytest -m training`."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

_BLENDER_HOME = Path(tempfile.mkdtemp(prefix="meshtalk-blender-home-"))
os.environ["HOME"] = str(_BLENDER_HOME)
os.environ["BLENDER_USER_RESOURCES"] = str(_BLENDER_HOME / "blender")
os.environ["XDG_CACHE_HOME"] = str(_BLENDER_HOME / "cache")
os.environ["XDG_CONFIG_HOME"] = str(_BLENDER_HOME / "config")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.runtime.template import Template, load_template  # noqa: E402


@pytest.fixture(scope="session")
def template() -> Template:
    return load_template()


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory, template) -> Path:
    """A small randomly initialised network, exported like a trained one."""
    from core.train.config import ModelConfig
    from core.train.export import build_random, export_weights

    cfg = ModelConfig(heads=4, categories=8, basis_size=16)
    model, prior = build_random(cfg, template)
    path = tmp_path_factory.mktemp("w") / "random.npz"
    export_weights(path, cfg, model, prior, template)
    return path
