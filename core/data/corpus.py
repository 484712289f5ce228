"""The training corpus: a deterministic stream of (speech, ARKit weights, identity) sequences,
stored compactly in resumable shards with a manifest.

Every sequence is a pure function of (corpus seed, sequence index): its voice, sentence (and
where a long pause splits it), speaking rate/pitch/loudness, face, speaking style, upper-face
seed and audio augmentation.
So any shard can be rebuilt exactly, a killed build resumes at the first missing shard, and
`--hours` only decides how many shards of the stream are built.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..runtime.npzio import save_npz
from .augment import ROOM_TONES
from .phones import PHONE_SET, Phone

SPLITS = ("train", "val", "test")
PHONE_SYMBOLS = tuple(sorted(PHONE_SET))
FORMAT_VERSION = 1
OWNERS = ("sequence", "voice")  # who owns a person's traits: each sequence, or its voice


@dataclass(frozen=True)
class CorpusConfig:
    """What a corpus is made of. Stored in the manifest; a resumed build must match it."""

    seed: int = 0
    fps: float = 30.0
    sample_rate: int = 16000
    sequences_per_shard: int = 64
    voices: tuple[str, ...] = ()  # the voices to use; empty: every registered voice
    # Whole voices held out, from several engines, so val/test measure unheard speakers.
    val_voices: tuple[str, ...] = ("espeak:en-gb-scotland+f4", "flite:rms")
    test_voices: tuple[str, ...] = (
        "espeak:en-029+m4",
        "flite:awb",
        "festival:cmu_us_slt_arctic_hts",
    )
    held_out_sentence_fraction: float = 0.08  # each of val and test
    augment_probability: float = 0.75  # of training sequences; val/test stay clean
    rate_range: tuple[float, float] = (0.8, 1.25)
    pitch_range: tuple[float, float] = (0.85, 1.2)
    volume_range: tuple[float, float] = (0.5, 1.0)
    # Who owns a person's traits, "sequence" (drawn per sequence) or "voice" (per voice): the
    # upper-face habits (blink rate, brow activity, ...) and the speaking style (lip range, jaw
    # habits, resting smile, asymmetry, lead). Why per sequence: a voice does not tell how
    # often its speaker blinks or how they move their mouth, and each sequence has its own
    # face; per voice, the network learns each training voice's traits and gives an unheard
    # voice some training voice's (docs/RESULTS.md, `habits` and `styles`).
    habits: str = "sequence"
    styles: str = "sequence"
    # Long pauses. Users' edited dialogue holds pauses of 0.5-6 s of digital zero or room
    # tone; single sentences have only short natural ones, and a network that never heard a
    # long silence let the eyes sag in them. In this share of sequences the sentence is
    # spoken as two utterances, split at a word boundary, with a pause between them
    # (log-uniform in `pause_range`, speech to speech) whose audio is digital zero
    # (`pause_silent` of them) or room tone at `room_tone_range` dBFS. Manifests without the
    # key had no pauses (from_json reads 0).
    pause_probability: float = 0.35
    pause_range: tuple[float, float] = (0.5, 6.0)
    pause_silent: float = 0.4
    room_tone_range: tuple[float, float] = (-70.0, -45.0)

    def __post_init__(self) -> None:
        for key in ("habits", "styles"):
            if getattr(self, key) not in OWNERS:
                raise ValueError(f"{key} must be one of {OWNERS}, not {getattr(self, key)!r}")
        for key in ("pause_probability", "pause_silent"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key} must be in [0, 1], not {getattr(self, key)!r}")
        lo, hi = self.pause_range
        if not 0.0 < lo <= hi:
            raise ValueError(f"pause_range must be 0 < low <= high, not {self.pause_range}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CorpusConfig:
        # manifests written before these keys had per-voice traits and no long pauses
        data = {"habits": "voice", "styles": "voice", "pause_probability": 0.0} | data
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True)
class Job:
    """One sequence to make: everything random about it is drawn from `seed`."""

    index: int
    split: str
    voice: str
    sentence: int
    rate: float
    pitch: float
    volume: float
    seed: int
    # A paused sequence (CorpusConfig.pause_probability): the sentence is split after the
    # share `pause_at` of its words, and the two parts are `pause` s apart (speech to
    # speech), the pause digital zero (`tone` "") or room tone of that colour at `tone_dbfs`.
    # Defaults: no pause (and the jobs of shards written before pauses).
    pause: float = 0.0
    pause_at: float = 0.0
    tone: str = ""
    tone_dbfs: float = 0.0


@dataclass
class Sequence_:
    """One made sequence, as stored (audio at `sample_rate`, weights at `fps`)."""

    job: Job
    audio: np.ndarray  # (S,) int16
    weights: np.ndarray  # (T, 52) float16
    identity: np.ndarray  # (n_identity,) float32 identity coefficients
    phones: list[Phone] = field(default_factory=list)
    augment: str = ""


def sentence_split(n_sentences: int, config: CorpusConfig) -> np.ndarray:
    """Split name per sentence: held-out sentences for val and test, the rest train."""
    rng = np.random.default_rng([config.seed, 1])
    order = rng.permutation(n_sentences)
    k = int(round(config.held_out_sentence_fraction * n_sentences))
    split = np.full(n_sentences, "train", dtype=object)
    split[order[:k]] = "val"
    split[order[k : 2 * k]] = "test"
    return split


def voice_split(voices: Sequence[str], config: CorpusConfig) -> dict[str, str]:
    """Split name per voice: whole voices are held out for val and test."""
    unknown = set(config.val_voices + config.test_voices) - set(voices)
    if unknown:
        raise ValueError(f"held-out voices not available: {sorted(unknown)}")
    if set(config.val_voices) & set(config.test_voices):
        raise ValueError("a voice cannot be both val and test")
    split = {v: "train" for v in voices}
    split.update({v: "val" for v in config.val_voices})
    split.update({v: "test" for v in config.test_voices})
    if "train" not in split.values():
        raise ValueError("no training voices left")
    return split


def jobs(voices: Sequence[str], n_sentences: int, config: CorpusConfig) -> Iterator[Job]:
    """The endless, deterministic job stream. Sequence i's split is drawn with the held-out
    proportions, then a voice and a sentence of that split, so splits are disjoint in both."""
    by_voice = voice_split(voices, config)
    by_sentence = sentence_split(n_sentences, config)
    pools = {
        s: ([v for v in voices if by_voice[v] == s], np.flatnonzero(by_sentence == s))
        for s in SPLITS
    }
    held = config.held_out_sentence_fraction
    weights = np.array([1.0 - 2 * held, held, held])
    weights = np.where([bool(pools[s][0]) and len(pools[s][1]) > 0 for s in SPLITS], weights, 0)
    weights /= weights.sum()
    index = 0
    while True:
        rng = np.random.default_rng([config.seed, 2, index])
        split = SPLITS[rng.choice(3, p=weights)]
        split_voices, split_sentences = pools[split]
        job = Job(
            index=index,
            split=split,
            voice=split_voices[rng.integers(len(split_voices))],
            sentence=int(split_sentences[rng.integers(len(split_sentences))]),
            rate=float(rng.uniform(*config.rate_range)),
            pitch=float(rng.uniform(*config.pitch_range)),
            volume=float(rng.uniform(*config.volume_range)),
            seed=int(rng.integers(2**31)),
        )
        yield _with_pause(job, config)
        index += 1


def _with_pause(job: Job, config: CorpusConfig) -> Job:
    """The job, made a paused one with probability `config.pause_probability`. Its own stream
    ([seed, 3, index]), so the draws of the job itself are those of corpora without pauses.
    Why one sentence split rather than two joined: the same speech per sequence, and no
    sequence longer than the longest sentence plus the longest pause."""
    rng = np.random.default_rng([config.seed, 3, job.index])
    if rng.random() >= config.pause_probability:
        return job
    at = float(rng.uniform(0.2, 0.8))  # share of the words before the pause
    lo, hi = config.pause_range
    pause = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))  # short pauses are commoner
    tone, dbfs = "", 0.0
    if rng.random() >= config.pause_silent:
        tone = ROOM_TONES[int(rng.integers(len(ROOM_TONES)))]
        dbfs = float(rng.uniform(*config.room_tone_range))
    return replace(job, pause=pause, pause_at=at, tone=tone, tone_dbfs=dbfs)


def split_words(text: str, at: float) -> tuple[str, str] | None:
    """`text` cut at the word boundary nearest the share `at` of its words, each part at
    least one word; None for a single word."""
    words = text.split()
    if len(words) < 2:
        return None
    k = min(max(int(round(at * len(words))), 1), len(words) - 1)
    return " ".join(words[:k]), " ".join(words[k:])


def voice_seed(voice: str, config: CorpusConfig) -> int:
    """A stable per-voice seed: the seed of a voice's traits when the voice owns them."""
    return zlib.crc32(f"{config.seed}:{voice}".encode())


