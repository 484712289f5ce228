"""Evaluation on recordings with no captured face (real human speech): the transcript is
force-aligned with pocketsphinx to find the phones, then P/B/M closure, open vowels, rounding
and blinks are scored on each method's output, and its lip gap is correlated with the
ceiling's (the corpus's face model on the alignment, `methods.Ceiling`); LVE and FDD need
ground-truth meshes and are left out. Long-pause clips (two recordings joined by
PAUSE_SECONDS of room tone or of digital silence) check that the eyes stay open when nobody
speaks.

A list file has one recording a line: `path<TAB>transcript` (relative paths from the file).
Recordings are scored in worker processes (`jobs`), each clip on its own, and pooled.
"""

from __future__ import annotations

import multiprocessing
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.align import AlignmentError, align_text
from ..data.phones import SIL, Phone
from ..runtime.audio import AudioError, load_audio
from ..runtime.template import load_template
from .cache import cached_phones
from .methods import Ceiling, Face, ceiling, run
from .scores import Totals, score, score_pause

RATE = 16000
FPS = 30.0
PAUSE_SECONDS = 5.0
ROOM_TONE_DBFS = -60.0  # RMS of the room tone's white noise
PAUSE_KINDS = ("room", "silence")
REFERENCE = "ceiling"


@dataclass(frozen=True)
class Recording:
    """One real recording: audio file, transcript, and the list (speaker set) it came from."""

    path: Path
    text: str
    source: str = ""


@dataclass
class RecordingTotals:
    """Scores pooled over all recordings, and per list, per method; what could not be used."""

    pooled: dict[str, Totals] = field(default_factory=dict)
    by_source: dict[str, dict[str, Totals]] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    recordings: int = 0
    pause_clips: int = 0

    def add(self, source: str, totals: dict[str, Totals]) -> None:
        for name, t in totals.items():
            self.pooled.setdefault(name, Totals()).add(t)
            self.by_source.setdefault(source, {}).setdefault(name, Totals()).add(t)


def read_list(path: Path) -> list[tuple[Path, str]]:
    items = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if "\t" not in line:
            raise ValueError(f"{path}:{n}: expected 'path<TAB>transcript'")
        audio, text = line.split("\t", 1)
        items.append(((Path(path).parent / audio).resolve(), text.strip()))
    return items


def read_recordings(paths: list[Path], limit: int | None = None) -> list[Recording]:
    """The recordings of several lists (the first `limit` of each), tagged by list name."""
    return [
        Recording(audio, text, Path(p).stem) for p in paths for audio, text in read_list(p)[:limit]
    ]


def room_tone(n: int, seed: int) -> np.ndarray:
    """Low-level white noise at ROOM_TONE_DBFS (RMS re full scale): a quiet room's floor."""
    rms = 10 ** (ROOM_TONE_DBFS / 20)
    return (np.random.default_rng(seed).standard_normal(n) * rms).astype(np.float32)


def pause_clip(
    first: np.ndarray, second: np.ndarray, kind: str, seed: int = 0
) -> tuple[np.ndarray, float, float]:
    """Two recordings joined by PAUSE_SECONDS of room tone or digital silence: the audio and
    the pause's start and end (s)."""
    n = int(PAUSE_SECONDS * RATE)
    if kind == "room":
        gap = room_tone(n, seed)
    elif kind == "silence":
        gap = np.zeros(n, np.float32)
    else:
        raise ValueError(f"pause kind must be one of {PAUSE_KINDS}, not {kind!r}")
    audio = np.concatenate([first, gap, second]).astype(np.float32)
    start = len(first) / RATE
    return audio, start, start + PAUSE_SECONDS


def pause_frames(start: float, end: float, fps: float = FPS) -> slice:
    """The video frames whose time (i / fps) lies inside the pause [start, end)."""
    return slice(int(np.ceil(start * fps - 1e-9)), int(np.ceil(end * fps - 1e-9)))


def join_phones(first: list[Phone], second: list[Phone], start: float, end: float) -> list[Phone]:
    """The phones of a pause clip: the first recording's, silence, the second's shifted."""
    return [
        *first,
        Phone(SIL, start, end),
        *(Phone(p.symbol, p.start + end, p.end + end) for p in second),
    ]


def n_frames(audio: np.ndarray, fps: float = FPS) -> int:
    return int(round(len(audio) / RATE * fps))


def clip_seed(path: Path) -> int:
    """A seed of the recording's name: the ceiling's blinks do not depend on list order."""
    return zlib.crc32(str(Path(path).name).encode())


# --- one clip, in a worker ---------------------------------------------------------------
# Worker state: set before the (fork) pool starts so the network's weights are not pickled.
_STATE: dict = {}


def _setup(methods: dict, cache: Path | None = None) -> None:
    template = load_template()
    _STATE.update(
        methods=methods,
        cache=cache,
        template=template,
        face=Face(template.vertices, template.arkit_deltas),
    )


