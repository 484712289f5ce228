"""What the extension vendors from `core` (read by build.py and by vendored.py): numpy-only
modules and the data files they load. Nothing here may import torch, librosa or scipy."""

MODULES = (
    "blas",
    "template",
    "metrics",
    "npzio",
    "config",
    "audio",
    "runtime",
    "retarget",
    "writers",
)
# files and packages relative to core/, copied as they are
FILES = (
    "__init__.py",
    "blas.py",
    "template.py",
    "metrics.py",
    "npzio.py",
    "config.py",
    "audio.py",
    "retarget.py",
    "writers.py",
    "runtime",
    "assets/template.npz",
    "assets/NOTICE",
    "assets/meshtalk.npz",
)
