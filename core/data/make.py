"""Make one corpus sequence from its job: speech, lips, upper face, face identity, augmentation.

The lips are driven by the phones (and loudness); the upper face is drawn from its own seeded
processes, touched only by prosody, so the network cannot read blinks off the audio.
"""

from __future__ import annotations

import numpy as np

from ..audio import resample
from .align import AlignmentError
from .articulation import SpeakerStyle, articulate
from .augment import augment
from .corpus import CorpusConfig, Job, Sequence_, trait_seed
from .identities import identity_unit_deltas, identity_vertices, sample_identity
from .mouth import calibrate
from .upper_face import UpperFaceHabits, upper_face
from .voices import synthesize


def frame_rms(audio: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """Loudness per video frame (RMS over a window of one frame centred on it)."""
    hop = sample_rate / fps
    centres = (np.arange(n_frames) * hop).astype(int)
    half = int(hop)
    padded = np.pad(audio.astype(np.float64), half)
    sq = np.concatenate([[0.0], np.cumsum(padded**2)])
    return np.sqrt((sq[centres + 2 * half] - sq[centres]) / (2 * half)).astype(np.float32)


def frame_pitch(audio: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """F0 per video frame in Hz, 0 where unvoiced (librosa's YIN: fast, good enough for
    finding pitch accents)."""
    import librosa

    hop = int(round(sample_rate / fps))
    f0 = librosa.yin(
        audio.astype(np.float32),
        fmin=60,
        fmax=400,
        sr=sample_rate,
        frame_length=1024,
        hop_length=hop,
    )
    f0 = np.resize(f0, n_frames) if len(f0) >= n_frames else np.pad(f0, (0, n_frames - len(f0)))
    rms = frame_rms(audio, sample_rate, fps, n_frames)
    return np.where(rms > 0.1 * rms.max(initial=1e-9), f0, 0.0).astype(np.float32)


def make_sequence(job: Job, text: str, config: CorpusConfig) -> Sequence_:
    """Synthesize and animate one job (pure function of its fields and the corpus config)."""
    rng = np.random.default_rng(job.seed)
    try:
        utt = synthesize(
            text, job.voice, rate=job.rate, pitch=job.pitch, volume=job.volume, seed=job.seed
        )
    except AlignmentError:  # rare (programs with no timeline); their own reading aligns
        utt = synthesize(text, job.voice, volume=job.volume, seed=job.seed)
    audio = resample(utt.audio, utt.sample_rate, config.sample_rate)
    n_frames = int(round(len(audio) / config.sample_rate * config.fps))
    rms = frame_rms(audio, config.sample_rate, config.fps, n_frames)

    identity = sample_identity(int(rng.integers(2**31))).coeffs
    calibration = calibrate(identity_vertices(identity), identity_unit_deltas(identity))
    mouth = articulate(
        utt.phones,
        fps=config.fps,
        style=SpeakerStyle.sample(trait_seed(job, config, config.styles)),
        rms=rms,
        n_frames=n_frames,
        calibration=calibration,
    )
    brows_eyes = upper_face(
        n_frames,
        fps=config.fps,
        seed=int(rng.integers(2**31)),
        habits=UpperFaceHabits.sample(trait_seed(job, config, config.habits)),
        pitch=frame_pitch(audio, config.sample_rate, config.fps, n_frames),
        energy=rms,
    )
    weights = np.clip(mouth + brows_eyes, 0.0, 1.0)

    name = ""
    if job.split == "train" and rng.random() < config.augment_probability:
        audio, name = augment(audio, config.sample_rate, rng)
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
    return Sequence_(job, pcm, weights.astype(np.float16), identity, list(utt.phones), name)
