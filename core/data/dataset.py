"""PyTorch access to the corpus: aligned (log-mel, vertices, template) windows.

Vertices are rebuilt on the fly from the stored ARKit weights and the sequence's face
(identity vertices + weights @ identity-transferred unit deltas), so the corpus stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..runtime.audio import log_mel, utterance_offset
from ..runtime.audio.features import n_feature_frames, switched_off
from ..train.config import ModelConfig
from .augment import colour_mel, mask_mel, random_colour, warp_mel
from .corpus import Sequence_, load_split
from .faces import DeltaStore
from .features import FeatureStore
from .phones import BILABIALS, phone_spans

MARGIN_S = 1.0  # audio around a window: covers the encoder's 0.5 s context either side


def audio_window(seq: Sequence_, t0: int, n: int, fps: float, sr: int) -> np.ndarray:
    """Audio of frames [t0, t0 + n) with MARGIN_S either side (silence past the ends)."""
    a = int(round((t0 / fps - MARGIN_S) * sr))
    b = int(round(((t0 + n) / fps + MARGIN_S) * sr))
    pcm = seq.audio[max(a, 0) : max(b, 0)].astype(np.float32) / 32768.0
    return np.pad(pcm, (max(-a, 0), (b - a) - len(pcm) - max(-a, 0)))


class Windows(Dataset):
    """Random windows of `frames` video frames from one split.

    Item i is a pure function of (seed, epoch, i). Returns mel (N, n_mels) for the window plus
    MARGIN_S either side, `start` (the window's first frame within that mel, in video frames),
    vertices (frames, V, 3), template (V, 3) (the sequence's neutral face), `bilabial`
    (frames,): which frames are inside a P/B/M phone (`_bilabial`), the index of the
    sequence (so a batch can pair audio and expression of different sequences) and of its
    voice in `voices` (the split's voices, sorted: the voice adversary's classes)."""

    def __init__(
        self,
        root: Path | Sequence[Path],
        split: str,
        frames: int,
        cfg: ModelConfig,
        length: int,
        seed: int = 0,
        mel_warp: float = 0.0,
        mel_colour: float = 0.0,
        mel_masks: int = 0,
        edge_frames: int = 0,
    ) -> None:
        roots = [root] if isinstance(root, (str, Path)) else list(root)
        parts = [load_split(Path(r), split) for r in roots]
        self.sequences = [s for part in parts for s in part]
        self.voices = sorted({s.job.voice for s in self.sequences})
        self._voice = {v: i for i, v in enumerate(self.voices)}
        sizes = np.array([max(len(s.weights) - frames + 1, 0) for s in self.sequences], float)
        if not sizes.sum():
            raise ValueError(f"no {split} sequence has {frames} frames")
        self.frames, self.cfg, self.length, self.seed = frames, cfg, length, seed
        self.mel_warp = mel_warp  # each window's log-mel warped by a factor in 1 -/+ this
        self.mel_colour = mel_colour  # ... and recoloured (random_colour's strength)
        self.mel_masks = mel_masks  # ... and masked (mask_mel)
        # A window may start up to edge_frames before a sequence or end as far after it, where
        # the silence goes on: zero audio, the first or last frame's face. Why: a frame k from
        # an end is in only k + 1 of the windows that fit, so the silences at the ends, which
        # are most of a sentence's silence, were trained on a fraction as often as speech.
        self.edge_frames = edge_frames
        self.epoch = 0
        self.p = sizes / sizes.sum()  # every window equally likely; too short: never
        # The cache covers the whole split, whatever the window length, so all stages and
        # runs on one corpus share it. Sequence k's faces: store self.faces[k], row self.row[k].
        pairs = zip(roots, parts, strict=True)
        stores = [DeltaStore(Path(r) / "cache", f"{split}_deltas", p) for r, p in pairs]
        for store in stores:
            store.ensure()
        self.faces = [store for store, part in zip(stores, parts, strict=True) for _ in part]
        self.row = [k for part in parts for k in range(len(part))]
        # the phonetic front end's features come from a per-split cache (like the faces)
        self.features: list[FeatureStore] = []
        if cfg.front_end != "logmel":
            feature_stores = [
                FeatureStore(Path(r) / "cache", split, p, cfg)
                for r, p in zip(roots, parts, strict=True)
            ]
            for store in feature_stores:
                store.ensure()
            self.features = [s for s, part in zip(feature_stores, parts, strict=True) for _ in part]
        self._offsets: dict[int, np.ndarray] = {}  # sequence -> its utterance_offset

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        return self._window(rng, int(rng.choice(len(self.sequences), p=self.p)))

    def pair(self, i: int) -> list[dict[str, torch.Tensor]]:
        """Two windows of different sequences (other voice when there is one): the
        cross-modality loss decodes each one's audio with the other's expression."""
        rng = np.random.default_rng([self.seed, self.epoch, i, 1])
        a = int(rng.choice(len(self.sequences), p=self.p))
        voice = self.sequences[a].job.voice
        others = self.p * np.array([s.job.voice != voice for s in self.sequences])
        if others.sum() == 0:
            others = self.p * (np.arange(len(self.sequences)) != a)
        b = int(rng.choice(len(self.sequences), p=others / others.sum()))
        return [self._window(rng, a), self._window(rng, b)]

    def _window(self, rng: np.random.Generator, k: int) -> dict[str, torch.Tensor]:
        seq = self.sequences[k]
        edge, n = self.edge_frames, len(seq.weights)
        t0 = int(rng.integers(-edge, n - self.frames + 1 + edge))
        cfg = self.cfg
        if self.features:  # the clip's cached features, cut like the audio window below
            first = int(round((t0 / cfg.fps - MARGIN_S) * cfg.mel_fps))
            n = n_feature_frames(
                round((self.frames / cfg.fps + 2 * MARGIN_S) * cfg.sample_rate), cfg
            )
            mel = switched_off(self.features[k].window(self.row[k], first, n), cfg)
        else:
            audio = audio_window(seq, t0, self.frames, cfg.fps, cfg.sample_rate)
            mel = log_mel(audio, cfg)
            if cfg.mel_centring != "none":  # the whole sequence's offset, as the runtime's
                mel = mel - self._offset(k)
            if self.mel_warp:  # no draw when off: windows of runs without it stay the same
                mel = warp_mel(mel, rng.uniform(1 - self.mel_warp, 1 + self.mel_warp))
            if self.mel_colour:
                mel = colour_mel(mel, *random_colour(mel.shape[-1], self.mel_colour, rng))
        if self.mel_masks:
            mel = mask_mel(mel, self.mel_masks, rng)
        return {
            "mel": torch.from_numpy(np.ascontiguousarray(mel, np.float32)),
            "start": torch.tensor(int(round(MARGIN_S * cfg.fps))),
            "vertices": torch.from_numpy(self._vertices(k, t0)),
            "template": torch.from_numpy(self.faces[k].rest(self.row[k]).astype(np.float32)),
            "bilabial": torch.from_numpy(self._bilabial(k, t0)),
            "sequence": torch.tensor(k),
            "voice": torch.tensor(self._voice[seq.job.voice]),
        }

    def _offset(self, k: int) -> np.ndarray:
        if k not in self._offsets:
            pcm = self.sequences[k].audio.astype(np.float32) / 32768.0
            self._offsets[k] = utterance_offset(pcm, self.cfg)
        return self._offsets[k]

    def _bilabial(self, k: int, t0: int) -> np.ndarray:
        """(frames,) int8 of frames [t0, t0 + frames) of sequence k: j > 0 inside the window's
        j-th whole P/B/M phone (the frames the closure score reads), -1 inside one the window
        cuts, 0 elsewhere (and past the sequence's ends)."""
        seq = self.sequences[k]
        out = np.zeros(self.frames, np.int8)
        j = 0
        for frames in phone_spans(seq.phones, BILABIALS, len(seq.weights), self.cfg.fps):
            inside = frames[(frames >= t0) & (frames < t0 + self.frames)] - t0
            whole = len(inside) == len(frames)
            j += whole
            out[inside] = j if whole else -1
        return out

    def _vertices(self, k: int, t0: int) -> np.ndarray:
        """Frames [t0, t0 + frames) of sequence k; past its ends, its first or last frame."""
        n, t1 = len(self.sequences[k].weights), t0 + self.frames
        lo, hi = max(t0, 0), min(t1, n)
        verts = self.faces[k].vertices(self.row[k], lo, hi)
        if lo == t0 and hi == t1:
            return verts
        return np.concatenate(
            [np.repeat(verts[:1], lo - t0, axis=0), verts, np.repeat(verts[-1:], t1 - hi, axis=0)]
        )
