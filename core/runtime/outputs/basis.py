"""A compact shape-key basis per clip: the fewest keys (<= 64) whose keyframed values rebuild
every vertex of every frame within 0.1 mm."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_KEYS = 64
TOLERANCE = 1e-4  # 0.1 mm


@dataclass(frozen=True)
class ShapeKeyBasis:
    """A clip as `offsets[t] ~= values[t] @ keys` (keys: offsets from the rest mesh)."""

    keys: np.ndarray  # (K, V, 3) float32
    values: np.ndarray  # (T, K) float32
    max_error: float  # metres: the worst vertex of the worst frame
    tolerance: float
    within_tolerance: bool

    def reconstruct(self, rest: np.ndarray) -> np.ndarray:
        k, v = self.keys.shape[:2]
        return rest + (self.values @ self.keys.reshape(k, -1)).reshape(-1, v, 3)

    def report(self) -> str:
        state = "within" if self.within_tolerance else "ABOVE"
        return (
            f"{len(self.keys)} shape keys, max error {self.max_error * 1000:.3f} mm "
            f"({state} the {self.tolerance * 1000:.2f} mm tolerance)"
        )


def compact_basis(
    offsets: np.ndarray, tolerance: float = TOLERANCE, max_keys: int = MAX_KEYS, seed: int = 0
) -> ShapeKeyBasis:
    """The fewest principal directions (<= max_keys) of a clip's offsets (T, V, 3) that rebuild
    every vertex of every frame within `tolerance` metres.

    Uncentred PCA (the rest pose is the basis shape, so no mean key is needed) by a randomised
    range finder: a few products with the (T, 3V) matrix instead of a full SVD."""
    offsets = np.asarray(offsets, np.float32)
    t, v = offsets.shape[:2]
    flat = offsets.reshape(t, -1)
    if t == 0 or not np.any(flat):
        return _empty(t, v, tolerance)
    directions, sig = _principal_directions(flat, min(max_keys, t), seed)
    return _fewest_keys(lambda s, e: flat[s:e], t, v, directions, sig, tolerance)


def basis_from_coefficients(
    coeffs: np.ndarray, rows: np.ndarray, tolerance: float = TOLERANCE, max_keys: int = MAX_KEYS
) -> ShapeKeyBasis:
    """`compact_basis` of offsets given in factored form, offsets[t] = coeffs[t] @ rows
    (coeffs (T, k), rows (k, V*3)): the network's output is affine in its K coefficients,
    so the PCA of a whole clip needs only the (T, k) coefficients, never (T, V, 3) offsets.
    Exact: rows = Q M (QR), so offsets = (coeffs M^T) Q^T and the SVD of the small
    (T, k) matrix gives the principal directions."""
    coeffs = np.asarray(coeffs, np.float64)
    rows = np.asarray(rows, np.float32)
    t, v = len(coeffs), rows.shape[1] // 3
    if t == 0 or not np.any(coeffs @ np.abs(rows).max(axis=1)):
        return _empty(t, v, tolerance)
    q, m = np.linalg.qr(rows.T.astype(np.float64))  # (N, k), (k, k)
    _, sig, wt = np.linalg.svd(coeffs @ m.T, full_matrices=False)
    keep = min(max_keys, t, int(np.sum(sig > sig[0] * 1e-6)))
    directions = (wt[:keep] @ q.T).astype(np.float32)
    coeffs32 = coeffs.astype(np.float32)
    values = coeffs32 @ (rows @ directions.T)  # the projections, without (T, N) offsets
    return _fewest_keys(lambda s, e: coeffs32[s:e] @ rows, t, v, directions, sig, tolerance, values)


def _empty(t: int, v: int, tolerance: float) -> ShapeKeyBasis:
    empty = np.zeros((0, v, 3), np.float32)
    return ShapeKeyBasis(empty, np.zeros((t, 0), np.float32), 0.0, tolerance, True)


def _fewest_keys(
    frames,
    t: int,
    v: int,
    directions: np.ndarray,
    sig: np.ndarray,
    tolerance: float,
    coeffs: np.ndarray | None = None,
) -> ShapeKeyBasis:
    """The smallest key count whose reconstruction of every frame (`frames(start, stop)` →
    (n, V*3) offsets) is within tolerance. The error is measured, not estimated: the count is
    bisected on the real reconstruction, between bounds read off the singular values. If
    even all directions miss, all are returned with `within_tolerance` False."""
    n = len(directions)
    if coeffs is None:  # each frame's projection on the directions
        coeffs = np.concatenate([frames(s, s + 256) @ directions.T for s in range(0, t, 256)])

    def within(k: int, stop_early: bool = True) -> tuple[bool, float]:
        worst = 0.0
        for s in range(0, t, 256):
            resid = frames(s, s + 256) - coeffs[s : s + 256, :k] @ directions[:k]
            worst = max(worst, float((resid.reshape(-1, v, 3) ** 2).sum(-1).max()))
            if stop_early and worst > tolerance**2:
                break
        return worst <= tolerance**2, float(np.sqrt(worst))

    # A frame's residual is at most sigma_{k+1} (spectral norm), and a vertex's error at
    # least the RMS residual: bounds that leave only a few counts to bisect.
    tail = np.concatenate([np.sqrt(np.cumsum((sig**2)[::-1])[::-1]), [0.0]])
    lo = max(0, int(np.sum(tail[1:] / np.sqrt(t * v) > tolerance)) - 1)
    lo = min(lo, max(n - 1, 0))
    hi_guess = int(np.argmax(np.append(sig, 0.0)[: n + 1] <= tolerance * 0.999))
    hi = min(n, max(hi_guess, lo + 1))
    ok, err = within(hi)
    if not ok and hi < n:
        hi = n
        ok, err = within(n)
    if not ok:
        k = n
        err = within(n, stop_early=False)[1]  # report the true worst error
    else:
        while hi - lo > 1:  # invariant: hi meets the tolerance; lo does not (or lo = 0)
            mid = (lo + hi) // 2
            ok_mid, err_mid = within(mid)
            if ok_mid:
                hi, err = mid, err_mid
            else:
                lo = mid
        k = hi
    keys = directions[:k].reshape(k, v, 3).astype(np.float32)
    return ShapeKeyBasis(keys, coeffs[:, :k].astype(np.float32), err, tolerance, ok)


def _principal_directions(
    flat: np.ndarray, k: int, seed: int, power: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k right singular vectors of `flat` (T, N) as orthonormal rows, and the singular
    values (randomised range finder with oversampling, Halko et al. 2011)."""
    t, n = flat.shape
    sketch = min(t, k + 16)
    rng = np.random.default_rng(seed)
    y = flat @ rng.standard_normal((n, sketch)).astype(np.float32)
    q = np.linalg.qr(y.astype(np.float64))[0].astype(np.float32)
    for _ in range(power):
        q = np.linalg.qr((flat @ (flat.T @ q)).astype(np.float64))[0].astype(np.float32)
    small = (q.T @ flat).astype(np.float64)  # (sketch, N)
    _, sig, vt = np.linalg.svd(small, full_matrices=False)
    keep = min(k, int(np.sum(sig > sig[0] * 1e-6))) if sig.size and sig[0] > 0 else 0
    return vt[:keep].astype(np.float32), sig
