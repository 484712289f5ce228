"""Software previews of faces with matplotlib (no Blender): shaded front views for contact
sheets of the corpus and of predictions. Slow-ish (~0.1 s a face) but dependency-light."""

from __future__ import annotations

import numpy as np

LIGHT = np.array([0.3, -0.8, 0.5]) / np.linalg.norm([0.3, -0.8, 0.5])
COLORS = {  # per material of the template
    "skin": (0.82, 0.64, 0.55),
    "eyes": (0.95, 0.95, 0.93),
    "eyelashes": (0.1, 0.08, 0.06),
    "teeth": (0.95, 0.93, 0.86),
    "tongue": (0.75, 0.35, 0.35),
    "iris": (0.25, 0.35, 0.5),
    "pupil": (0.03, 0.03, 0.03),
}


def draw_face(
    ax, vertices: np.ndarray, faces: np.ndarray, face_material: np.ndarray, materials, zoom=None
) -> None:
    """Draw a front view (looking along +Y at a face that looks toward -Y) onto `ax`.

    Painter's algorithm: quads sorted back to front, Lambert-shaded per face."""
    from matplotlib.collections import PolyCollection

    quads = vertices[faces]  # (F, 4, 3)
    normal = np.cross(quads[:, 2] - quads[:, 0], quads[:, 3] - quads[:, 1])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    visible = normal[:, 1] < 0.05  # facing the camera (or nearly)
    depth = quads[:, :, 1].mean(axis=1)
    order = np.flatnonzero(visible)[np.argsort(-depth[visible])]
    base = np.array([COLORS.get(materials[m], (0.7, 0.7, 0.7)) for m in face_material[order]])
    shade = 0.35 + 0.65 * np.clip(normal[order] @ LIGHT, 0, 1)[:, None]  # Lambert
    polys = quads[order][:, :, [0, 2]]
    color = base * shade
    ax.add_collection(PolyCollection(polys, facecolors=color, edgecolors=color, linewidths=0.3))
    lo, hi = zoom if zoom is not None else (vertices.min(0), vertices.max(0))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[2], hi[2])
    ax.set_aspect("equal")
    ax.axis("off")
