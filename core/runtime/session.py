"""The one inference path, for the command line and the Blender add-on alike:

    samples → 16 kHz → network, chunk by chunk → frames at the requested rate → outputs

`Session.run` yields `Block`s of frames as they are made, with progress and cancel, so no
caller ever holds a (T, V, 3) array of a whole clip: a block carries the network's K
coefficients per frame, and vertices (or offsets) are one matrix product away
(`Session.vertices`). The add-on's writers and `animate_file` consume the same blocks.
"""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .audio import AudioError, n_video_frames, prepare_audio, read_audio
from .audio.features import clip_features
from .blas import blas_threads
from .config import NetworkConfig
from .framerate import resample_stream
from .network import DEFAULT_CHUNK_FRAMES, Animator, WeightsError, read_config
from .retarget import character_face
from .settings import Settings
from .strength import Strength
from .template import ASSETS, Template, load_template

if TYPE_CHECKING:
    from .outputs.files import Writer

WEIGHTS_PATH = ASSETS / "meshtalk.npz"

Progress = Callable[[float], None]
IsCancelled = Callable[[], bool]


class Cancelled(Exception):
    """The caller's `cancelled()` said stop."""


@dataclass(frozen=True)
class Block:
    """Frames [start, start + len) at the session's frame rate, as network coefficients."""

    start: int
    coefficients: np.ndarray  # (n, K) float32

    def __len__(self) -> int:
        return len(self.coefficients)


_networks: dict[tuple[str, int], Animator] = {}
_networks_lock = threading.Lock()


def load_network(path: Path | None = None) -> Animator:
    """The network of a weights file (default: the bundled one), loaded once per process and
    again when the file changes."""
    path = Path(path or WEIGHTS_PATH)
    if not path.is_file():
        raise WeightsError(f"network weights file not found: {path}")
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    with _networks_lock:
        if key not in _networks:
            _networks.clear()
            _networks[key] = Animator(path)
        return _networks[key]


class Session:
    """One clip's inference with fixed settings and a fixed neutral face."""

    def __init__(
        self,
        settings: Settings,
        rest: np.ndarray | None = None,
        network: Animator | None = None,
    ) -> None:
        """`rest`: the neutral face (V, 3) in the template's frame that the network animates
        (a character's own face: identity conditioning); None: the bundled head."""
        self.settings = settings
        self.network = network or load_network(settings.weights)
        net = self.network
        self.rest = net.default_template if rest is None else net.check_template(rest)
        self.strength = Strength(settings, net, self.rest)
        # [c, 1] @ rows = vertices at the settings' strengths; the closing fields that keep
        # seals and blinks (`Strength`) are the last coefficients
        rows = self.strength.rows
        self._rows = np.vstack([rows[:-1], self.strength.closing, rows[-1:]])
        self.n_frames = 0  # known once `run` has read the audio

    @property
    def fps(self) -> float:
        return self.settings.fps

    def run(
        self,
        samples: np.ndarray,
        sample_rate: int,
        progress: Progress | None = None,
        cancelled: IsCancelled | None = None,
        *,
        features: np.ndarray | None = None,
    ) -> Iterator[Block]:
        """Blocks of frames at `settings.fps`, in order, covering the clip. `samples`: any
        PCM or float, mono or multi-channel; `progress(fraction)` after each block;
        `cancelled()` is asked before each block and stops the run with `Cancelled`.
        `features`: the clip's `clip_features`, if made already (`animate_file`)."""
        net, s = self.network, self.settings
        audio = network_audio(samples, sample_rate, net.config)
        n_in = n_video_frames(len(audio), net.config)
        chunks = net.iter_coefficients(
            audio,
            self.rest,
            s.seed,
            s.temperature,
            chunk_frames=DEFAULT_CHUNK_FRAMES,
            features=features,
        )
        blocks, self.n_frames = resample_stream((c for _, c in chunks), n_in, net.fps, s.fps)
        done = 0
        for coeffs in _checked(blocks, cancelled):
            coeffs = self.strength.extend(np.asarray(coeffs, np.float32))
            yield Block(done, coeffs)
            done += len(coeffs)
            if progress:
                progress(done / self.n_frames)

    def run_file(
        self,
        path: str | Path,
        progress: Progress | None = None,
        cancelled: IsCancelled | None = None,
    ) -> Iterator[Block]:
        """`run` on an audio file (WAV natively; other formats with soundfile/librosa)."""
        samples, rate = read_audio(path)
        return self.run(samples, rate, progress, cancelled)

    def vertices(self, block: Block, out: np.ndarray | None = None) -> np.ndarray:
        """(n, V, 3) float32 vertices of a block, in the template's frame; written into
        `out` if given (a writer's buffer, reused block after block)."""
        return self.network.decoder.apply_basis(block.coefficients, self._rows, out)

    def offsets(self, block: Block, out: np.ndarray | None = None) -> np.ndarray:
        """(n, V, 3) float32 displacement from the neutral face (into `out` if given)."""
        verts = self.vertices(block, out)
        verts -= self.rest
        return verts

    def affine_rows(self) -> np.ndarray:
        """(K+1, V*3): offsets of a frame = [coefficients, 1] @ rows. For a shape-key basis
        computed from the coefficients alone (`outputs.basis.basis_from_coefficients`)."""
        rows = self._rows.copy()
        rows[-1] -= self.rest.reshape(-1)
        return rows


