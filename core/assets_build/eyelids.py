"""Blinks that close cleanly: MakeHuman's eyeBlink units refitted to the lids and the eyeball.

Why: the faceunits eyeBlink over-closes unevenly (at weight 1 the outer half of the upper lid
passes the lower by ~3.5 mm while the inner corner is just shut) and, being a linear shape key
that draws each vertex along a straight chord past a round eyeball, sinks the upper lid up to
2.6 mm into the eyeball, so the iris shows through the closed lid. Two corrections, both keeping
MakeHuman's delta as the source (each vertex's direction, the closed lid's shape):

- `close_at`: rescale the delta column by column (a smooth function of x across the eye) so the
  upper lid's margin lands on the lower lid's margin at one weight all along;
- `clear_eyeball`: where a vertex that is outside the eyeball at rest would pass inside it,
  move its closed position radially out just far enough that the whole straight path, i.e.
  every weight in [0, 1], stays outside.

Numpy only: the asset build refits the template's units with it, and core.data the units it
carries over onto each identity's face.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..runtime.template import Template

CLOSED_AT = 0.98  # eyeBlink weight where the lids meet; at 1 they press ~0.2 mm together
CLEARANCE_M = 2.5e-4  # a closed lid's vertices stay this far off the eyeball: its faces sag
DIP_M = 1e-4  # on the way a vertex may dip this much below that (or below its rest depth)
MIN_COLUMN_GAP = 0.1  # columns opened less than this fraction of the widest are corners
BANDWIDTH_M = 5e-4  # the columns' meeting weights are smoothed across the eye over ~0.5 mm
FIT_ROUNDS = 3  # close / clear alternations (clearing nudges the margins a little)
PUSH_RANGE_M = 0.01  # the radial push is searched within 1 cm
BISECTIONS = 40  # 1 cm / 2^40: far below float16's resolution
CARD_ROUNDS = 200  # Jacobi sweeps over a lash card (~15 columns wide)
MAX_SOCKET = 2000  # vertices: more would mean the margin does not cut the socket off the face


@dataclass(frozen=True)
class Eyeball:
    """The eyeball as the ellipsoid centre + axes @ u, |u| <= 1.

    Why an ellipsoid: the template's eyeball is a sphere, but identity targets scale it
    unevenly (by up to ~1 mm between axes). In unit coordinates u the ellipsoid is the unit
    sphere and straight paths stay straight, so one sphere test serves every face."""

    centre: np.ndarray  # (3,)
    axes: np.ndarray  # (3, 3) symmetric, maps unit coordinates to offsets from the centre

    @property
    def radius(self) -> float:
        """Mean semi-axis (metres per unit of u)."""
        return float(abs(np.linalg.det(self.axes)) ** (1.0 / 3.0))

    def unit(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points -> unit coordinates (|u| < 1 inside)."""
        return (np.asarray(points) - self.centre) @ np.linalg.inv(self.axes).T

    def point(self, unit: np.ndarray) -> np.ndarray:
        """(N, 3) unit coordinates -> points."""
        return self.centre + unit @ self.axes.T

    def depth(self, points: np.ndarray) -> np.ndarray:
        """How far each of (N, 3) points lies inside, metres (< 0 outside; exact for a sphere)."""
        return self.radius * (1.0 - np.linalg.norm(self.unit(points), axis=1))