def _single_thread_blas() -> None:
    """Two worker processes on two cores: one BLAS thread each, not two fighting for one."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - an optional speed-up
        return
    _STATE["blas_limit"] = threadpool_limits(limits=1)


def score_recording(rec: Recording) -> tuple[dict[str, Totals], list[Phone] | None, str]:
    """Every method's totals on one recording (and its aligned phones), or why it failed."""
    methods, template, face = _STATE["methods"], _STATE["template"], _STATE["face"]
    try:
        audio = load_audio(rec.path, RATE)
        phones = cached_phones(
            _STATE["cache"], "aligned", audio, rec.text, lambda: align_text(audio, RATE, rec.text)
        )
    except (AlignmentError, AudioError, OSError, ValueError) as exc:
        return {}, None, str(exc)
    n = n_frames(audio)
    seed = clip_seed(rec.path)
    reference = run(ceiling, audio, n, face, phones, seed)
    out = {}
    for name, method in methods.items():
        pred = (
            reference if isinstance(method, Ceiling) else run(method, audio, n, face, phones, seed)
        )
        out[name] = score(pred, None, face.rest, phones, template, FPS, reference=reference)
    return out, phones, ""


def score_pause_pair(
    task: tuple[Recording, Recording, list[Phone], list[Phone], str],
) -> dict[str, Totals]:
    """Every method's eyes-open counts on the pause of one pause clip."""
    first, second, phones_a, phones_b, kind = task
    methods, template, face = _STATE["methods"], _STATE["template"], _STATE["face"]
    a, b = load_audio(first.path, RATE), load_audio(second.path, RATE)
    seed = clip_seed(first.path) ^ clip_seed(second.path)
    audio, start, end = pause_clip(a, b, kind, seed)
    phones = join_phones(phones_a, phones_b, start, end)
    n = n_frames(audio)
    frames = pause_frames(start, end)
    return {
        name: score_pause(
            run(method, audio, n, face, phones, seed), face.rest, frames, kind, template
        )
        for name, method in methods.items()
    }


def score_recordings(
    items: list[Recording],
    methods: dict,
    pauses: int = 0,
    jobs: int = 1,
    progress: bool = True,
    cache: Path | None = None,
) -> RecordingTotals:
    """Totals of every method over the recordings (pooled and per list), plus `pauses` pause
    clips of each kind made of consecutive pairs of the recordings that aligned; forced
    alignments are kept in `cache` (a folder; None: none)."""
    _setup(methods, cache)
    result = RecordingTotals()
    pool = None
    if jobs > 1:
        context = multiprocessing.get_context("fork")
        pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_single_thread_blas)
    mapper = pool.map if pool else map
    try:
        aligned: list[tuple[Recording, list[Phone]]] = []
        for i, (rec, (totals, phones, error)) in enumerate(
            zip(items, mapper(score_recording, items), strict=True)
        ):
            if phones is None:
                result.skipped.append((rec.path, error))
            else:
                result.add(rec.source, totals)
                result.recordings += 1
                aligned.append((rec, phones))
            _progress(progress, f"{i + 1}/{len(items)} recordings")
        pairs = [(aligned[k], aligned[k + 1]) for k in range(0, len(aligned) - 1, 2)][:pauses]
        tasks = [(a, b, pa, pb, kind) for (a, pa), (b, pb) in pairs for kind in PAUSE_KINDS]
        for i, totals in enumerate(mapper(score_pause_pair, tasks)):
            for name, t in totals.items():
                result.pooled.setdefault(name, Totals()).add(t)
            _progress(progress, f"{i + 1}/{len(tasks)} pause clips")
        result.pause_clips = len(tasks)
    finally:
        if pool:
            pool.shutdown()
    if progress:
        print(file=sys.stderr)
    return result


def _progress(on: bool, text: str) -> None:
    if on:
        print(f"\r{text}   ", end="", file=sys.stderr, flush=True)


def summarize(totals: dict[str, Totals]) -> dict[str, dict[str, float]]:
    """Summary rows without LVE and FDD (no true face), with the minutes of speech scored."""
    out = {}
    for name, t in totals.items():
        row = t.summary()
        del row["LVE_mm"], row["FDD_mm"]
        out[name] = {"minutes": float(np.round(t.seconds / 60, 2))} | row
    return out


def evaluate_recordings(
    items: list[tuple[Path, str]] | list[Recording], methods: dict, pauses: int = 0, jobs: int = 1
) -> dict[str, dict[str, float]]:
    """Summaries per method pooled over the recordings, on the bundled head."""
    recs = [r if isinstance(r, Recording) else Recording(r[0], r[1]) for r in items]
    return summarize(score_recordings(recs, methods, pauses, jobs).pooled)
