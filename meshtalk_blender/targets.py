"""What a mesh object can receive: template-topology output (the bundled head, MakeHuman/
MPFB2 characters through hm08 vertex indices) and/or ARKit shape-key curves."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import bpy
import numpy as np

from .errors import MeshTalkError
from .runtime import retarget
from .runtime.template import load_template

MIN_ARKIT_KEYS = 8  # fewer matching names is a coincidence, not an ARKit rig
TOPOLOGY_MATCH = 0.99  # share of the template's edges a mesh must have to count as hm08
_SIDES = {"l": "left", "r": "right", "lt": "left", "rt": "right"}


def arkit_canonical(name: str) -> str:
    """'eyeBlinkLeft', 'eyeBlink_L', 'EyeBlinkLeft', 'eye_blink_left', 'blendShape.eyeBlinkLeft'
    and 'Eye-Blink-L' all become 'eye blink left' (tokens, sides spelt out, lower case)."""
    name = name.rsplit(".", 1)[-1]  # glTF/FBX imports prefix the blend-shape node's name
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|[^A-Za-z0-9]+", " ", name)
    tokens = [t.lower() for t in spaced.split()]
    return " ".join(_SIDES.get(t, t) for t in tokens)


def match_arkit_keys(key_names: list[str], arkit_names: tuple[str, ...]) -> dict[str, str]:
    """ARKit unit -> the mesh's shape-key name, for every unit whose name the mesh has in one
    of the common spellings. An exact name wins over a respelled one."""
    wanted = {arkit_canonical(n): n for n in arkit_names}
    found: dict[str, str] = {}
    for key in key_names:
        unit = wanted.get(arkit_canonical(key))
        if unit is not None and (unit not in found or key == unit):
            found[unit] = key
    return found


@dataclass
class Target:
    """A mesh object analysed once per generation."""

    obj: bpy.types.Object
    rest: np.ndarray  # (N, 3) the mesh's rest positions (its basis shape)
    face: object | None = None  # core.retarget.CharacterFace when template topology
    arkit: dict[str, str] = field(default_factory=dict)  # ARKit unit -> shape key name

    @property
    def has_template_topology(self) -> bool:
        return self.face is not None

    @property
    def has_arkit(self) -> bool:
        return len(self.arkit) >= MIN_ARKIT_KEYS

    def template_input(self) -> np.ndarray | None:
        """The network's identity input: the character's own neutral face, else None (the
        template's)."""
        return None if self.face is None else self.face.template_input


def rest_positions(mesh: bpy.types.Mesh) -> np.ndarray:
    """Basis positions: the reference shape key if there are shape keys, else the vertices."""
    n = len(mesh.vertices)
    co = np.empty(n * 3, np.float32)
    key = mesh.shape_keys
    if key is not None and key.reference_key is not None:
        key.reference_key.data.foreach_get("co", co)
    else:
        mesh.vertices.foreach_get("co", co)
    return co.reshape(n, 3)


def _has_template_edges(mesh: bpy.types.Mesh, indices: np.ndarray, template) -> bool:
    """Does the mesh connect the picked vertices like the template does? (A mesh that only
    happens to have 5084 or 13380+ vertices does not.)"""
    faces = template.faces
    a = faces.ravel()
    b = np.roll(faces, -1, axis=1).ravel()
    a, b = indices[a], indices[b]
    keep = (a >= 0) & (b >= 0)
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return False
    edges = np.empty(len(mesh.edges) * 2, np.int32)
    mesh.edges.foreach_get("vertices", edges)
    edges = edges.reshape(-1, 2).astype(np.int64)
    n = len(mesh.vertices)
    have = np.unique(
        np.minimum(edges[:, 0], edges[:, 1]) * n + np.maximum(edges[:, 0], edges[:, 1])
    )
    want = np.unique(np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b))
    return float(np.isin(want, have, assume_unique=True).mean()) >= TOPOLOGY_MATCH


def object_kind(obj: bpy.types.Object) -> str:
    """'an Empty object', 'a Camera object', 'a Text object': the type's name as Blender's
    interface shows it (the enum's raw identifier reads 'a empty', 'a font')."""
    items = bpy.types.Object.bl_rna.properties["type"].enum_items
    label = items[obj.type].name if obj.type in items else obj.type.title()
    article = "an" if label[:1].upper() in "AEIOU" else "a"
    return f"{article} {label} object"


def check_mesh(obj: bpy.types.Object | None) -> bpy.types.Object:
    """A mesh in Object Mode: what both writing and reading MeshTalk's output need."""
    if obj is None:
        raise MeshTalkError("Choose a target mesh object in the MeshTalk panel")
    if obj.type != "MESH":
        raise MeshTalkError(f"'{obj.name}' is {object_kind(obj)}, not a mesh")
    if obj.mode == "EDIT" or obj.data.is_editmode:
        raise MeshTalkError(f"'{obj.name}' is in Edit Mode: switch to Object Mode first")
    return obj


def check_editable(obj: bpy.types.Object | None, context) -> bpy.types.Object:
    """The errors an animator can fix before anything is computed."""
    check_mesh(obj)
    if obj.library is not None or obj.data.library is not None:
        raise MeshTalkError(
            f"'{obj.name}' is linked from a library and cannot be changed: make it local first"
        )
    if not obj.is_editable or not obj.data.is_editable:
        raise MeshTalkError(
            f"'{obj.name}' is locked (a library override that cannot be edited): make it local"
        )
    return obj


def analyse(obj: bpy.types.Object) -> Target:
    """Find what `obj` supports: template topology (bundled head, hm08 body) and ARKit keys."""
    template = load_template()
    mesh = obj.data
    rest = rest_positions(mesh)
    target = Target(obj, rest)
    idx = retarget.hm08_vertex_indices(len(rest), template)
    if idx is not None and _has_template_edges(mesh, idx, template):
        target.face = retarget.character_face(rest, template)
    if mesh.shape_keys is not None:
        names = [kb.name for kb in mesh.shape_keys.key_blocks[1:]]
        target.arkit = match_arkit_keys(names, template.arkit_names)
    return target
