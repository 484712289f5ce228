"""Audio features of corpus sequences, computed once by the runtime's own front end
(`runtime.audio.features.clip_features`) and kept in a derived float16 memmap beside the
corpus: the phonetic front end scores ~16k Gaussians a frame and normalises over the whole
clip, far too slow to redo for every training window. Built resumably on both cores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..runtime.audio.features import clip_features, n_feature_frames
from ..runtime.config import NetworkConfig
from .cache import MemmapCache
from .corpus import Sequence_


def front_end_key(cfg: NetworkConfig) -> str:
    """A short name for the front-end settings: caches of other settings never mix."""
    fields = ("front_end", "phonetic_smoothing", "n_mels", "mel_centring", "hop_length")
    text = json.dumps({f: getattr(cfg, f) for f in fields}, sort_keys=True)
    return f"{cfg.front_end}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


class FeatureStore:
    """Features (frames, n_features) of every sequence of a split, in one memmap."""

    def __init__(
        self, folder: Path, split: str, sequences: Sequence[Sequence_], cfg: NetworkConfig
    ) -> None:
        self.sequences, self.cfg = list(sequences), cfg
        lengths = [n_feature_frames(len(s.audio), cfg) for s in self.sequences]
        self.starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        shape = (int(self.starts[-1]), cfg.n_features)
        name = f"{split}_features_{front_end_key(cfg)}"
        self.cache = MemmapCache(folder, name, shape, len(self.sequences))

    @property
    def store(self) -> np.ndarray:
        return self.cache.store

    def ensure(self, workers: int | None = None, progress: bool = True) -> None:
        """Compute every missing sequence (resumes: sequences are marked done in chunks)."""

        def write(out: np.ndarray, k: int, feats: np.ndarray) -> None:
            out[self.starts[k] : self.starts[k + 1]] = feats

        def job(items: np.ndarray) -> tuple[list[np.ndarray], NetworkConfig]:
            return [self.sequences[i].audio for i in items], self.cfg

        self.cache.fill(job, _features, write, 32, workers, progress)

    def window(self, k: int, first: int, n: int) -> np.ndarray:
        """(n, n_features) float32: frames [first, first + n) of sequence k, its first and
        last frame repeated past its ends (what the runtime's encoder reads there too)."""
        a, b = self.starts[k], self.starts[k + 1]
        index = np.clip(np.arange(first, first + n), 0, b - a - 1) + a
        return self.store[index].astype(np.float32)


def _features(job: tuple[list[np.ndarray], NetworkConfig]) -> list[np.ndarray]:
    pcms, cfg = job
    cfg = replace(cfg, loudness=True)  # the cache keeps every channel; Windows zeroes its own
    return [clip_features(p.astype(np.float32) / 32768.0, cfg).astype(np.float16) for p in pcms]