def eyeball(vertices: np.ndarray, eye: np.ndarray) -> Eyeball:
    """The ellipsoid through the eyeball's vertices (least-squares quadric), grown to hold them
    all: the low-poly eyeball's faces lie 0.2-1.4 mm inside it, so outside the ellipsoid is
    outside the eyeball."""
    points = np.asarray(vertices, np.float64)[eye]
    mean = points.mean(axis=0)
    scale = float(np.sqrt(((points - mean) ** 2).sum(axis=1).mean()))
    x, y, z = ((points - mean) / scale).T  # unit-sized, for a well-conditioned fit
    design = np.stack([x * x, y * y, z * z, 2 * x * y, 2 * x * z, 2 * y * z, 2 * x, 2 * y, 2 * z])
    coef = np.linalg.lstsq(design.T, np.ones(len(points)), rcond=None)[0]
    a, b, c, d, e, f = coef[:6]
    quad = np.array([[a, d, e], [d, b, f], [e, f, c]])
    shift = -np.linalg.solve(quad, coef[6:])  # q'Qq + 2l'q = 1  <=>  (q-s)'Q(q-s) = 1 + s'Qs
    values, vectors = np.linalg.eigh(quad / (1.0 + shift @ quad @ shift))
    if (values <= 0).any():
        raise ValueError("the eyeball's vertices do not lie on an ellipsoid")
    ball = Eyeball(mean + scale * shift, scale * (vectors / np.sqrt(values)) @ vectors.T)
    reach = np.linalg.norm(ball.unit(points), axis=1).max()
    return Eyeball(ball.centre, ball.axes * reach)


@dataclass(frozen=True)
class EyeLids:
    """One eye on the template's topology (the indices hold for every identity's face).

    hm08's socket lining is closed: the skin runs over each lid's margin (its visible edge),
    tucks in behind the eyeball's surface as one ring of vertices (the lids' hidden back edge,
    inside the eyeball at rest) and lines the socket behind the eyeball. Every arc runs from
    the inner to the outer corner."""

    eye: np.ndarray  # eyeball vertex indices
    upper: np.ndarray  # upper lid margin, corner to corner
    lower: np.ndarray  # lower lid margin, same corners
    back_upper: np.ndarray  # the hidden ring's upper arc, vertex by vertex behind `upper`
    back_lower: np.ndarray  # and its lower arc
    socket: np.ndarray  # the hidden ring and the socket lining behind it (the margins cut it off)
    back_middle: tuple[int, int]  # upper and lower vertex of the hidden ring nearest the middle
    lash_edges: np.ndarray  # (E, 2) edges of this eye's lashes (cards that move as one)


def find_lids(
    vertices: np.ndarray, faces: np.ndarray, skin: np.ndarray, lashes: np.ndarray, eye: np.ndarray
) -> EyeLids:
    """One eye's lids from the template at rest (`skin`, `lashes`: (V,) bool masks of the
    parts; `eye`: the eyeball's vertex indices)."""
    verts = np.asarray(vertices, np.float64)
    ball = eyeball(verts, eye)
    inside = skin & (ball.depth(verts) > 0)
    neighbours: dict[int, set[int]] = {}
    for f in np.asarray(faces).tolist():
        for k in range(len(f)):
            neighbours.setdefault(f[k], set()).update((f[k - 1], f[(k + 1) % len(f)]))
    ring = _loop({v: {n for n in neighbours[v] if inside[n]} for v in np.flatnonzero(inside)})
    # In front = toward -y (Blender: the face looks toward -Y).
    margin = [min(neighbours[v] - set(ring), key=lambda n: verts[n, 1]) for v in ring]
    x = verts[margin, 0]
    a, b, n = int(np.argmin(x)), int(np.argmax(x)), len(ring)
    arcs = [
        [(a + k) % n for k in range((b - a) % n + 1)],
        [(a - k) % n for k in range((a - b) % n + 1)],
    ]
    height = [verts[[margin[i] for i in arc], 2].mean() for arc in arcs]
    if height[0] < height[1]:
        arcs.reverse()  # upper first
    if abs(x[a]) > abs(x[b]):  # min x is the outer corner (the right eye): inner corner first
        arcs = [arc[::-1] for arc in arcs]
    upper, lower = (np.array([margin[i] for i in arc]) for arc in arcs)
    back_upper, back_lower = (np.array([ring[i] for i in arc]) for arc in arcs)
    socket = _flood(ring, neighbours, skin, set(margin))
    nearest = [
        int(arc[np.argmin(np.abs(verts[arc, 0] - ball.centre[0]))])
        for arc in (back_upper, back_lower)
    ]
    quads = np.asarray(faces)
    mine = (lashes[quads] & (np.sign(verts[quads, 0]) == np.sign(ball.centre[0]))).all(axis=1)
    edges = np.concatenate([quads[mine][:, [k, (k + 1) % 4]] for k in range(4)])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    return EyeLids(
        np.asarray(eye),
        upper,
        lower,
        back_upper,
        back_lower,
        socket,
        (nearest[0], nearest[1]),
        edges,
    )


