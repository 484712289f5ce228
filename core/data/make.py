"""Make one corpus sequence from its job: speech, lips, upper face, face identity, augmentation.

The lips are driven by the phones (and loudness); the upper face is drawn from its own seeded
processes, touched only by prosody, so the network cannot read blinks off the audio.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..runtime.audio import resample
from .align import AlignmentError
from .articulation import SpeakerStyle, articulate
from .augment import augment, room_tone
from .corpus import CorpusConfig, Job, Sequence_, split_words, trait_seed
from .identities import identity_unit_deltas, identity_vertices, sample_identity
from .mouth import calibrate
from .phones import SIL, Phone
from .upper_face import UpperFaceHabits, upper_face
from .voices import synthesize

CUT_FADE_S = 0.01  # fade at a cut into a synthesiser's edge silence (no click)


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


def speak(job: Job, text: str, seed: int, sample_rate: int) -> tuple[np.ndarray, list[Phone]]:
    """The job's voice saying `text` at its rate, pitch and loudness: audio at `sample_rate`
    and the phones."""
    try:
        utt = synthesize(
            text, job.voice, rate=job.rate, pitch=job.pitch, volume=job.volume, seed=seed
        )
    except AlignmentError:  # rare (programs with no timeline); their own reading aligns
        utt = synthesize(text, job.voice, volume=job.volume, seed=seed)
    return resample(utt.audio, utt.sample_rate, sample_rate), list(utt.phones)


def join_with_pause(
    first: tuple[np.ndarray, Sequence[Phone]],
    second: tuple[np.ndarray, Sequence[Phone]],
    pause: float,
    sample_rate: int,
) -> tuple[np.ndarray, list[Phone], Phone]:
    """Two utterances (audio, phones) as one, `pause` s of silence from the end of the
    first's speech to the start of the second's: one "sil" phone of that length (returned
    too), made of the synthesisers' own edge silences and digital zero between them. Edge
    silences longer than the pause together (festival's diphone voices end on ~0.5 s) are
    cut at their outer ends, with a short fade."""
    (a1, p1), (a2, p2) = first, second
    sil_start = p1[-1].start if p1[-1].symbol == SIL else p1[-1].end
    sil_end = p2[0].end if p2[0].symbol == SIL else p2[0].start
    tail = max(len(a1) - int(round(sil_start * sample_rate)), 0)
    head = max(int(round(sil_end * sample_rate)), 0)
    want = int(round(pause * sample_rate))
    cut1 = cut2 = 0
    if tail + head > want:
        keep_tail = int(tail * want / (tail + head))
        cut1, cut2 = tail - keep_tail, head - (want - keep_tail)
        fade = int(CUT_FADE_S * sample_rate)
        a1 = _fade(a1[: len(a1) - cut1], fade if cut1 else 0, at_end=True)
        a2 = _fade(a2[cut2:], fade if cut2 else 0, at_end=False)
    gap = np.zeros(max(want - (tail - cut1) - (head - cut2), 0), np.float32)
    shift = (len(a1) + len(gap) - cut2) / sample_rate  # time of the second's old sample 0
    kept1 = list(p1[:-1]) if p1[-1].symbol == SIL else list(p1)
    kept2 = p2[1:] if p2[0].symbol == SIL else p2
    silence = Phone(SIL, sil_start, sil_end + shift)  # = sil_start + pause, to a sample
    phones = [*kept1, silence, *(Phone(p.symbol, p.start + shift, p.end + shift) for p in kept2)]
    audio = np.concatenate([a1, gap, a2]).astype(np.float32)
    return audio, phones, silence


def _fade(audio: np.ndarray, n: int, at_end: bool) -> np.ndarray:
    """A copy with a linear fade over `n` samples at its end (out) or its start (in)."""
    out = np.array(audio, np.float32)
    n = min(n, len(out))
    if n:
        ramp = np.linspace(0.0, 1.0, n, endpoint=False, dtype=np.float32)
        if at_end:
            out[len(out) - n :] *= ramp[::-1]
        else:
            out[:n] *= ramp
    return out


def make_sequence(job: Job, text: str, config: CorpusConfig) -> Sequence_:
    """Synthesize and animate one job (pure function of its fields and the corpus config).
    A paused job speaks its sentence as two utterances with the pause between them."""
    rng = np.random.default_rng(job.seed)
    parts = split_words(text, job.pause_at) if job.pause > 0 else None
    audio, phones = speak(job, parts[0] if parts else text, job.seed, config.sample_rate)
    silence = None
    if parts:
        seed2 = int(np.random.default_rng([job.seed, 2]).integers(2**31))
        second = speak(job, parts[1], seed2, config.sample_rate)
        joined = join_with_pause((audio, phones), second, job.pause, config.sample_rate)
        audio, phones, silence = joined
        if job.tone:  # the room under the whole take, as a microphone hears it
            tone_rng = np.random.default_rng([job.seed, 3])
            audio = audio + room_tone(
                len(audio), config.sample_rate, tone_rng, job.tone, job.tone_dbfs
            )
    n_frames = int(round(len(audio) / config.sample_rate * config.fps))
    rms = frame_rms(audio, config.sample_rate, config.fps, n_frames)
    pitch = frame_pitch(audio, config.sample_rate, config.fps, n_frames)
    # The pause is no prosody: room tone at -45 dBFS under quiet speech passes the voicing
    # gate and gives YIN "pitch" and the brows accents in noise. Zero it, as digital zero is.
    energy = rms
    if silence is not None:
        t = np.arange(n_frames) / config.fps
        inside = (t > silence.start + 1.0 / config.fps) & (t < silence.end - 1.0 / config.fps)
        energy, pitch = np.where(inside, 0.0, rms), np.where(inside, 0.0, pitch)

    identity = sample_identity(int(rng.integers(2**31))).coeffs
    calibration = calibrate(identity_vertices(identity), identity_unit_deltas(identity))
    mouth = articulate(
        phones,
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
        pitch=pitch,
        energy=energy,
    )
    weights = np.clip(mouth + brows_eyes, 0.0, 1.0)

    name = ""
    if job.split == "train" and rng.random() < config.augment_probability:
        audio, name = augment(audio, config.sample_rate, rng)
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
    return Sequence_(job, pcm, weights.astype(np.float16), identity, phones, name)
