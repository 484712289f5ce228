"""Shared fixtures. Blender's user folders go to a temp dir before anything imports bpy,
so tests never read or write the developer's own Blender configuration."""

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

from core.data.corpus import CorpusConfig  # noqa: E402
from core.template import Template, load_template  # noqa: E402


@pytest.fixture(scope="session")
def template() -> Template:
    return load_template()


# A tiny real corpus (fast espeak voices) for the corpus, training and evaluation tests.
VOICES = ("espeak:en-us", "espeak:en+f2", "espeak:en-gb-x-rp+m2", "espeak:en-us+f3")
TINY = CorpusConfig(
    voices=VOICES,
    val_voices=("espeak:en-gb-x-rp+m2",),
    test_voices=("espeak:en-us+f3",),
    sequences_per_shard=6,
    held_out_sentence_fraction=0.2,
)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    from core.data.build import build_corpus

    root = tmp_path_factory.mktemp("corpus")
    build_corpus(root, hours=0.01, config=TINY, workers=2, progress=False)
    return root


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory, template) -> Path:
    """A small randomly initialised network, exported like a trained one."""
    from core.config import ModelConfig
    from core.export import build_random, export_weights

    cfg = ModelConfig(heads=4, categories=8, basis_size=16)
    model, prior = build_random(cfg, template)
    path = tmp_path_factory.mktemp("w") / "random.npz"
    export_weights(path, cfg, model, prior, template)
    return path
