"""Build the corpus on every core, resumably: shards already on disk are kept, missing ones
are made, and the manifest is rewritten after each shard so a killed build loses one shard."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from ..runtime.template import TEMPLATE_PATH
from .corpus import (
    FORMAT_VERSION,
    SPLITS,
    CorpusConfig,
    Job,
    jobs,
    load_manifest,
    load_split,
    read_shard,
    shard_is_complete,
    shard_path,
    voice_split,
    write_shard,
)
from .faces import DeltaStore
from .sentences import load_sentences
from .voices import list_voices


def _make_shard(root: str, shard: int, shard_jobs: list[Job], config: CorpusConfig) -> float:
    """Worker: make and write one shard; returns its speech seconds."""
    from .make import make_sequence

    sentences = load_sentences()
    made = [make_sequence(job, sentences[job.sentence], config) for job in shard_jobs]
    write_shard(shard_path(Path(root), shard), made)
    return sum(len(s.audio) for s in made) / config.sample_rate


def shard_seconds(path: Path, sample_rate: int) -> float:
    return sum(len(s.audio) for s in read_shard(path)) / sample_rate


def _manifest(root: Path, config: CorpusConfig, voices: list[str], seconds: dict[int, float]):
    manifest = {
        "format": FORMAT_VERSION,
        "config": config.to_json(),
        "voices": voices,
        "template_sha256": hashlib.sha256(TEMPLATE_PATH.read_bytes()).hexdigest(),
        "shards": {str(k): round(v, 3) for k, v in sorted(seconds.items())},
        "hours": round(sum(seconds.values()) / 3600, 4),
    }
    tmp = root / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(root / "manifest.json")


def build_corpus(
    root: Path, hours: float, config: CorpusConfig, workers: int | None = None, progress=True
) -> dict:
    """Make shards of the job stream, in order, until they hold `hours` of speech."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    voices = list(config.voices) or [v.id for v in list_voices()]
    if (root / "manifest.json").is_file():
        old = load_manifest(root)
        if CorpusConfig.from_json(old["config"]) != config or old["voices"] != voices:
            raise ValueError(
                f"{root} holds a corpus with another config or voice list; use a new --out folder"
            )
    n_sentences = len(load_sentences())
    stream = jobs(voices, n_sentences, config)
    per = config.sequences_per_shard
    seconds: dict[int, float] = {}
    workers = workers or os.cpu_count() or 1
    bar = _progress(hours, progress)
    with ProcessPoolExecutor(workers) as pool:
        pending: dict[int, Future] = {}
        for shard in itertools.count():
            while pending and (len(pending) >= workers or _enough(seconds, pending, hours)):
                first = min(pending)  # shards are alike in size: wait in order
                seconds[first] = pending.pop(first).result()
                _advance(bar, seconds[first])
                _manifest(root, config, voices, seconds)
            if sum(seconds.values()) >= hours * 3600:  # pending is empty here
                break
            shard_jobs = list(itertools.islice(stream, per))
            path = shard_path(root, shard)
            if shard_is_complete(path, per):
                seconds[shard] = shard_seconds(path, config.sample_rate)
                _advance(bar, seconds[shard])
            else:
                pending[shard] = pool.submit(_make_shard, str(root), shard, shard_jobs, config)
    bar.close()
    _manifest(root, config, voices, seconds)
    held = set(voice_split(voices, config).values())  # a training-only corpus has no val/test
    for split in [s for s in SPLITS if s in held]:  # the loader's face caches (derived, resumable)
        DeltaStore(root / "cache", f"{split}_deltas", load_split(root, split)).ensure(
            workers, progress
        )
    return load_manifest(root)


def _enough(seconds: dict[int, float], pending: dict, hours: float) -> bool:
    """Enough shards made or under way: finished ones plus an estimate for pending ones."""
    if not seconds:
        return False
    mean = sum(seconds.values()) / len(seconds)
    return sum(seconds.values()) + mean * len(pending) >= hours * 3600


def _advance(bar, seconds: float) -> None:
    """Count a finished shard; the last shard overshoots the target, so the total grows."""
    hours = seconds / 3600
    bar.total = max(bar.total, round(bar.n + hours, 3))
    bar.update(hours)


def _progress(hours: float, enabled: bool):
    from tqdm import tqdm

    fmt = "{l_bar}{bar}| {n:.2f}/{total:.2f} h of speech [{elapsed}<{remaining}]"
    return tqdm(total=round(hours, 3), unit="h", disable=not enabled, desc="corpus", bar_format=fmt)
