"""What is evaluated: each method maps a test sequence (its audio and neutral face) to vertices.

- meshtalk: the numpy runtime with codes sampled from the audio-conditioned prior.
- static: the neutral face, never moving (the floor every method must beat).
- phones: the Rhubarb-style baseline: pocketsphinx's phone recogniser (no transcript) drives
  the corpus's own articulation model on the same face (so only recognition errors separate
  it from the ground truth's lips).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..data.articulation import SpeakerStyle, articulate
from ..data.faces import sequence_vertices
from ..data.identities import identity_unit_deltas, identity_vertices
from ..data.make import frame_rms
from ..data.mouth import calibrate
from ..template import apply_units
from .phone_recognizer import recognize_phones


@dataclass(frozen=True)
class Face:
    """A test sequence's face: neutral vertices (V, 3) and its unit deltas (52, V, 3)."""

    rest: np.ndarray
    deltas: np.ndarray

    def pose(self, weights: np.ndarray) -> np.ndarray:
        return apply_units(self.rest, self.deltas, weights)


Method = Callable[[np.ndarray, int, Face], np.ndarray]  # (audio16k, n_frames, face) -> verts


def corpus_case(seq) -> tuple[np.ndarray, Face, np.ndarray]:
    """A corpus sequence as a method meets it: its audio (float32, 16 kHz), its identity's
    face, and the true vertices (T, V, 3) the method is scored against."""
    deltas = identity_unit_deltas(seq.identity)
    face = Face(identity_vertices(seq.identity), deltas)
    return seq.audio.astype(np.float32) / 32768.0, face, sequence_vertices(seq, deltas)


def static(audio: np.ndarray, n: int, face: Face) -> np.ndarray:
    return np.repeat(face.rest[None], n, axis=0)


def phone_baseline(audio: np.ndarray, n: int, face: Face, fps: float = 30.0) -> np.ndarray:
    phones = recognize_phones(audio)
    weights = articulate(
        phones,
        fps=fps,
        style=SpeakerStyle.mean(),
        rms=frame_rms(audio, 16000, fps, n),
        n_frames=n,
        calibration=calibrate(face.rest, face.deltas),
    )
    return face.pose(weights)


@dataclass(frozen=True)
class Network:
    """A method running the exported network (numpy runtime) with codes sampled by `seed`."""

    animator: object
    seed: int = 0
    temperature: float = 1.0
    lips_only: bool = False

    def __call__(self, audio: np.ndarray, n: int, face: Face) -> np.ndarray:
        verts = self.animator.animate(
            audio, face.rest, seed=self.seed, temperature=self.temperature, lips_only=self.lips_only
        )
        if len(verts) < n:  # the runtime rounds up; pad the rare short one with its last frame
            verts = np.concatenate([verts, np.repeat(verts[-1:], n - len(verts), axis=0)])
        return verts[:n]

    def with_seed(self, seed: int) -> Network:
        return replace(self, seed=seed)


def meshtalk(weights_path, seed: int = 0, temperature: float = 1.0) -> Network:
    from ..runtime import Animator

    return Network(Animator(weights_path), seed, temperature)
