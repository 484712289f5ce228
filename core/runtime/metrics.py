"""Face measurements shared by tests, the corpus checks and core.eval (numpy only).

Landmarks are hm08 vertex indices, so they hold for any mesh with the template's topology.
"""

from __future__ import annotations

import numpy as np

from .template import Template

LIP_MIDLINE = (474, 523)  # inner upper / lower lip at the midline
EYELID_CENTRE = {"left": (7774, 7787), "right": (1082, 1095)}  # upper / lower lid margin


def landmark(template: Template, hm08_index: int) -> int:
    """Template vertex index of an hm08 vertex."""
    hits = np.flatnonzero(template.source_index == hm08_index)
    if len(hits) != 1:
        raise KeyError(f"hm08 vertex {hm08_index} is not in the template")
    return int(hits[0])


def _vertical_gap(vertices: np.ndarray, template: Template, pair: tuple[int, int]) -> np.ndarray:
    upper, lower = (landmark(template, i) for i in pair)
    return vertices[..., upper, 2] - vertices[..., lower, 2]


def lip_gap(vertices: np.ndarray, template: Template) -> np.ndarray:
    """Vertical opening of the lips at the midline in metres: (..., V, 3) -> (...).

    About 0.2 mm at rest (the lips touch), 34 mm with jawOpen = 1; negative when pressed."""
    return _vertical_gap(vertices, template, LIP_MIDLINE)


def eyelid_gap(vertices: np.ndarray, template: Template, side: str) -> np.ndarray:
    """Vertical opening of one eye's lids at the pupil, metres (7.8 mm at rest, <= 0 closed)."""
    return _vertical_gap(vertices, template, EYELID_CENTRE[side])


def mouth_corners(template: Template) -> tuple[int, int]:
    """Template indices of the mouth corners: the rightmost and leftmost (character's) vertices
    of the lips region on the neutral template (hm08 412 and 7172)."""
    lips = template.region("lips")
    x = template.vertices[lips, 0]
    return int(lips[np.argmin(x)]), int(lips[np.argmax(x)])


def mouth_width(vertices: np.ndarray, template: Template) -> np.ndarray:
    """Corner-to-corner distance of the mouth in metres: (..., V, 3) -> (...). Rounding
    (W, UW, OW) narrows it; a smile or a stretch widens it."""
    a, b = mouth_corners(template)
    return np.linalg.norm(vertices[..., a, :] - vertices[..., b, :], axis=-1)


def lip_vertex_errors(pred: np.ndarray, truth: np.ndarray, lips: np.ndarray) -> np.ndarray:
    """(T,) per frame the largest L2 error over lip vertices (metres); LVE is their mean over
    frames (core.eval.scores sums them, and splits them by what each frame is saying)."""
    return np.linalg.norm(pred[:, lips] - truth[:, lips], axis=-1).max(axis=1)


def upper_face_dynamics_deviation(
    pred: np.ndarray, truth: np.ndarray, rest: np.ndarray, upper: np.ndarray
) -> float:
    """FDD: per upper-face vertex, the std over time of its displacement from the rest face;
    mean over vertices; ground truth minus prediction (metres; > 0 means too still)."""

    def dynamics(seq: np.ndarray) -> float:
        disp = np.linalg.norm(seq[:, upper] - rest[upper], axis=-1)
        return float(disp.std(axis=0).mean())

    return dynamics(truth) - dynamics(pred)
