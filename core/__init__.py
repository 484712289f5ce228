"""MeshTalk core: everything that does not need Blender (never imports bpy).

The runtime modules (audio, template, runtime, retarget, writers) need numpy only, so the
Blender add-on can vendor them; training modules (data, model, train, export, eval) need torch.
"""

from .blas import select_openblas_kernels

__version__ = "0.1.0"

# Before anything here imports numpy (inside Blender numpy is loaded already: no effect).
select_openblas_kernels()