def _loop(adjacent: dict[int, set[int]]) -> list[int]:
    """The vertices of a single closed edge loop, in order (ValueError if it is not one)."""
    if not adjacent or any(len(s) != 2 for s in adjacent.values()):
        raise ValueError("the skin inside the eyeball is not a single ring of vertices")
    start = min(adjacent)
    ring, prev = [start], -1
    while True:
        nxt = min(adjacent[ring[-1]] - {prev})
        if nxt == start:
            break
        prev = ring[-1]
        ring.append(nxt)
    if len(ring) != len(adjacent):
        raise ValueError("the skin inside the eyeball is not a single ring of vertices")
    return ring


def _flood(
    seeds: list[int], neighbours: dict[int, set[int]], skin: np.ndarray, wall: set[int]
) -> np.ndarray:
    """Skin vertices reachable from `seeds` without crossing `wall`, sorted."""
    seen, todo = set(seeds), list(seeds)
    while todo:
        for n in neighbours[todo.pop()]:
            if skin[n] and n not in seen and n not in wall:
                seen.add(n)
                todo.append(n)
        if len(seen) > MAX_SOCKET:
            raise ValueError("the lid margins do not cut the eye socket off the face")
    return np.array(sorted(seen))


def _columns(vertices: np.ndarray, lids: EyeLids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A column across the eye at every interior margin vertex of either lid: its x, the upper
    minus lower margin height there (the other lid's (x, z) polyline interpolated), and
    whether the other lid reaches that x (at the corners a vertex can pass beyond it)."""
    up, lo = vertices[lids.upper], vertices[lids.lower]
    ou, ol = np.argsort(up[:, 0]), np.argsort(lo[:, 0])
    xu, xl = up[1:-1, 0], lo[1:-1, 0]
    x = np.concatenate([xu, xl])
    gap = np.concatenate(
        [
            up[1:-1, 2] - np.interp(xu, lo[ol, 0], lo[ol, 2]),
            np.interp(xl, up[ou, 0], up[ou, 2]) - lo[1:-1, 2],
        ]
    )
    span = max(up[:, 0].min(), lo[:, 0].min()), min(up[:, 0].max(), lo[:, 0].max())
    return x, gap, (x >= span[0]) & (x <= span[1])


def template_lids(template: Template) -> dict[str, EyeLids]:
    """Both eyes' lid margins on the template's topology (they hold for every identity)."""
    skin, lashes = (
        np.isin(np.arange(template.n_vertices), template.faces[template.face_part == part])
        for part in (template.part_names.index("skin"), template.part_names.index("eyelashes"))
    )
    return {
        side: find_lids(
            template.vertices, template.faces, skin, lashes, template.region(f"eye_{side}")
        )
        for side in ("left", "right")
    }


def widest_margin_gap(vertices: np.ndarray, lids: Iterable[EyeLids]) -> float:
    """Metres: the widest the lid margins stand apart anywhere across the given eyes (what a
    closed blink must keep near 0: the gap at the pupil alone can hide a slit beside it)."""
    return max(float(np.nanmax(margin_gaps(vertices, eye))) for eye in lids)


def margin_gaps(vertices: np.ndarray, lids: EyeLids) -> np.ndarray:
    """(..., V, 3) -> (..., K): upper minus lower lid margin height across the eye, metres
    (NaN where a corner vertex has passed beyond the other lid). Negative where the upper lid
    has passed the lower one: -nanmin(gaps) is the crossing."""
    verts = np.asarray(vertices, np.float64)
    flat = verts.reshape(-1, *verts.shape[-2:])
    gaps = [np.where(over, gap, np.nan) for _, gap, over in (_columns(v, lids) for v in flat)]
    return np.stack(gaps).reshape(*verts.shape[:-2], -1)


def close_at(rest: np.ndarray, delta: np.ndarray, lids: EyeLids, weight: float) -> np.ndarray:
    """`delta` rescaled so that the lid margins meet at `weight` all across the eye.

    Each column's meeting weight (both lids move linearly) is measured where the eye is open
    enough to tell; a Gaussian kernel in x smooths them (a kink in that curve would fold the
    lashes); every vertex is scaled by the curve at its own x (clamped to the measured span),
    so the lids keep MakeHuman's shape. The hidden back edge and socket lining then get one
    more factor, so that the back edge too meets at `weight` in the eye's middle: identity
    targets reshape it apart from the margins (and the landmarks of eyelid_gap lie on it)."""
    rest = np.asarray(rest, np.float64)
    delta = np.asarray(delta, np.float64)
    x, gap, over = _columns(rest, lids)
    _, moved, still_over = _columns(rest + delta, lids)
    closing = moved - gap
    ok = over & still_over & (gap > MIN_COLUMN_GAP * gap.max()) & (closing < 0)
    if ok.sum() < 3:
        raise ValueError("the blink does not close this eye")
    meet, x, gap = -gap[ok] / closing[ok], x[ok], gap[ok]
    at = np.clip(rest[:, 0], x.min(), x.max())[:, None]
    kernel = np.exp(-0.5 * ((at - x) / BANDWIDTH_M) ** 2) * gap  # wide-open columns count more
    out = delta * (kernel @ meet / kernel.sum(axis=1) / weight)[:, None]
    up, lo = lids.back_middle
    back_gap = rest[up, 2] - rest[lo, 2]
    back_closing = out[up, 2] - out[lo, 2]
    if back_gap > 0 and back_closing < 0:
        out[lids.socket] *= -back_gap / (back_closing * weight)
    return out


def _segment_distance(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Closest approach to the origin of each straight path start -> end (rows)."""
    path = end - start
    t = -np.einsum("ij,ij->i", start, path) / np.maximum(np.einsum("ij,ij->i", path, path), 1e-30)
    return np.linalg.norm(start + np.clip(t, 0.0, 1.0)[:, None] * path, axis=1)


def clear_eyeball(
    rest: np.ndarray, delta: np.ndarray, lids: EyeLids, cover: bool = True
) -> np.ndarray:
    """`delta` with no vertex that is outside the eyeball at rest passing inside it at any
    weight in [0, 1], none going deeper than at rest, and (`cover`: the blink of this eye) the
    closed lid just off it; lashes move as whole cards. Only the hidden socket side may stay
    inside.

    Why also the vertices inside at rest: on some identities the eyeball is large enough to
    reach into the lid margin at rest; the closed lid must still cover it."""
    rest = np.asarray(rest, np.float64)
    delta = np.asarray(delta, np.float64)
    ball = eyeball(rest, lids.eye)
    hidden = np.zeros(len(rest), bool)
    hidden[lids.socket] = True
    hidden &= ball.depth(rest) > 0
    out = _push_out(rest, delta, ball, hidden, cover)
    if len(lids.lash_edges):
        pushed = np.abs(out - delta).max(axis=1) > 0
        out = delta + _carry_cards(out - delta, pushed, lids.lash_edges)
        out = _push_out(rest, out, ball, hidden, cover)
    return out


def _push_out(
    rest: np.ndarray, delta: np.ndarray, ball: Eyeball, hidden: np.ndarray, cover: bool
) -> np.ndarray:
    """Where a moving vertex's straight path dips below its floor (CLEARANCE_M off the eyeball,
    or its rest depth if deeper, less DIP_M) or (`cover`) its closed position is nearer the
    eyeball than CLEARANCE_M, move that position radially out (in the eyeball's unit
    coordinates, by bisection) just far enough."""
    out = delta.copy()
    moving = np.flatnonzero((np.abs(out).max(axis=1) > 0) & ~hidden)
    start, end = ball.unit(rest[moving]), ball.unit(rest[moving] + out[moving])
    closed = 1.0 + CLEARANCE_M / ball.radius
    floor = np.minimum(np.linalg.norm(start, axis=1), closed) - DIP_M / ball.radius
    near = np.linalg.norm(end, axis=1)
    if not cover:
        closed = 0.0
    low = (_segment_distance(start, end) < floor) | (near < closed)
    if not low.any():
        return out
    start, floor, near = start[low], floor[low], near[low]
    radial = end[low] / near[:, None]
    lo, hi = near, np.maximum(near, closed) + PUSH_RANGE_M / ball.radius
    for _ in range(BISECTIONS):
        mid = 0.5 * (lo + hi)
        clear = (_segment_distance(start, mid[:, None] * radial) >= floor) & (mid >= closed)
        lo, hi = np.where(clear, lo, mid), np.where(clear, mid, hi)
    out[moving[low]] = ball.point(hi[:, None] * radial) - rest[moving[low]]
    return out


def _carry_cards(correction: np.ndarray, fixed: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Spread the corrections of the `fixed` vertices over the lash cards that hold them.

    Why: a lash card's root row is pushed out by up to 2.4 mm while the rows above it are not,
    which would fold the card into spikes. Relaxing the correction towards a harmonic field
    over the card's edges (fixed where pushed, free elsewhere; Jacobi sweeps) moves the card
    as a whole instead; a card with nothing pushed keeps a zero correction."""
    nodes = np.unique(edges)
    free = ~fixed[nodes]
    if free.all():
        return correction
    local = np.searchsorted(nodes, edges)
    adjacency = np.zeros((len(nodes), len(nodes)))
    adjacency[local[:, 0], local[:, 1]] = adjacency[local[:, 1], local[:, 0]] = 1.0
    average = adjacency[free] / adjacency[free].sum(axis=1, keepdims=True)
    field = correction[nodes]
    for _ in range(CARD_ROUNDS):
        field[free] = average @ field
    out = correction.copy()
    out[nodes] = field
    return out


def fit_blink(
    rest: np.ndarray,
    delta: np.ndarray,
    lids: EyeLids,
    others: Sequence[EyeLids] = (),
    weight: float = CLOSED_AT,
) -> np.ndarray:
    """An eyeBlink delta whose lids meet at `weight` and that enters no eyeball: its own, nor
    `others` (MakeHuman's eyeBlinkLeft also nudges the right eye's inner corner)."""
    out = np.asarray(delta, np.float64)
    for _ in range(FIT_ROUNDS):
        out = clear_eyeball(rest, close_at(rest, out, lids, weight), lids)
    for other in others:
        out = clear_eyeball(rest, out, other, cover=False)
    return out


def penetration(
    rest: np.ndarray, delta: np.ndarray, lids: EyeLids, weights: Iterable[float]
) -> float:
    """Deepest any moving vertex that is outside the eyeball at rest goes inside it over the
    given weights of `delta` (metres; < 0: never inside)."""
    rest = np.asarray(rest, np.float64)
    delta = np.asarray(delta, np.float64)
    ball = eyeball(rest, lids.eye)
    outside = (np.abs(delta).max(axis=1) > 0) & (ball.depth(rest) < 0)
    return max(float(ball.depth(rest[outside] + w * delta[outside]).max()) for w in weights)
