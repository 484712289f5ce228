"""The one place the add-on imports MeshTalk's numpy core from.

In the extension zip, build.py vendors the core *inside* this package (`meshtalk_blender/core`),
so it can never collide with another add-on's top-level `core` module; the core uses relative
imports only, so it works wherever it is put. In a source checkout the same names come from
the repository's top-level `core` package.
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path
from types import ModuleType

try:
    from . import core  # the extension zip
except ImportError:  # a source checkout: the repository's top-level package
    _root = str(Path(__file__).resolve().parents[1])
    if _root not in sys.path:
        sys.path.append(_root)
    import core  # type: ignore[no-redef]

from .core_modules import MODULES  # noqa: E402  (names only; no core import yet)

template = importlib.import_module(core.__name__ + ".template")
retarget = importlib.import_module(core.__name__ + ".retarget")
writers = importlib.import_module(core.__name__ + ".writers")
CORE_DIR = Path(core.__file__).resolve().parent


def module(name: str) -> ModuleType:
    """A core module by its short name ("audio", "runtime", ...), imported on first use so
    the add-on registers even while an optional part is missing."""
    if name not in MODULES:
        raise KeyError(f"{name!r} is not a vendored core module ({', '.join(MODULES)})")
    return importlib.import_module(f"{core.__name__}.{name}")


def weights_path() -> Path:
    """The network's weights file shipped with the core."""
    return CORE_DIR / "assets" / "meshtalk.npz"


@functools.cache
def load_template():
    """The bundled template head, loaded once per session (it is ~3 MB of arrays)."""
    return template.load_template()