def trait_seed(job: Job, config: CorpusConfig, owner: str) -> int:
    """The seed of one of a sequence's traits (`config.habits`, `config.styles`): its own
    seed, or its voice's."""
    return job.seed if owner == "sequence" else voice_seed(job.voice, config)


# --- shards ------------------------------------------------------------------------------


def shard_path(root: Path, shard: int) -> Path:
    return root / "shards" / f"shard_{shard:05d}.npz"


def write_shard(path: Path, sequences: Sequence[Sequence_]) -> None:
    """Concatenate a shard's sequences into flat arrays with offsets (compact, no pickle)."""
    audio_len = np.array([len(s.audio) for s in sequences], np.int64)
    frames = np.array([len(s.weights) for s in sequences], np.int64)
    n_phones = np.array([len(s.phones) for s in sequences], np.int64)
    code = {p: i for i, p in enumerate(PHONE_SYMBOLS)}
    phones = [p for s in sequences for p in s.phones]
    jobs_json = json.dumps([asdict(s.job) | {"augment": s.augment} for s in sequences])
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npz(
        path,
        {
            "audio": np.concatenate([s.audio for s in sequences]).astype(np.int16),
            "audio_offsets": np.concatenate([[0], np.cumsum(audio_len)]),
            "weights": np.concatenate([s.weights for s in sequences]).astype(np.float16),
            "frame_offsets": np.concatenate([[0], np.cumsum(frames)]),
            "identity": np.stack([s.identity for s in sequences]).astype(np.float32),
            "phone_symbol": np.array([code[p.symbol] for p in phones], np.int16),
            "phone_time": np.array([[p.start, p.end] for p in phones], np.float32).reshape(-1, 2),
            "phone_offsets": np.concatenate([[0], np.cumsum(n_phones)]),
            "jobs": np.array(jobs_json),
        },
    )


