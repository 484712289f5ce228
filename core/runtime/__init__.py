"""MeshTalk's runtime: speech audio in, face animation out, with numpy alone.

Blender ships numpy and nothing else, so this package imports only numpy and the standard
library, and only relatively: build.py copies it whole into the extension
(`meshtalk_blender/runtime`), pip installs it as `meshtalk`, and the checkout has it as
`core.runtime`. The path from a file to written outputs: `audio` (decode, features) →
`network` (encoder, prior, decoder) → `session` (chunks, frame rate, settings) → `outputs`.
"""

from .blas import select_openblas_kernels

__version__ = "0.2.0"

# Before anything here imports numpy (inside Blender numpy is loaded already: no effect).
select_openblas_kernels()
