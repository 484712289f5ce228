"""Numpy runtime of the MeshTalk network: audio in, vertex animation out.

    from core.runtime.network import Animator
    anim = Animator("core/runtime/assets/meshtalk.npz")
    verts = anim.animate(audio16k, seed=0)           # (T, V, 3) at anim.fps

Long clips stream in chunks with receptive-field-sized overlap (`iter_animate`,
`coefficients`), so memory stays bounded and results equal the one-shot pass.
Imports numpy and the standard library only (works inside Blender).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import (
    AudioError,
    n_video_frames,
    prepare_audio,
    video_positions,
)
from ..audio.features import clip_features
from ..blas import blas_threads
from ..config import NetworkConfig
from .modules import AudioEncoder, Decoder, Prior
from .temperature import frame_temperatures
from .weights import (
    WeightsMismatchError,
    load_weights,
)

# 20 s of video per chunk: 37 MB of vertices, and a one-minute clip already has three
# chunks for the worker thread to overlap; each chunk's encoder also reads 0.5 s of context
# on either side, i.e. 5% more encoder work than one pass (20% at 5 s chunks).
DEFAULT_CHUNK_FRAMES = 600


class Animator:
    """A loaded network. Calls keep all their state locally (the weights are read-only), so
    one Animator can serve several threads."""

    def __init__(
        self, weights_path: str | Path, n_vertices: int | None = None, *, overlap: bool = True
    ) -> None:
        """Load and validate the weights file (raises a WeightsError subclass if unusable);
        `n_vertices`: the caller's mesh vertex count, checked against the model's.
        `overlap`: while this thread runs the frame loops (prior, LSTMs: Python loops, one
        core) of a chunk, a worker thread prepares the next chunk's audio side (encoder,
        noise) and the previous chunk's vertices (matrix products that release the GIL),
        and the phonetic front end scores its Gaussians on two threads, so a free second
        core does useful work. Same results either way. On by default: it costs no CPU time
        now that OpenBLAS runs on one thread during a run (its own spinning threads were
        what made the worker cost 2-4% before); benchmarks/bench_runtime.py times both."""
        self.overlap = overlap
        self.weights = load_weights(weights_path, n_vertices)
        self.config: NetworkConfig = self.weights.config
        self.audio_encoder = AudioEncoder(self.weights)
        self.prior = Prior(self.weights)
        self.decoder = Decoder(self.weights)
        self.default_template = self.weights["extra.default_template"]
        self.lips_mask = self.weights["extra.lips_mask"]
        # temperature 1 means the training data's upper-face activity: the file's scales were
        # chosen on the validation split, in speech and in pauses (`temperature`)
        meta = self.weights.meta
        self.temperature_scale = float(meta.get("temperature_scale", 1.0))
        pause = meta.get("pause_temperature_scale")
        self.pause_temperature_scale = None if pause is None else float(pause)

    @property
    def fps(self) -> int:
        return self.config.fps

    @property
    def n_vertices(self) -> int:
        return self.config.n_vertices

    # ------------------------------------------------------------------------------------
    def animate(
        self,
        audio16k: np.ndarray,
        template_vertices: np.ndarray | None = None,
        seed: int = 0,
        temperature: float = 1.0,
        lips_only: bool = False,
        *,
        sample_rate: int | None = None,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    ) -> np.ndarray:
        """Absolute vertices (T, V, 3) float32, one frame per 1/fps s of audio.

        audio16k: mono float samples at 16 kHz (other rates, int PCM or multi-channel if
        `sample_rate` is given). template_vertices: (V, 3) neutral face of the character
        (default: the bundled template). seed/temperature: the upper face is sampled from
        the prior; temperature 0 takes the most likely codes. lips_only: only the lower face
        moves (offsets faded out over the upper face by the file's lips mask).
        Materialises T*V*3 floats (1.1 GB for 10 min): use iter_animate for long audio."""
        template = self.check_template(template_vertices)
        audio = self._audio(audio16k, sample_rate)
        out = np.empty((n_video_frames(len(audio), self.config), self.n_vertices, 3), np.float32)
        rows = self.decoder.output_basis(self.lips_mask if lips_only else None, template)

        def finish(start: int, coeffs: np.ndarray) -> None:
            self.decoder.apply_basis(coeffs, rows, out[start : start + len(coeffs)])

        for _ in self._stream(audio, template, seed, temperature, chunk_frames, finish):
            pass
        return out

    def iter_animate(
        self,
        audio16k: np.ndarray,
        template_vertices: np.ndarray | None = None,
        seed: int = 0,
        temperature: float = 1.0,
        lips_only: bool = False,
        *,
        sample_rate: int | None = None,
        chunk_frames: int = 300,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Like `animate`, as (first_frame, vertices (n, V, 3)) pieces of at most
        `chunk_frames` frames: bounded memory for writers that stream (PC2, shape keys)."""
        template = self.check_template(template_vertices)
        audio = self._audio(audio16k, sample_rate)
        rows = self.decoder.output_basis(self.lips_mask if lips_only else None, template)

        def finish(start: int, coeffs: np.ndarray) -> np.ndarray:
            return self.decoder.apply_basis(coeffs, rows)

        for start, _, _, verts in self._stream(
            audio, template, seed, temperature, chunk_frames, finish
        ):
            yield start, verts

    def iter_coefficients(
        self,
        audio16k: np.ndarray,
        template_vertices: np.ndarray | None = None,
        seed: int = 0,
        temperature: float = 1.0,
        *,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        features: np.ndarray | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(first frame, coefficients (n, K)) per chunk: the whole animation in K numbers per
        frame. Vertices are `[coeffs, 1] @ output_rows(...)`: affine in the coefficients, so
        frame-rate conversion, per-vertex strength and a shape-key basis can all work on
        these few numbers instead of (T, V, 3) arrays. `features`: the clip's
        `clip_features(audio16k, config)` if the caller made them already."""
        template = self.check_template(template_vertices)
        audio = self._audio(audio16k, None)
        chunks = self._stream(audio, template, seed, temperature, chunk_frames, None, features)
        for start, coeffs, _, _ in chunks:
            yield start, coeffs

    def output_rows(
        self, base: np.ndarray | None = None, scale: np.ndarray | None = None
    ) -> np.ndarray:
        """(K+1, V*3) rows that turn [coefficients, 1] into vertices: `base` (V, 3) plus the
        network's offsets, each vertex's offset scaled by `scale` (V,) if given."""
        base = None if base is None else self.check_template(base)
        return self.decoder.output_basis(scale, base)

    def coefficients(
        self,
        audio16k: np.ndarray,
        template_vertices: np.ndarray | None = None,
        seed: int = 0,
        temperature: float = 1.0,
        *,
        sample_rate: int | None = None,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(coefficients (T, K), codes (T, H)): the whole animation in K numbers per frame.
        Offsets are `offsets_from_coefficients(coeffs)`, linear in the coefficients, so a
        clip can also be stored as K shape keys (`shape_basis`) with keyframed values."""
        template = self.check_template(template_vertices)
        audio = self._audio(audio16k, sample_rate)
        parts = list(self._stream(audio, template, seed, temperature, chunk_frames))
        coeffs = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, 0), np.float32)
        codes = np.concatenate([p[2] for p in parts]) if parts else np.zeros((0, 0), np.int64)
        return coeffs, codes

    def offsets_from_coefficients(self, coeffs: np.ndarray, lips_only: bool = False) -> np.ndarray:
        """Coefficients (T, K) -> offsets (T, V, 3) from the template, in metres."""
        mask = self.lips_mask if lips_only else None
        return self.decoder.offsets(np.asarray(coeffs, np.float32), mask)

    def shape_basis(self, lips_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(mean offset (V, 3), basis (K, V, 3)): offsets = mean + coeffs @ basis."""
        mean = self.decoder.out_mean.copy()
        basis = self.decoder.basis.reshape(-1, self.n_vertices, 3).copy()
        if lips_only:
            mean *= self.lips_mask[:, None]
            basis *= self.lips_mask[None, :, None]
        return mean, basis

    def sample_codes(
        self, audio16k: np.ndarray, seed: int = 0, temperature: float = 1.0
    ) -> np.ndarray:
        """Codes (T, H) sampled from the prior for this audio."""
        return self.coefficients(audio16k, seed=seed, temperature=temperature)[1]

    # stages, exposed for tests and tools ----------------------------------------------
    def audio_features(self, audio16k: np.ndarray) -> np.ndarray:
        """Audio encoder features (T, D) at the video rate (one-shot)."""
        audio, cfg = self._audio(audio16k, None), self.config
        return self._features(clip_features(audio, cfg), 0, n_video_frames(len(audio), cfg))

    def decode_codes(
        self, codes: np.ndarray, template_vertices: np.ndarray | None = None
    ) -> np.ndarray:
        """Codes (T, H) -> offsets (T, V, 3): the decoder alone."""
        ident = self.decoder.identity(self.check_template(template_vertices))
        coeffs, _ = self.decoder.coefficients(np.asarray(codes, np.int64), ident)
        return self.decoder.offsets(coeffs)

    # internals ------------------------------------------------------------------------
    def check_template(self, template_vertices: np.ndarray | None) -> np.ndarray:
        if template_vertices is None:
            return self.default_template
        template = np.asarray(template_vertices, np.float32)
        if template.shape != (self.n_vertices, 3):
            raise WeightsMismatchError(
                f"template has shape {template.shape}; this model animates meshes of "
                f"({self.n_vertices}, 3) vertices (the template head's topology)"
            )
        return template

    def _audio(self, audio: np.ndarray, sample_rate: int | None) -> np.ndarray:
        cfg = self.config
        if sample_rate is not None:
            audio = prepare_audio(audio, sample_rate, cfg.sample_rate)
        audio = np.asarray(audio)
        if audio.ndim != 1 or audio.dtype.kind != "f":
            raise AudioError(
                f"expected mono float audio at {cfg.sample_rate} Hz, got {audio.dtype} "
                f"{audio.shape}; pass sample_rate= to convert"
            )
        if len(audio) == 0:
            raise AudioError("empty audio")
        return audio.astype(np.float32, copy=False)

    def _stream(
        self,
        audio: np.ndarray,
        template: np.ndarray,
        seed: int,
        temperature: float,
        chunk_frames: int,
        finish: Callable[[int, np.ndarray], Any] | None = None,
        features: np.ndarray | None = None,
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray, Any]]:
        """(first frame, coefficients, codes, finish(first frame, coefficients)) per chunk of
        video frames, in order; `features`: the clip's `clip_features`, if already made.

        The encoder of a chunk sees its mel frames plus `audio_half_context` on each side,
        so its features equal the one-shot pass; prior and LSTMs carry their state. With
        `overlap`, chunk k+1's audio side and chunk k's `finish` (the vertex product) run on
        a worker thread while this thread runs chunk k+1's frame loops; the worker takes
        them in that order, so the next chunk's features are never queued behind vertices.

        OpenBLAS runs on one thread until the run ends (also while the caller holds a
        chunk): its own threads would spin or stall next to the frame loops and the worker,
        and one thread computes the same numbers."""
        if chunk_frames < 1:
            raise ValueError("chunk_frames must be >= 1")
        with blas_threads(1):
            if features is None:  # the whole clip's, before the first chunk
                features = clip_features(audio, self.config, self.feature_workers)
            yield from self._chunks(
                audio, features, template, seed, temperature, chunk_frames, finish
            )

    @property
    def feature_workers(self) -> int:
        """Threads for the audio features (the phonetic front end's Gaussians)."""
        return 2 if self.overlap else 1

    def _chunks(
        self,
        audio: np.ndarray,
        features: np.ndarray,
        template: np.ndarray,
        seed: int,
        temperature: float,
        chunk_frames: int,
        finish: Callable[[int, np.ndarray], Any] | None,
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray, Any]]:
        """`_stream`'s work."""
        cfg = self.config
        n_frames = n_video_frames(len(audio), cfg)
        starts = list(range(0, n_frames, chunk_frames))
        rng = None if temperature <= 0 else np.random.default_rng(seed)  # used in chunk order
        scales = self.temperature_scale, self.pause_temperature_scale
        temperature = frame_temperatures(features, n_frames, cfg, temperature, *scales)
        ident = self.decoder.identity(template)
        prior_state = self.prior.initial_state()
        decoder_state = self.decoder.initial_state()

        def prepare(start: int) -> tuple[np.ndarray, np.ndarray]:
            """The audio side of a chunk: encoder features and the logits' offsets."""
            stop = min(n_frames, start + chunk_frames)
            temp = temperature if np.ndim(temperature) == 0 else temperature[start:stop]
            offsets = self.prior.logit_offsets(rng, stop - start, temp)
            return self._features(features, start, stop), offsets

        def loops(feats: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            nonlocal decoder_state
            codes = self.prior.sample_with(feats, prior_state, offsets)
            coeffs, decoder_state = self.decoder.coefficients(codes, ident, decoder_state)
            return coeffs, codes

        if not self.overlap or len(starts) < 2:
            for start in starts:
                coeffs, codes = loops(*prepare(start))
                yield start, coeffs, codes, finish(start, coeffs) if finish else None
            return
        pool = ThreadPoolExecutor(1, thread_name_prefix="meshtalk-runtime")
        try:
            ahead = pool.submit(prepare, starts[0])
            held = None  # the previous chunk, yielded once its `finish` is done
            for k, start in enumerate(starts):
                feats, offsets = ahead.result()
                if k + 1 < len(starts):
                    ahead = pool.submit(prepare, starts[k + 1])
                coeffs, codes = loops(feats, offsets)
                done = pool.submit(finish, start, coeffs) if finish else None
                if held is not None:
                    yield held[0], held[1], held[2], held[3].result() if held[3] else None
                held = (start, coeffs, codes, done)
            yield held[0], held[1], held[2], held[3].result() if held[3] else None
        finally:  # also when the consumer stops early: no thread outlives the call
            pool.shutdown(wait=True, cancel_futures=True)

    def _features(self, features: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Encoder outputs (stop - start, D) of video frames [start, stop) from the clip's
        audio features (`clip_features`): the encoder runs on the feature frames those
        video frames read plus `audio_half_context` on each side, so chunks equal the
        one-shot pass; its last layer only at the frames the video frames read."""
        cfg = self.config
        n_feat = len(features)
        i0, i1, w = video_positions(start, stop, n_feat, cfg, clamp=cfg.front_end == "logmel")
        margin = cfg.audio_half_context
        lo, hi = int(i0[0]) - margin, int(i1[-1]) + margin + 1
        if cfg.front_end == "logmel":  # as trained: the encoder's zero padding at the ends
            lo, hi = max(0, lo), min(n_feat, hi)
            window = features[lo:hi]
        else:  # as trained: the clip's first and last frame repeated past its ends
            window = features[np.clip(np.arange(lo, hi), 0, n_feat - 1)]
        i1 = np.where(w > 0, i1, i0)  # weight 0 (every third frame): i0 alone
        rows, where = np.unique(np.concatenate([i0, i1]) - lo, return_inverse=True)
        feats = self.audio_encoder(window, rows)
        return _interpolate(feats, where[: len(w)], where[len(w) :], w)


def _interpolate(feats: np.ndarray, i0: np.ndarray, i1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mel-rate features -> video rate, the same arithmetic as core.model.to_video_rate."""
    return feats[i0] * (1 - w)[:, None] + feats[i1] * w[:, None]
