"""What is evaluated: each method maps a test sequence (its audio and neutral face) to vertices.

- meshtalk: the numpy runtime with codes sampled from the audio-conditioned prior.
- static: the neutral face, never moving (the floor every method must beat).
- phones: the Rhubarb-style baseline: pocketsphinx's phone recogniser (no transcript) drives
  the corpus's own articulation model on the same face (so only recognition errors separate
  it from the ground truth's lips).
- ceiling: the corpus's own face model (articulation + upper face) driven by the transcript's
  forced alignment: on real speech, the best the corpus can teach a network; the reference
  its lip gap is correlated with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..data.articulation import SpeakerStyle, articulate
from ..data.faces import sequence_vertices
from ..data.identities import identity_unit_deltas, identity_vertices
from ..data.make import frame_pitch, frame_rms
from ..data.mouth import calibrate
from ..data.phones import Phone
from ..data.upper_face import UpperFaceHabits, blink_closure_weight, upper_face
from ..runtime.session import Session
from ..runtime.settings import Settings
from ..runtime.template import apply_units
from .cache import cached_phones
from .phone_recognizer import recognize_phones


@dataclass(frozen=True)
class Face:
    """A test sequence's face: neutral vertices (V, 3) and its unit deltas (52, V, 3)."""

    rest: np.ndarray
    deltas: np.ndarray

    def pose(self, weights: np.ndarray) -> np.ndarray:
        return apply_units(self.rest, self.deltas, weights)


# (audio16k, n_frames, face) -> verts; the ceiling also takes the phones (see `run`)
Method = Callable[..., np.ndarray]


def corpus_case(seq) -> tuple[np.ndarray, Face, np.ndarray]:
    """A corpus sequence as a method meets it: its audio (float32, 16 kHz), its identity's
    face, and the true vertices (T, V, 3) the method is scored against."""
    deltas = identity_unit_deltas(seq.identity)
    face = Face(identity_vertices(seq.identity), deltas)
    return seq.audio.astype(np.float32) / 32768.0, face, sequence_vertices(seq, deltas)


def static(audio: np.ndarray, n: int, face: Face) -> np.ndarray:
    return np.repeat(face.rest[None], n, axis=0)


@dataclass(frozen=True)
class PhoneBaseline:
    """The Rhubarb-style baseline; `cache`: a folder where recognised phones are kept
    (`cache.cached_phones`), so re-running an evaluation skips the recogniser."""

    fps: float = 30.0
    cache: Path | None = None

    def __call__(self, audio: np.ndarray, n: int, face: Face) -> np.ndarray:
        phones = cached_phones(self.cache, "recognised", audio, "", lambda: recognize_phones(audio))
        weights = articulate(
            phones,
            fps=self.fps,
            style=SpeakerStyle.mean(),
            rms=frame_rms(audio, 16000, self.fps, n),
            n_frames=n,
            calibration=calibrate(face.rest, face.deltas),
        )
        return face.pose(weights)


phone_baseline = PhoneBaseline()


@dataclass(frozen=True)
class Ceiling:
    """The corpus's face model on a clip's forced alignment: lips from the articulation model
    (mean speaker style), upper face from its seeded processes with the clip's prosody
    (default habits), as `make_sequence` builds a training sequence. Needs the
    phones, so it is called with them: `ceiling(audio, n, face, phones, seed)`."""

    fps: float = 30.0
    needs_phones: bool = True

    def __call__(
        self, audio: np.ndarray, n: int, face: Face, phones: list[Phone], seed: int = 0
    ) -> np.ndarray:
        rms = frame_rms(audio, 16000, self.fps, n)
        mouth = articulate(
            phones,
            fps=self.fps,
            style=SpeakerStyle.mean(),
            rms=rms,
            n_frames=n,
            calibration=calibrate(face.rest, face.deltas),
        )
        brows_eyes = upper_face(
            n,
            fps=self.fps,
            seed=seed,
            habits=UpperFaceHabits(),
            pitch=frame_pitch(audio, 16000, self.fps, n),
            energy=rms,
            closure_weight=blink_closure_weight(face.rest, face.deltas),
        )
        return face.pose(np.clip(mouth + brows_eyes, 0.0, 1.0))


ceiling = Ceiling()


def run(
    method: Method, audio: np.ndarray, n: int, face: Face, phones: list[Phone], seed: int = 0
) -> np.ndarray:
    """A method's vertices (n, V, 3) on a clip; the transcript's phones only reach the methods
    that are meant to see them (the ceiling)."""
    if getattr(method, "needs_phones", False):
        return method(audio, n, face, phones, seed)
    return method(audio, n, face)


@dataclass(frozen=True)
class Network:
    """A method running the exported network through the product's own inference path
    (`runtime.session.Session`), so strengths and expressiveness act as they do for users."""

    animator: object
    settings: Settings = Settings()

    def __call__(self, audio: np.ndarray, n: int, face: Face) -> np.ndarray:
        session = Session(self.settings, face.rest, network=self.animator)
        verts = np.concatenate([session.vertices(b) for b in session.run(audio, 16000)])
        if len(verts) < n:  # the runtime rounds up; pad the rare short one with its last frame
            verts = np.concatenate([verts, np.repeat(verts[-1:], n - len(verts), axis=0)])
        return verts[:n]

    def with_seed(self, seed: int) -> Network:
        return replace(self, settings=replace(self.settings, seed=seed))


def meshtalk(weights_path, **settings) -> Network:
    """The network of `weights_path` with `Settings` fields (seed, temperature, strengths)."""
    from ..runtime.network import Animator

    return Network(Animator(weights_path), Settings(**settings))
