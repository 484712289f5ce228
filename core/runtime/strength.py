"""Mouth and upper-face strength: the animator's dials for how big the motion is, applied
as an affine change of the network's output so every output mode (shape keys, mesh cache,
ARKit, files) gets the same result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .blink_seal import SIDES, BlinkSeal, smoothstep
from .metrics import EYELID_CENTRE, LIP_MIDLINE, landmark
from .network import Animator
from .settings import Settings
from .template import load_template

# Lips may press into each other this far (metres) at the midline: a mesh cannot compress
# them, so deeper looks like lips passing through each other.
PRESS_LIMIT = -0.0005
SEALED = 0.001  # metres: lips this close count as sealed (the evaluation's P/B/M threshold)
BLINK = (0.5, 0.9)  # lid closure (share of the rest gap) over which a blink keeps its depth
EYES = slice(1, 3)  # the keepers of the two eyes' lids (left, right), after the lips'


@dataclass(frozen=True)
class GapKeeper:
    """A gap between two landmarks (lips, one eye's lids) held at its intended value by a
    closing field weighted per frame: one more coefficient column of the output."""

    pair: tuple[int, int]  # template vertex indices (upper, lower)
    closing: np.ndarray  # (V*3,) field that closes the gap
    intended: Callable[[np.ndarray, float], np.ndarray]  # (gap as made, rest gap) -> wanted

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """The gap's row (K+1,) of a (K+1, V*3) output basis: gap = [c, 1] @ row."""
        upper, lower = (3 * v + 2 for v in self.pair)  # z of the two landmarks
        return rows[:, upper] - rows[:, lower]

    @property
    def per_unit(self) -> float:
        upper, lower = (3 * v + 2 for v in self.pair)
        return float(self.closing[upper] - self.closing[lower])


class Strength:
    """Mouth and upper-face strength: each vertex's motion scaled around the speaker's rest
    by mouth_strength in the lower face and upper_strength in the upper face, blended by the
    network's own lower-face mask. Scaling alone would press sealed lips into each other
    (above 1), part them (below 1), and keep blinks from closing (below 1); the network
    itself also presses lips up to ~2 mm through each other at some seals. So closing fields
    (mouthClose for the lips, eyeBlink per eye), weighted per frame, give the lips' midline
    gap and each eye's lid gap their intended values: seals stay seals and blinks close,
    openings and the other motion scale. Last, `BlinkSeal` closes each blink evenly along the
    whole lid margin."""

    def __init__(self, settings: Settings, net: Animator, rest: np.ndarray) -> None:
        mouth, upper = settings.mouth_strength, settings.effective_upper_strength
        lower = net.lips_mask
        self.scale = None if mouth == upper == 1 else mouth * lower + upper * (1 - lower)
        template = load_template()

        def field(unit: str, mask: np.ndarray) -> np.ndarray:
            return (template.unit(unit) * mask[:, None]).reshape(-1)

        def lips(gap: np.ndarray, rest_gap: float) -> np.ndarray:
            closing = min(1.0, 4.0 * mouth)  # seals fade to rest only near strength 0
            seal = rest_gap + closing * (max(SEALED, rest_gap) - rest_gap)
            sealed = rest_gap + closing * (gap - rest_gap)  # a seal stays a seal
            opened = seal + mouth * (gap - max(SEALED, rest_gap))  # openings scale
            wanted = np.where(gap > max(SEALED, rest_gap), opened, sealed)
            return np.maximum(wanted, min(rest_gap, PRESS_LIMIT))

        def lids(gap: np.ndarray, rest_gap: float) -> np.ndarray:
            closure = np.clip(1 - gap / rest_gap, 0, None)  # 1: shut
            depth = (closure - BLINK[0]) / (BLINK[1] - BLINK[0])
            keep = smoothstep(depth) if upper > 0.5 else 0.0
            scaled = np.minimum(upper * closure, 1.0)
            return rest_gap * (1 - np.maximum(keep * closure + (1 - keep) * scaled, scaled))

        self.keepers = [
            GapKeeper(_pair(template, LIP_MIDLINE), field("mouthClose", lower), lips),
            *(
                GapKeeper(_pair(template, EYELID_CENTRE[side]), field(unit, 1 - lower), lids)
                for side, unit in (("left", "eyeBlinkLeft"), ("right", "eyeBlinkRight"))
            ),
        ]
        made = net.output_rows(rest)
        scaled = made if self.scale is None else net.output_rows(rest, self.scale)
        self.rows = scaled  # (K+1, V*3) output rows at these strengths (made once: 8 MB)
        self._made = np.stack([k.rows(made) for k in self.keepers], 1)  # (K+1, keepers)
        self._scaled = np.stack([k.rows(scaled) for k in self.keepers], 1)
        self._rest_gaps = [
            float(rest[a, 2] - rest[b, 2]) for a, b in (k.pair for k in self.keepers)
        ]
        pupils = {side: k.pair for side, k in zip(SIDES, self.keepers[EYES], strict=True)}
        self.seal = BlinkSeal(template, rest, 1 - lower, pupils)
        kept = np.stack([k.closing for k in self.keepers])  # (keepers, V*3)
        # each eye's margin gaps: [c, 1] @ from_rows + keeper weights @ from_keepers
        self._margins = [(c.gaps(scaled), c.gaps(kept)) for c in self.seal.columns]
        # (keepers + seal fields, V*3): the fields appended to the output basis, in order
        self.closing = np.vstack([kept, self.seal.fields])

    def extend(self, coeffs: np.ndarray) -> np.ndarray:
        """Coefficients with each closing field's weight appended."""
        ones = np.hstack([coeffs, np.ones((len(coeffs), 1), np.float32)])
        made, scaled = ones @ self._made, ones @ self._scaled
        keepers = list(zip(self.keepers, self._rest_gaps, strict=True))
        wanted = np.stack([k.intended(made[:, i], r) for i, (k, r) in enumerate(keepers)], 1)
        per_unit = np.array([k.per_unit for k in self.keepers])
        weights = (wanted - scaled) / per_unit
        margins = [
            ones @ from_rows + weights @ from_keepers for from_rows, from_keepers in self._margins
        ]
        seal = self.seal.weights(margins, list(wanted[:, EYES].T))
        return np.hstack([coeffs, weights, seal]).astype(np.float32)


def _pair(template, hm08: tuple[int, int]) -> tuple[int, int]:
    return landmark(template, hm08[0]), landmark(template, hm08[1])
