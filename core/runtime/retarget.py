"""From the network's template-topology offsets to other rigs (numpy only, no bpy).

Two ways out of the template's topology:
- ARKit weights: per frame, the 52 face-unit weights in [0, 1] whose blend of the template's
  unit deltas comes closest (least squares) to the frame's offsets. Any character with
  ARKit-named shape keys can then play them, whatever its topology.
- hm08 characters (MakeHuman / MPFB2): their vertex index *is* the hm08 index, so the
  template's `source_index` picks the face out of them directly; a similarity transform
  moves their neutral face into the template's frame (and the offsets back out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blas import blas_threads
from .template import Template

# ---------------------------------------------------------------------------------------
# bounded least squares for ARKit weights


@dataclass(frozen=True)
class ArkitFit:
    """Fitted weights and how well they explain the offsets (for reports and tests)."""

    weights: np.ndarray  # (T, 52) float32 in [lower, upper]
    iterations: int  # active-set iterations used (all frames at once)
    rms_residual: float  # metres, over all frames and vertices


def fit_arkit_weights(
    offsets: np.ndarray,
    deltas: np.ndarray,
    lower: float = 0.0,
    upper: float = 1.0,
    max_iterations: int = 12,
) -> ArkitFit:
    """Weights w (T, K) minimising sum_t ||offsets_t - w_t . deltas||^2 with lower <= w <= upper.

    offsets: (T, V, 3) per-frame displacement from the neutral face; deltas: (K, V, 3).
    Works on the K x K normal equations, so the cost hardly depends on V once the T x K
    right-hand side is formed. The solver is a primal-dual active-set method vectorised over
    frames (every iteration is one batched K x K solve); the unit deltas are correlated
    (condition number ~1e4), which makes gradient methods need thousands of steps while the
    active set settles in a handful. Frames that have not settled by `max_iterations`
    finish with an exact primal active-set method, one frame at a time.
    """
    return ArkitFitter(deltas, lower, upper, max_iterations).fit(offsets)


class ArkitFitter:
    """`fit_arkit_weights` for many blocks with the same deltas: their Gram matrix is made
    once (the file writers fit every block of a clip), and `weights` skips the residual."""

    def __init__(
        self, deltas: np.ndarray, lower: float = 0.0, upper: float = 1.0, max_iterations: int = 12
    ) -> None:
        k = deltas.shape[0]
        self.deltas = np.asarray(deltas, np.float32).reshape(k, -1)
        self.lower, self.upper, self.max_iterations = lower, upper, max_iterations
        d = self.deltas
        with blas_threads(1):
            self.gram = (d.astype(np.float64) @ d.T.astype(np.float64)) if k else np.zeros((0, 0))

    def weights(self, offsets: np.ndarray) -> np.ndarray:
        """(T, K) float32 weights of offsets (T, V, 3)."""
        return self.weights_from_rhs(self.rhs(offsets))

    def fit(self, offsets: np.ndarray) -> ArkitFit:
        """The weights, the iterations used and the rms residual."""
        flat = self._flat(offsets)
        rhs = self.rhs(flat)
        weights, iterations = self._solve(rhs)
        # ||x - w D||^2 = ||x||^2 - 2 w.b + w G w', per frame: no (T, 3V) residual is formed.
        sq = float(np.einsum("ij,ij->", flat, flat, dtype=np.float64))
        sq += float(
            np.sum(
                np.einsum("ij,jk,ik->i", weights, self.gram, weights) - 2 * (weights * rhs).sum(1)
            )
        )
        rms = float(np.sqrt(max(sq, 0.0) / flat.size)) if flat.size else 0.0
        return ArkitFit(weights.astype(np.float32), iterations, rms)

    def projection(self, rows: np.ndarray) -> np.ndarray:
        """(N, K) float64 `rows` @ deltas': for frames whose offsets are affine in N numbers
        (offsets = a @ rows, as a `Session`'s are in its coefficients), the fit's right-hand
        side is then a @ projection, N numbers per frame instead of 3V."""
        with blas_threads(1):
            return np.asarray(rows, np.float64) @ self.deltas.T.astype(np.float64)

    def rhs(self, offsets: np.ndarray) -> np.ndarray:
        """(T, K) float64 right-hand side offsets @ deltas' of offsets (T, V, 3) or (T, 3V).
        One OpenBLAS thread: more would split the sums differently, and the weights would
        then depend on the machine's core count."""
        with blas_threads(1):
            return (self._flat(offsets) @ self.deltas.T).astype(np.float64)

    def weights_from_rhs(self, rhs: np.ndarray) -> np.ndarray:
        """(T, K) float32 weights from the fit's right-hand side offsets @ deltas' (T, K)."""
        return self._solve(rhs)[0].astype(np.float32)

    def _flat(self, offsets: np.ndarray) -> np.ndarray:
        offsets = np.asarray(offsets, np.float32)
        if offsets.ndim == 2 and offsets.shape[1] != self.deltas.shape[1]:
            offsets = offsets[None]
        flat = offsets.reshape(len(offsets), -1)
        if flat.shape[1] != self.deltas.shape[1]:
            raise ValueError(
                f"offsets have {flat.shape[1] // 3} vertices, deltas {self.deltas.shape[1] // 3}"
            )
        return flat

    def _solve(self, rhs: np.ndarray) -> tuple[np.ndarray, int]:
        """(float64 weights, iterations). One OpenBLAS thread: many small solves, where its
        threads only add overhead."""
        with blas_threads(1):
            return solve_box_qp(self.gram, rhs, self.lower, self.upper, self.max_iterations)


def solve_box_qp(
    gram: np.ndarray, rhs: np.ndarray, lower: float, upper: float, max_iterations: int = 12
) -> tuple[np.ndarray, int]:
    """min 1/2 w'Gw - b'w subject to lower <= w <= upper, for every row b of `rhs` (T, K).

    Primal-dual active set (Hintermüller, Ito & Kunisch 2002): guess which weights sit on a
    bound from the multipliers, solve the rest exactly, repeat until no guess changes."""
    gram = np.asarray(gram, np.float64)
    rhs = np.atleast_2d(np.asarray(rhs, np.float64))
    n, k = rhs.shape
    if n == 0 or k == 0:
        return np.zeros((n, k)), 0
    c = float(np.mean(np.diag(gram))) or 1.0
    w = np.linalg.solve(gram, rhs.T).T  # unconstrained start
    lam = np.zeros_like(w)
    at_upper = np.zeros((n, k), bool)
    at_lower = np.zeros((n, k), bool)
    todo = np.ones(n, bool)
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported after the loop
        new_upper = lam + c * (w - upper) > 0
        new_lower = lam + c * (w - lower) < 0
        changed = np.any(new_upper != at_upper, axis=1) | np.any(new_lower != at_lower, axis=1)
        todo &= changed if iterations > 1 else np.ones(n, bool)
        if not todo.any():
            break
        at_upper[todo], at_lower[todo] = new_upper[todo], new_lower[todo]
        idx = np.flatnonzero(todo)
        w[idx], lam[idx] = _solve_with_active_set(
            gram, rhs[idx], at_upper[idx], at_lower[idx], lower, upper
        )
    else:
        for i in np.flatnonzero(todo):
            w[i] = _primal_active_set(gram, rhs[i], w[i], lower, upper)
    return np.clip(w, lower, upper), iterations


def _solve_with_active_set(gram, rhs, at_upper, at_lower, lower, upper):
    """One active-set step for a batch of frames: bound variables fixed, the rest solved.

    Frames that share an active set share their reduced system (free rows and columns of
    G), so it is solved once per distinct set for all of them: a clip's thousands of frames
    have a few hundred sets per step, and each reduced system is smaller than K x K."""
    fixed = at_upper | at_lower
    fixed_values = np.where(at_upper, upper, np.where(at_lower, lower, 0.0))
    b = rhs - fixed_values @ gram
    w = fixed_values.copy()
    packed = np.ascontiguousarray(np.packbits(fixed, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    for first, stop in zip(starts, np.r_[starts[1:], len(order)], strict=True):
        frames = order[first:stop]
        free = np.flatnonzero(~fixed[frames[0]])
        if len(free):
            reduced = gram[np.ix_(free, free)]
            w[frames[:, None], free] = np.linalg.solve(reduced, b[np.ix_(frames, free)].T).T
    lam = np.where(fixed, rhs - w @ gram, 0.0)
    return w, lam


def _primal_active_set(gram, b, w0, lower, upper, max_steps: int = 1000) -> np.ndarray:
    """Exact primal active-set method for one frame (Nocedal & Wright, 16.3): slower, but it
    cannot cycle, so it finishes the rare frames where the primal-dual iteration did."""
    k = len(b)
    w = np.clip(w0, lower, upper)
    bound = (w <= lower) | (w >= upper)
    for _ in range(max_steps):
        free = ~bound
        target = w.copy()
        if free.any():
            rhs = b[free] - gram[np.ix_(free, bound)] @ w[bound]
            target[free] = np.linalg.solve(gram[np.ix_(free, free)], rhs)
        over = free & ((target < lower) | (target > upper))
        if over.any():  # walk toward the target until the first weight reaches a bound
            step = target - w
            limit = np.where(step < 0, (lower - w) / np.where(step < 0, step, -1), np.inf)
            limit = np.where(step > 0, (upper - w) / np.where(step > 0, step, 1), limit)
            limit = np.where(free, limit, np.inf)
            j = int(np.argmin(limit))
            w = np.clip(w + max(0.0, min(1.0, limit[j])) * step, lower, upper)
            w[j] = lower if step[j] < 0 else upper
            bound[j] = True
            continue
        w = target
        grad = gram @ w - b  # multipliers of the bound weights
        wrong = np.where(bound & (w <= lower), -grad, 0.0) + np.where(
            bound & (w >= upper), grad, 0.0
        )
        j = int(np.argmax(wrong)) if k else 0
        if not k or wrong[j] <= 1e-12 * max(1.0, float(np.abs(b).max())):
            return w
        bound[j] = False
    return w


def arkit_weights_from_vertices(vertices: np.ndarray, template: Template, rest=None) -> ArkitFit:
    """ARKit weights of template-topology frames (T, V, 3) relative to `rest` (default: the
    template's own neutral face)."""
    rest = template.vertices if rest is None else rest
    return fit_arkit_weights(np.asarray(vertices, np.float32) - rest, template.arkit_deltas)


# ---------------------------------------------------------------------------------------
# hm08 characters (MakeHuman, MPFB2)


HM08_BODY_VERTICES = 13380  # hm08's skin; helpers (tongue, eyes, lashes, teeth) follow


def hm08_vertex_indices(n_vertices: int, template: Template) -> np.ndarray | None:
    """Index into a mesh of every template vertex (-1 where the mesh lacks it), or None.

    A mesh with exactly the template's vertex count is the template itself (identity).
    MakeHuman/MPFB2 meshes keep hm08's vertex order (vertex index = hm08 index), so the
    template's `source_index` selects the face directly; a body without its helper geometry
    (MPFB2 often deletes or hides it) still has all the face's skin, and its missing
    tongue/eye/lash/teeth vertices are marked -1."""
    if n_vertices == template.n_vertices:
        return np.arange(n_vertices, dtype=np.int32)
    if n_vertices < HM08_BODY_VERTICES:
        return None
    idx = template.source_index.astype(np.int32)
    return np.where(idx < n_vertices, idx, -1).astype(np.int32)


@dataclass(frozen=True)
class Similarity:
    """x_template = scale * rotation @ x_character + translation (row vectors: x @ R.T)."""

    scale: float
    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)

    def to_template(self, points: np.ndarray) -> np.ndarray:
        return (self.scale * (points @ self.rotation.T) + self.translation).astype(np.float32)

    @property
    def linear(self) -> np.ndarray:
        """The 3 x 3 map of offsets (row vectors) from the template frame to the character's."""
        return (self.rotation / self.scale).astype(np.float32)

    def is_identity(self, tol: float = 1e-6) -> bool:
        return bool(np.abs(self.linear - np.eye(3)).max() <= tol)

    def offsets_to_character(self, offsets: np.ndarray) -> np.ndarray:
        """Offsets in the template frame -> the character's frame (no translation). Skipped
        when the character is in the template's frame (the bundled head): 1800 frames of
        offsets are 27M numbers."""
        offsets = np.asarray(offsets, np.float32)
        return offsets if self.is_identity() else offsets @ self.linear


def fit_similarity(source: np.ndarray, target: np.ndarray) -> Similarity:
    """The similarity (Umeyama 1991) that best maps `source` points onto `target` points, so a
    character's face in its own units, orientation and position feeds the network in the
    template's frame."""
    src = np.asarray(source, np.float64)
    dst = np.asarray(target, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rot = u @ np.diag(sign) @ vt
    var_s = float((s0**2).sum() / len(src))
    scale = float((sig * sign).sum() / var_s) if var_s > 0 else 1.0
    trans = mu_d - scale * rot @ mu_s
    return Similarity(scale, rot, trans)


@dataclass(frozen=True)
class CharacterFace:
    """An hm08 character's face, ready for the network and for writing results back."""

    indices: np.ndarray  # (V,) index into the character's vertices, -1 where it has none
    template_input: np.ndarray  # (V, 3) its neutral face in the template's frame
    similarity: Similarity  # character frame -> template frame

    @property
    def present(self) -> np.ndarray:
        return self.indices >= 0


def character_face(character_vertices: np.ndarray, template: Template) -> CharacterFace:
    """Pick an hm08 character's face and move it into the template's frame (by the similarity
    fitted on the vertices it has); the vertices it lacks come from the template."""
    n = len(character_vertices)
    idx = hm08_vertex_indices(n, template)
    if idx is None:
        raise ValueError(
            f"a mesh with {n} vertices has neither the template's {template.n_vertices} "
            f"nor an hm08 body's {HM08_BODY_VERTICES}+ vertices"
        )
    present = idx >= 0
    face = np.asarray(character_vertices, np.float32)[idx[present]]
    sim = fit_similarity(face, template.vertices[present])
    template_input = template.vertices.copy()
    template_input[present] = sim.to_template(face)
    return CharacterFace(idx, template_input, sim)
