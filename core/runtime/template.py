"""The template head: the MakeHuman hm08 head and neck with its 52 ARKit face units.

Coordinates follow Blender: metres, Z up, the face looking toward -Y, the character's left
at +X, centred left-right and front-back with the neck's cut at z = 0. Numpy only, so the
Blender add-on can load it too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parent / "assets"
TEMPLATE_PATH = ASSETS / "template.npz"
REGION_PREFIX = "region_"


@dataclass(frozen=True)
class Template:
    """A face mesh with the template's topology, its regions and its ARKit unit deltas."""

    vertices: np.ndarray  # (V, 3) float32
    faces: np.ndarray  # (F, 4) int32 quads
    uv: np.ndarray  # (F, 4, 2) float32, per face corner
    face_part: np.ndarray  # (F,) int8 index into part_names
    part_names: tuple[str, ...]  # skin, eyes, eyelashes, teeth, tongue
    face_material: np.ndarray  # (F,) int8 index into material_names
    material_names: tuple[str, ...]  # the parts plus iris and pupil (front caps of the eyes)
    source_index: np.ndarray  # (V,) int32 hm08 index of every vertex
    regions: dict[str, np.ndarray]  # name -> sorted int32 vertex indices
    arkit_names: tuple[str, ...]  # the 52 ARKit face units
    arkit_deltas: np.ndarray  # (52, V, 3) float32

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    def region(self, name: str) -> np.ndarray:
        """Vertex indices of a region, with the valid names in the error."""
        try:
            return self.regions[name]
        except KeyError:
            raise KeyError(f"no region {name!r}; regions: {', '.join(self.regions)}") from None

    def unit(self, name: str) -> np.ndarray:
        """The (V, 3) delta of one ARKit unit."""
        if name not in self.arkit_names:
            raise KeyError(f"no ARKit unit {name!r}; units: {', '.join(self.arkit_names)}")
        return self.arkit_deltas[self.arkit_names.index(name)]

    def pose(self, weights: np.ndarray) -> np.ndarray:
        """Vertices with ARKit weights applied: (52,) -> (V, 3) or (T, 52) -> (T, V, 3)."""
        return apply_units(self.vertices, self.arkit_deltas, weights)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays of `python -m core template` (float32, int32, unicode names)."""
        arrays = {
            "vertices": self.vertices,
            "faces": self.faces,
            "uv": self.uv,
            "face_part": self.face_part,
            "part_names": np.array(self.part_names),
            "face_material": self.face_material,
            "material_names": np.array(self.material_names),
            "source_index": self.source_index,
            "arkit_names": np.array(self.arkit_names),
            "arkit_deltas": self.arkit_deltas,
            "region_names": np.array(list(self.regions)),
        }
        arrays.update({REGION_PREFIX + k: v for k, v in self.regions.items()})
        return arrays


def apply_units(rest: np.ndarray, deltas: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """rest (V, 3) + weights (..., U) @ unit deltas (U, V, 3) -> (..., V, 3) float32: how
    any face with the template's topology moves (the template, or an identity's face)."""
    flat = np.asarray(deltas, np.float32).reshape(len(deltas), -1)
    moved = np.asarray(weights, np.float32) @ flat
    return rest + moved.reshape(*np.shape(weights)[:-1], *np.shape(rest))


@functools.lru_cache(maxsize=4)
def load_template(path: str | Path = TEMPLATE_PATH) -> Template:
    """Load the bundled template (or a file written by `python -m core template`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"template file not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        regions = {
            k[len(REGION_PREFIX) :]: data[k].astype(np.int32)
            for k in sorted(data.files)
            if k.startswith(REGION_PREFIX)
        }
        return Template(
            vertices=data["vertices"].astype(np.float32),
            faces=data["faces"].astype(np.int32),
            uv=data["uv"].astype(np.float32),
            face_part=data["face_part"].astype(np.int8),
            part_names=tuple(str(s) for s in data["part_names"]),
            face_material=data["face_material"].astype(np.int8),
            material_names=tuple(str(s) for s in data["material_names"]),
            source_index=data["source_index"].astype(np.int32),
            regions=regions,
            arkit_names=tuple(str(s) for s in data["arkit_names"]),
            arkit_deltas=data["arkit_deltas"].astype(np.float32),
        )
