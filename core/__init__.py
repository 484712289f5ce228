"""MeshTalk outside Blender (never imports bpy).

- `core.runtime`: what ships: numpy only, copied whole into the Blender extension and
  installed by pip as the `meshtalk` package (audio, network, session, outputs, template);
- `core.data`: the training corpus (TTS voices, phone timing, face motion);
- `core.train`: the torch network, its training recipe and the export to the runtime;
- `core.eval`: scores on real and synthetic speech;
- `core.assets_build`: rebuilds the runtime's data files from pinned packages.
"""

from .runtime import __version__

__all__ = ["__version__"]