def network_audio(samples: np.ndarray, sample_rate: int, config: NetworkConfig) -> np.ndarray:
    """Any samples as the network's input: mono at its rate, not empty, finite."""
    audio = prepare_audio(samples, sample_rate, config.sample_rate)
    if len(audio) == 0:
        raise AudioError("the audio has no samples")
    if not np.isfinite(audio).all():
        raise AudioError("the audio contains NaN or infinite samples")
    return audio


def _checked(blocks: Iterator[np.ndarray], cancelled: IsCancelled | None) -> Iterator:
    for block in blocks:
        if cancelled is not None and cancelled():
            raise Cancelled
        yield block


def neutral_face(path: Path | None, template: Template) -> np.ndarray | None:
    """The identity input from an .npz's `vertices`: the template's topology, or an hm08
    character's mesh (its face picked through hm08 indices). None: the bundled head."""
    if path is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            verts = data["vertices"].astype(np.float32)
    except KeyError:
        raise ValueError(f"{path}: no 'vertices' array (see `meshtalk template`)") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from None
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ValueError(f"{path}: vertices must be (V, 3), got {verts.shape}")
    if len(verts) == template.n_vertices:
        return verts
    return character_face(verts, template).template_input


# ---------------------------------------------------------------------------------------
# files: audio file in, animation file out (the CLI)


def animate_file(
    audio: Path,
    out: Path,
    settings: Settings,
    template_face: Path | None = None,
    fmt: str | None = None,
    compress: bool = False,
    progress: Progress | None = None,
) -> int:
    """Animate one audio file into one output file, streamed block by block; returns the
    number of frames. The format follows `out`'s suffix (`outputs.files.FORMATS`)."""
    from .outputs.files import open_writer

    template = load_template()
    face = neutral_face(template_face, template)
    clip, network, features = _read_while_loading(Path(audio), settings)
    session = Session(settings, face, network)
    blocks = session.run(clip, network.config.sample_rate, progress, features=features)
    first = next(blocks, None)  # the frame count is known from here
    if first is None:
        raise AudioError(f"{audio}: no frames")
    with open_writer(out, fmt, session, template, compress=compress) as writer:
        write_blocks(writer, _chain(first, blocks), session.network.overlap)
    return session.n_frames


def _read_while_loading(audio: Path, settings: Settings) -> tuple[np.ndarray, Animator, np.ndarray]:
    """(the clip at the network's rate, the network, the clip's features). The network loads
    on a worker thread (inflating its arrays releases the GIL) while this thread decodes the
    audio and runs the front end, which need only the weights file's config."""
    config = read_config(settings.weights or WEIGHTS_PATH)
    with ThreadPoolExecutor(1, thread_name_prefix="meshtalk-load") as pool:
        network = pool.submit(load_network, settings.weights)
        samples, rate = read_audio(audio)
        clip = network_audio(samples, rate, config)
        del samples
        with blas_threads(1):  # as `Animator._stream` runs it; two threads: its default
            features = clip_features(clip, config, workers=2)
        return clip, network.result(), features


def write_blocks(writer: Writer, blocks: Iterator[Block], overlap: bool = True) -> None:
    """Every block into `writer`. With `overlap`, storing a block (vertex product, file)
    runs on a worker thread while this thread makes the next block (the network's frame
    loops): two cores at work, at most one block behind. This thread also takes each block
    (the ARKit fit's right-hand side) and, after the last one, fits the clip's ARKit weights
    while the worker stores that block. OpenBLAS stays on one thread meanwhile
    (`Animator._stream`), so the numbers do not depend on which thread ran."""
    with blas_threads(1):
        if not overlap:
            for block in blocks:
                writer.write(block)
            return
        with ThreadPoolExecutor(1, thread_name_prefix="meshtalk-writer") as pool:
            pending = None
            for block in blocks:
                writer.take(block)
                if pending is not None:
                    pending.result()  # errors surface at once; memory stays bounded
                pending = pool.submit(writer.store, block)
            writer.seal()
            if pending is not None:
                pending.result()


def _chain(first: Block, rest: Iterator[Block]) -> Iterator[Block]:
    yield first
    yield from rest


_job_settings: Settings | None = None


def _init_worker(settings: Settings) -> None:
    global _job_settings
    _job_settings = settings
    load_network(settings.weights)


def _one_job(job: tuple[Path, Path, Path | None, str | None, bool]) -> str:
    audio, out, template_face, fmt, compress = job
    animate_file(audio, out, _job_settings, template_face, fmt, compress)
    return str(out)


def animate_files(
    jobs: list[tuple[Path, Path]],
    settings: Settings,
    template_face: Path | None = None,
    fmt: str | None = None,
    compress: bool = False,
    workers: int = 2,
) -> Iterator[str]:
    """Several clips on `workers` processes, each loading the network once; yields each
    output path as it is written."""
    from concurrent.futures import ProcessPoolExecutor  # imports multiprocessing: only here

    load_network(settings.weights)  # fail early, in the caller's process, on a bad file
    args = [(a, o, template_face, fmt, compress) for a, o in jobs]
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(settings,)) as pool:
        yield from pool.map(_one_job, args)
