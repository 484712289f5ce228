"""Blinks that close all along the lid margin, not only at the pupil.

Why: the network's blink is an average of the data's. At its deepest the pupil's landmarks
meet while beside them the margins stay 0.2-2 mm apart (1 mm at the widest on average), and
in close-up the iris tints the lid there. Weighting closed lids in training seals them but
freezes the mouth on real voices (docs/RESULTS.md, "Sealing blinks in training"). So, at
run time, a few smooth fields per eye (its eyeBlink unit windowed across the eye), weighted
per frame by least squares on the margin gaps, close a lid that is more than half shut
evenly across the eye, and seal it where it is nearly shut. Open eyes are untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .template import Template

SIDES = ("left", "right")
WINDOWS = 5  # fields per eye, evenly across it
PRESS = 2e-4  # metres: shut margins are aimed this far past each other (the template's at 1)
RIDGE = 1e-3  # of the fields' mean effect: keeps the windows' weights small and smooth
SHUT = 0.3  # a lid this far open (share of its rest gap) is sealed: the evaluation's blink
BAND = 0.05  # from SHUT up to SHUT + BAND the aim rises from shut to the lid's own share
OPEN = 0.5  # from this share down the seal ramps in: a blink on its way
WIDE = 0.3  # columns opened wider than this share of the widest say how closed the lid is


@dataclass(frozen=True)
class MarginColumns:
    """One eye's lid margins as columns across it: each interior margin vertex against the
    other lid's margin interpolated at its x. Linear in the vertices, so the gaps of an
    output basis are its rows' gaps."""

    index: np.ndarray  # (J, 3) vertex indices: this vertex, the other lid's two neighbours
    sign: np.ndarray  # (J, 3) gap = sum(sign * z[index]): upper minus lower

    @classmethod
    def of(cls, face: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> MarginColumns:
        """From the margins' vertex sets (corners in both; any order), paired by x on the
        `face` (the seal pairs them on the shut lid: they slide apart in x closing)."""
        corners = np.intersect1d(upper, lower)
        index, sign = [], []
        for lid, other, up in ((upper, lower, 1.0), (lower, upper, -1.0)):
            line = other[np.argsort(face[other, 0])]
            xs = face[line, 0]
            for v in np.setdiff1d(lid, corners):
                x = face[v, 0]
                if not xs[0] < x < xs[-1]:
                    continue  # past the other lid's corner
                k = int(np.searchsorted(xs, x)) - 1
                a = (x - xs[k]) / (xs[k + 1] - xs[k])
                index.append((v, line[k], line[k + 1]))
                sign.append((up, -up * (1 - a), -up * a))
        return cls(np.array(index), np.array(sign))

    def gaps(self, flat: np.ndarray) -> np.ndarray:
        """(..., V*3) vertices or basis rows -> (..., J) gaps."""
        return (flat[..., 3 * self.index + 2] * self.sign).sum(axis=-1)


@dataclass(frozen=True)
class _Eye:
    columns: MarginColumns
    rest: np.ndarray  # (J,) the margin columns' gaps at rest
    effect: np.ndarray  # (J, WINDOWS) gap change per unit of each field
    solve: np.ndarray  # (WINDOWS, J) regularised least squares: gap changes -> weights
    pupil_rest: float  # the pupil landmarks' gap at rest
    pupil_effect: np.ndarray  # (WINDOWS,) its change per unit of each field


class BlinkSeal:
    """Per eye, WINDOWS closing fields (more coefficient columns of the output) and, per
    frame, the least-squares weights that bring every margin column to the same share of its
    rest gap: the lid's, or shut once the lid is nearly shut."""

    def __init__(
        self,
        template: Template,
        rest: np.ndarray,
        upper_face: np.ndarray,
        pupils: dict[str, tuple[int, int]],
    ) -> None:
        """`rest`: the session's neutral face (V, 3); `upper_face`: (V,) weight of each
        vertex in the upper face (the fields move nothing of the mouth); `pupils`: each eye's
        upper and lower lid landmark at the pupil (vertex indices)."""
        self._eyes: list[_Eye] = []
        fields = []
        for side in SIDES:
            unit = template.unit(f"eyeBlink{side.title()}") * upper_face[:, None]
            cols = MarginColumns.of(
                rest + unit,  # paired where the lids meet: they slide apart in x as they close
                template.region(f"lid_margin_upper_{side}"),
                template.region(f"lid_margin_lower_{side}"),
            )
            margin_x = rest[cols.index[:, 0], 0]
            mine = _windows(rest[:, 0], margin_x.min(), margin_x.max())  # (V, WINDOWS)
            windowed = unit[:, None, :] * mine[:, :, None]  # (V, WINDOWS, 3)
            field = windowed.transpose(1, 0, 2).reshape(WINDOWS, -1)
            effect = cols.gaps(field).T
            gram = effect.T @ effect
            gram += RIDGE * np.trace(gram) / WINDOWS * np.eye(WINDOWS)
            up, low = pupils[side]
            self._eyes.append(
                _Eye(
                    cols,
                    cols.gaps(rest.reshape(-1)),
                    effect,
                    np.linalg.solve(gram, effect.T),
                    float(rest[up, 2] - rest[low, 2]),
                    windowed[up, :, 2] - windowed[low, :, 2],
                )
            )
            fields.append(field)
        self.fields = np.concatenate(fields).astype(np.float32)  # (2 WINDOWS, V*3)

    @property
    def columns(self) -> list[MarginColumns]:
        return [eye.columns for eye in self._eyes]

    def weights(self, gaps: list[np.ndarray], pupils: list[np.ndarray]) -> np.ndarray:
        """(T, 2 WINDOWS) field weights from each eye's margin gaps (T, J) and pupil gap (T,)
        as they are."""
        out = []
        for g, p, eye in zip(gaps, pupils, self._eyes, strict=True):
            wide = eye.rest > WIDE * eye.rest.max()
            # the lid's share open: as the pupil or the margin's most closed column says
            share = np.minimum((g[:, wide] / eye.rest[wide]).min(axis=1), p / eye.pupil_rest)
            w = self._solve(g, share, eye)
            # the fields close the pupil too: a lid they leave reading shut there is sealed
            after = (p + w @ eye.pupil_effect) / eye.pupil_rest
            out.append(self._solve(g, np.minimum(share, after), eye))
        return np.hstack(out)

    @staticmethod
    def _solve(g: np.ndarray, share: np.ndarray, eye: _Eye) -> np.ndarray:
        """Weights that bring the margins (T, J) of a lid `share` (T,) open to an even
        opening: that share, or shut if nearly shut; ramped in from OPEN down to SHUT."""
        ramp = smoothstep((OPEN - share) / (OPEN - SHUT))  # 0 open, 1 shut
        aim = share * smoothstep((share - SHUT) / BAND)
        press = PRESS * smoothstep(1 - aim / SHUT)
        wanted = aim[:, None] * eye.rest - press[:, None]
        return (ramp[:, None] * (wanted - g)) @ eye.solve.T


def smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, an S-curve between: ramps without a kink at either end."""
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def _windows(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(V,) x -> (V, WINDOWS): smooth windows across [lo, hi] that sum to 1 (x clamped)."""
    centres = np.linspace(lo, hi, WINDOWS)
    width = 0.7 * (hi - lo) / (WINDOWS - 1)
    bumps = np.exp(-0.5 * ((np.clip(x, lo, hi)[:, None] - centres) / width) ** 2)
    return bumps / bumps.sum(axis=1, keepdims=True)
