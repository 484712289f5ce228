"""MeshTalk core: everything that does not need Blender (never imports bpy).

The runtime modules (audio, template, runtime, retarget, writers) need numpy only, so the
Blender add-on can vendor them; training modules (data, model, train, export, eval) need torch.
"""

__version__ = "0.1.0"
