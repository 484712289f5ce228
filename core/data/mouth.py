"""Measuring a face's mouth: lip rims, apertures, width and the lower lip's distance to the
upper incisors, and the per-unit slopes of these (a `FaceCalibration`), so the articulation
model can turn millimetre targets into ARKit weights exactly on any face of the template's
topology. Numpy only."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..runtime.metrics import LIP_MIDLINE, landmark
from ..runtime.template import Template, load_template

MM = 1e-3
RIM_LOWER_HALF_WIDTH = 0.011  # m: lower-lip rim checked for sealing (not the corners: at
# rest they sit 0.5 mm apart, sealing them would crush the middle of the lips)
RIM_UPPER_HALF_WIDTH = 0.016  # m: the upper rim must span the lower one for interpolation
TUCK_CONTACT = 1.0 * MM  # F/V: lower lip this far from the upper incisors' surface
TUCK_JAW = 1.5 * MM  # jaw opening at which the F/V lip tuck is calibrated
TUCK_UPPER_LIP = 0.25  # mouthUpperUp on F/V: the upper lip lifts off the incisors' contact


class MouthGeometry:
    """Landmarks for measuring the mouth, from the template's topology (valid for any mesh
    with the same topology). Why rims and not one vertex pair: 'the lips touch' must hold
    across the mouth, not only at the midline."""

    def __init__(self, template: Template) -> None:
        nbrs, faces_of = _adjacency(template.faces, template.n_vertices)
        up, lo = (landmark(template, i) for i in LIP_MIDLINE)
        upper = _rim(template, nbrs, faces_of, up, RIM_UPPER_HALF_WIDTH)
        lower = _rim(template, nbrs, faces_of, lo, RIM_LOWER_HALF_WIDTH)
        x_up = template.vertices[upper, 0]
        x_lo = template.vertices[lower, 0]
        seg = np.clip(np.searchsorted(x_up, x_lo) - 1, 0, len(upper) - 2)
        #: Each lower-rim vertex faces a fixed material point on the upper rim (a, b, t).
        self.lower = lower
        self.upper_pair = np.stack([upper[seg], upper[seg + 1]], axis=1)
        self.upper_t = (x_lo - x_up[seg]) / (x_up[seg + 1] - x_up[seg])
        self.midline = int(np.flatnonzero(lower == lo)[0])
        lips = template.region("lips")
        xs = template.vertices[lips, 0]
        self.corners = np.array([lips[np.argmax(xs)], lips[np.argmin(xs)]])  # left, right
        lip_lower = template.region("lip_lower")
        self.lower_lip_front = lip_lower[np.abs(template.vertices[lip_lower, 0]) < 0.008]
        self.upper_teeth_faces = _upper_teeth_faces(template)

    def apertures(self, vertices: np.ndarray) -> np.ndarray:
        """Signed vertical lip opening (m) per rim column: (..., V, 3) -> (..., C).
        Positive = open, <= 0 = the lower lip reaches the upper one."""
        a = vertices[..., self.upper_pair[:, 0], 2]
        b = vertices[..., self.upper_pair[:, 1], 2]
        return a + self.upper_t * (b - a) - vertices[..., self.lower, 2]

    def width(self, vertices: np.ndarray) -> np.ndarray:
        """Mouth width (m), corner to corner: (..., V, 3) -> (...)."""
        c = vertices[..., self.corners, :]
        return np.linalg.norm(c[..., 0, :] - c[..., 1, :], axis=-1)

    def teeth_points(self, vertices: np.ndarray) -> np.ndarray:
        """Points on the front upper teeth's surface: (..., V, 3) -> (..., S, 3). Bilinear in
        the quads, hence linear in the vertices (and in the ARKit weights)."""
        q = vertices[..., self.upper_teeth_faces, :]  # (..., F, 4, 3)
        g = np.linspace(0.0, 1.0, 5)
        u, v = (a.ravel()[:, None] for a in np.meshgrid(g, g))
        c = [q[..., None, k, :] for k in range(4)]  # (..., F, 1, 3)
        pts = (1 - u) * (1 - v) * c[0] + u * (1 - v) * c[1] + u * v * c[2] + (1 - u) * v * c[3]
        return pts.reshape(*pts.shape[:-3], -1, 3)

    def teeth_distance(self, vertices: np.ndarray) -> float:
        """Smallest distance (m) from the lower lip's middle to the upper incisors' surface."""
        return min_distance(vertices[self.lower_lip_front], self.teeth_points(vertices))


def _adjacency(faces: np.ndarray, n: int) -> tuple[list[set[int]], list[set[int]]]:
    nbrs: list[set[int]] = [set() for _ in range(n)]
    faces_of: list[set[int]] = [set() for _ in range(n)]
    for fi, f in enumerate(faces.tolist()):
        for k in range(4):
            nbrs[f[k]].update((f[k - 1], f[(k + 1) % 4]))
            faces_of[f[k]].add(fi)
    return nbrs, faces_of


def _rim(template, nbrs, faces_of, start: int, half_width: float) -> np.ndarray:
    """The lip's edge loop through `start` (the horizontal one), within |x| <= half_width,
    sorted by x."""
    verts = template.vertices
    faces = template.faces

    def horizontalness(w: int) -> float:
        d = verts[w] - verts[start]
        return abs(d[0]) / (np.linalg.norm(d) + 1e-12)

    firsts = sorted(nbrs[start], key=horizontalness)[-2:]
    rim = [start]
    for first in firsts:
        prev, cur = start, first
        while abs(verts[cur, 0]) <= half_width and cur not in rim:
            rim.append(cur)
            # Straight on through a quad vertex: the neighbour that shares no face with the
            # edge we came along.
            nxt = [
                w
                for w in nbrs[cur]
                if w != prev and not any(prev in faces[fi] for fi in faces_of[cur] & faces_of[w])
            ]
            if len(nxt) != 1:  # not a regular quad vertex: the loop ends here
                break
            prev, cur = cur, nxt[0]
    rim_arr = np.array(rim)
    return rim_arr[np.argsort(verts[rim_arr, 0])]


def _upper_teeth_faces(template: Template) -> np.ndarray:
    """Front teeth faces the jaw does not move (the upper incisors, |x| < 12 mm)."""
    teeth = template.part_names.index("teeth")
    jaw = np.linalg.norm(template.unit("jawOpen"), axis=1) > 1e-6
    f = template.faces[template.face_part == teeth]
    f = f[~jaw[f].any(axis=1)]
    return f[np.abs(template.vertices[f, 0].mean(axis=1)) < 0.012]


def min_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest distance between point sets (..., A, 3) and (..., B, 3) -> (...)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    d2 = (a * a).sum(-1)[..., :, None] + (b * b).sum(-1)[..., None, :]
    d2 = d2 - 2.0 * (a @ np.swapaxes(b, -1, -2))
    return np.sqrt(np.clip(d2.min(axis=(-1, -2)), 0.0, None))


@dataclass(frozen=True)
class FaceCalibration:
    """Slopes measured on one face: how each ARKit unit changes lip apertures and mouth width.
    Weights are linear in the units, so these turn mm targets into weights exactly."""

    names: tuple[str, ...]
    aperture0: np.ndarray  # (C,) m, rest apertures per rim column
    aperture_slope: np.ndarray  # (52, C) m per unit weight
    midline: int
    width_slope: np.ndarray  # (52,) m of mouth width per unit weight
    tuck_recipe: np.ndarray  # (52,) weights of full F/V lip tuck
    teeth_distance_tuck: float  # m, lip-to-incisor distance reached by the recipe
    lip0: np.ndarray  # (K, 3) lower lip's middle at rest
    lip_slope: np.ndarray  # (52, K, 3)
    teeth0: np.ndarray  # (S, 3) points on the upper incisors at rest
    teeth_slope: np.ndarray  # (52, S, 3)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def apertures(self, weights: np.ndarray) -> np.ndarray:
        return self.aperture0 + np.asarray(weights) @ self.aperture_slope

    def teeth_distance(self, weights: np.ndarray) -> np.ndarray:
        """Lower lip to upper incisors (m) for weights (..., 52) -> (...)."""
        w = np.asarray(weights)
        lip = self.lip0 + np.tensordot(w, self.lip_slope, 1)
        teeth = self.teeth0 + np.tensordot(w, self.teeth_slope, 1)
        return min_distance(lip, teeth)


def calibrate(
    vertices: np.ndarray | None = None, deltas: np.ndarray | None = None
) -> FaceCalibration:
    """Measure a face (template by default; or an identity's vertices and unit deltas)."""
    template = load_template()
    geo = mouth_geometry()
    vertices = template.vertices if vertices is None else np.asarray(vertices, np.float32)
    deltas = template.arkit_deltas if deltas is None else np.asarray(deltas, np.float32)
    names = template.arkit_names
    ap0 = geo.apertures(vertices)
    slope = geo.apertures(vertices + deltas) - ap0
    width_slope = geo.width(vertices + deltas) - geo.width(vertices)
    lip0 = vertices[geo.lower_lip_front].astype(np.float64)
    teeth0 = geo.teeth_points(vertices).astype(np.float64)
    cal = FaceCalibration(
        names=names,
        aperture0=ap0.astype(np.float64),
        aperture_slope=slope.astype(np.float64),
        midline=geo.midline,
        width_slope=width_slope.astype(np.float64),
        tuck_recipe=np.zeros(len(names)),
        teeth_distance_tuck=np.nan,
        lip0=lip0,
        lip_slope=deltas[:, geo.lower_lip_front].astype(np.float64),
        teeth0=teeth0,
        teeth_slope=geo.teeth_points(vertices + deltas) - teeth0,
    )
    # F/V: at the labiodental jaw opening, raise the upper lip a little and roll the lower lip
    # in until it rests TUCK_CONTACT from the incisors (searched on the mesh, not guessed).
    base = np.zeros(len(names))
    jaw = names.index("jawOpen")
    base[jaw] = TUCK_JAW / slope[jaw, geo.midline]
    up = [names.index("mouthUpperUp" + side) for side in ("Left", "Right")]
    base[up] = TUCK_UPPER_LIP
    roll = names.index("mouthRollLower")
    grid = np.linspace(0.2, 1.0, 33)
    trial = np.repeat(base[None], len(grid), axis=0)
    trial[:, roll] = grid
    dist = cal.teeth_distance(trial)
    k = int(np.argmin(np.abs(dist - TUCK_CONTACT)))
    recipe = np.zeros(len(names))
    recipe[roll] = grid[k]
    recipe[up] = TUCK_UPPER_LIP
    return replace(cal, tuck_recipe=recipe, teeth_distance_tuck=float(dist[k]))


@lru_cache(maxsize=1)
def mouth_geometry() -> MouthGeometry:
    return MouthGeometry(load_template())


@lru_cache(maxsize=1)
def template_calibration() -> FaceCalibration:
    return calibrate()
