"""Audio file in, animation out, outside Blender: the numpy network, frame-rate conversion
and the ARKit fit, for `python -m core animate` and for studio pipelines."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import n_video_frames, prepare_audio, read_audio
from .retarget import character_face, fit_arkit_weights
from .runtime import DEFAULT_CHUNK_FRAMES, Animator
from .template import ASSETS, Template, load_template
from .writers import Animation, PC2Writer, save_animation, write_pc2

WEIGHTS_PATH = ASSETS / "meshtalk.npz"
FPS_CHOICES = (24, 25, 30, 50, 60)


@dataclass(frozen=True)
class Options:
    """How to animate: the CLI's flags."""

    weights: Path = WEIGHTS_PATH
    fps: float = 30.0
    seed: int = 0
    temperature: float = 1.0
    lips_only: bool = False
    template: Path | None = None  # a neutral face with the template's topology (or hm08)
    format: str = "npz"


def neutral_face(path: Path | None, template: Template) -> np.ndarray | None:
    """The identity input: `vertices` of an .npz with the template's topology or an hm08
    character's mesh (picked through hm08 indices). None: the bundled head."""
    if path is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            verts = data["vertices"].astype(np.float32)
    except KeyError:
        raise ValueError(f"{path}: no 'vertices' array (see python -m core template)") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from None
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ValueError(f"{path}: vertices must be (V, 3), got {verts.shape}")
    if len(verts) == template.n_vertices:
        return verts
    return character_face(verts, template).template_input


def animate_file(audio_path: Path, animator: Animator, options: Options) -> Animation:
    """One clip: vertices at `options.fps` (template space) and their fitted ARKit weights.

    The vertices are built in memory (the .npz holds them all: 1.1 GB for 10 minutes at
    30 fps), but nothing else of that size is: chunks from the network are resampled to the
    frame rate and fitted as they arrive. For long clips prefer `animate_pc2`."""
    template = load_template()
    n_frames, blocks, rest = _stream_frames(audio_path, animator, options, template)
    verts = np.empty((n_frames, animator.n_vertices, 3), np.float32)
    weights = np.empty((n_frames, len(template.arkit_names)), np.float32)
    done = 0
    for block in blocks:
        verts[done : done + len(block)] = block
        # the fit is per frame: fitting chunk by chunk gives the same weights without a
        # (T, V, 3) array of offsets
        fit = fit_arkit_weights(block - rest, template.arkit_deltas)
        weights[done : done + len(block)] = fit.weights
        done += len(block)
    return Animation(verts, options.fps, template.source_index, template.arkit_names, weights)


def animate_pc2(audio_path: Path, out: Path, animator: Animator, options: Options) -> int:
    """Audio file -> PC2 point cache, streamed: each chunk of vertices goes from the network
    to the file and is dropped, so memory stays bounded whatever the clip's length (10
    minutes of vertices would be 1.1 GB). Returns the number of frames written."""
    template = load_template()
    n_frames, blocks, _ = _stream_frames(audio_path, animator, options, template)
    out.parent.mkdir(parents=True, exist_ok=True)
    with PC2Writer(out, animator.n_vertices, n_frames, start_frame=0, sample_rate=1.0) as pc2:
        for block in blocks:
            pc2.write(block)
    return n_frames


def _stream_frames(
    audio_path: Path, animator: Animator, options: Options, template: Template
) -> tuple[int, Iterator[np.ndarray], np.ndarray]:
    """(frame count at options.fps, blocks of vertices at options.fps in order, the rest
    face the offsets are measured from)."""
    if options.fps <= 0:
        raise ValueError(f"fps must be positive, got {options.fps}")
    samples, rate = read_audio(audio_path)
    rest = neutral_face(options.template, template)
    audio = prepare_audio(samples, rate, animator.config)
    del samples  # a 10-minute 44.1 kHz stereo file is 200 MB as float32
    pieces = animator.iter_animate(
        audio,
        rest,
        seed=options.seed,
        temperature=options.temperature,
        lips_only=options.lips_only,
        chunk_frames=DEFAULT_CHUNK_FRAMES,
    )
    n_in = n_video_frames(len(audio), animator.config)
    blocks, n_out = resample_stream((v for _, v in pieces), n_in, animator.fps, options.fps)
    return n_out, blocks, animator.default_template if rest is None else rest


_RESAMPLE_BLOCK = 256  # output frames converted at a time


def resample_stream(
    blocks: Iterator[np.ndarray], n_in: int, fps_in: float, fps_out: float
) -> tuple[Iterator[np.ndarray], int]:
    """`writers.resample_frames` for frames that arrive in blocks: (blocks at fps_out, their
    total count). Same arithmetic, so the frames equal the one-shot conversion; only the
    last frame of the previous block is kept."""
    if n_in < 1:
        raise ValueError("no frames to resample")
    if abs(fps_in - fps_out) < 1e-9:
        return blocks, n_in
    n_out = max(1, int(round(n_in * fps_out / fps_in)))
    pos = np.minimum(np.arange(n_out) * (fps_in / fps_out), n_in - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = (pos - i0).astype(np.float32)

    def convert() -> Iterator[np.ndarray]:
        first, done, held = 0, 0, None  # held: the frame before `first`
        for block in blocks:
            stop = first + len(block)
            ready = done + int(np.searchsorted(i1[done:], stop))  # outputs with i1 < stop
            for s in range(done, ready, _RESAMPLE_BLOCK):  # bounded temporaries
                e = min(ready, s + _RESAMPLE_BLOCK)
                lo = i0[s:e] - first  # -1: the held frame (i1 >= first always)
                a = block[np.maximum(lo, 0)]
                if held is not None:
                    a[lo < 0] = held
                f = frac[s:e, None, None]
                yield a * (1 - f) + block[i1[s:e] - first] * f
            done, held, first = ready, block[-1], stop
        if done != n_out:
            raise ValueError(f"resampling: got {first} of {n_in} frames")

    return convert(), n_out


def write(anim: Animation, out: Path, fmt: str) -> Path:
    """npz: the animation schema. pc2: a point cache of the vertices (Blender's Mesh Cache)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pc2":
        write_pc2(out, anim.vertices, start_frame=0, sample_rate=1.0)
        return out
    return save_animation(out, anim)


_worker: Animator | None = None


def _init(weights: Path) -> None:
    global _worker
    _worker = Animator(weights)


def _one(job: tuple[Path, Path, Options]) -> str:
    audio, out, options = job
    if options.format == "pc2":
        animate_pc2(audio, out, _worker, options)
    else:
        write(animate_file(audio, _worker, options), out, options.format)
    return str(out)


def animate_many(jobs: list[tuple[Path, Path]], options: Options, workers: int = 2) -> list[str]:
    """Several clips on `workers` processes, each loading the network once."""
    Animator(options.weights)  # fail early, in the caller's process, on a bad weights file
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(options.weights,)) as pool:
        return list(pool.map(_one, [(a, o, options) for a, o in jobs]))
