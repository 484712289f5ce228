"""Animation outputs that need no Blender, one module per format: PC2 mesh caches (`pc2`), a
compact shape-key basis per clip (`basis`), the .npz animation file (`npz`), Live Link Face
CSV (`livelink`), ARKit curves as JSON (`curves`) and binary glTF (`gltf`); `files` picks the
streamed writer by suffix. The add-on writes what these return into Blender; pipelines
outside Blender write files with them."""

from .basis import MAX_KEYS, TOLERANCE, ShapeKeyBasis, basis_from_coefficients, compact_basis
from .curves import ArkitCurvesJson
from .files import (
    FORMATS,
    WEIGHT_FORMATS,
    ArkitFileWriter,
    BlockFitter,
    Frames,
    VertexBlock,
    VertexFrames,
    format_of,
    open_weights_writer,
    open_writer,
)
from .gltf import GlbAnimation, read_glb
from .livelink import LiveLinkCsv
from .npz import ANIMATION_KEYS, Animation, load_animation, save_animation
from .pc2 import PC2, PC2Writer, read_pc2, write_pc2

__all__ = [
    "ANIMATION_KEYS",
    "FORMATS",
    "MAX_KEYS",
    "PC2",
    "TOLERANCE",
    "WEIGHT_FORMATS",
    "Animation",
    "ArkitCurvesJson",
    "ArkitFileWriter",
    "BlockFitter",
    "Frames",
    "GlbAnimation",
    "LiveLinkCsv",
    "PC2Writer",
    "ShapeKeyBasis",
    "VertexBlock",
    "VertexFrames",
    "basis_from_coefficients",
    "compact_basis",
    "format_of",
    "load_animation",
    "open_weights_writer",
    "open_writer",
    "read_glb",
    "read_pc2",
    "save_animation",
    "write_pc2",
]