def read_shard(path: Path) -> list[Sequence_]:
    """The sequences of one shard (the inverse of write_shard)."""
    with np.load(path, allow_pickle=False) as npz:
        d = {k: npz[k] for k in npz.files}  # once each: every npz[k] decompresses again
    a, f, p = d["audio_offsets"], d["frame_offsets"], d["phone_offsets"]
    out = []
    for i, meta in enumerate(json.loads(str(d["jobs"]))):
        augment = meta.pop("augment")
        syms = d["phone_symbol"][p[i] : p[i + 1]].tolist()
        times = d["phone_time"][p[i] : p[i + 1]].tolist()
        phones = [Phone(PHONE_SYMBOLS[s], t0, t1) for s, (t0, t1) in zip(syms, times, strict=True)]
        out.append(
            Sequence_(
                job=Job(**meta),
                audio=d["audio"][a[i] : a[i + 1]],
                weights=d["weights"][f[i] : f[i + 1]],
                identity=d["identity"][i],
                phones=phones,
                augment=augment,
            )
        )
    return out


def shard_is_complete(path: Path, expected: int) -> bool:
    """A shard counts only if it reads back whole (a killed writer leaves no partial file,
    but a truncated copy must not be trusted either)."""
    try:
        with np.load(path, allow_pickle=False) as d:
            return len(d["frame_offsets"]) == expected + 1
    except (OSError, ValueError, KeyError, EOFError):
        return False


def load_manifest(root: Path) -> dict:
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no corpus at {root} (missing manifest.json): build one with "
            f"`python -m core.data build --out {root}`"
        )
    return json.loads(path.read_text())


def load_split(root: Path, split: str) -> list[Sequence_]:
    """Every sequence of one split, in shard order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    manifest = load_manifest(root)
    out = []
    for shard in sorted(int(k) for k in manifest["shards"]):
        out += [s for s in read_shard(shard_path(Path(root), shard)) if s.job.split == split]
    if not out:
        raise ValueError(f"{root} has no {split} sequences")
    return out
