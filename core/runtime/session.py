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
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import AudioError, n_video_frames, prepare_audio, read_audio
from .framerate import resample_stream
from .network import DEFAULT_CHUNK_FRAMES, Animator, WeightsError
from .retarget import character_face, fit_arkit_weights
from .settings import Settings
from .template import ASSETS, Template, load_template

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
        # [c, 1] @ network rows = vertices at the settings' strengths; the seal keeper's row
        # (a lip-closing field) is a last coefficient when the mouth's strength is not 1
        rows = net.output_rows(self.rest, self.strength.scale)
        if self.strength.keeps_seals:
            rows = np.vstack([rows[:-1], self.strength.closing[None], rows[-1:]])
        self._rows = rows
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
    ) -> Iterator[Block]:
        """Blocks of frames at `settings.fps`, in order, covering the clip. `samples`: any
        PCM or float, mono or multi-channel; `progress(fraction)` after each block;
        `cancelled()` is asked before each block and stops the run with `Cancelled`."""
        net, s = self.network, self.settings
        audio = prepare_audio(samples, sample_rate, net.config.sample_rate)
        if len(audio) == 0:
            raise AudioError("the audio has no samples")
        if not np.isfinite(audio).all():
            raise AudioError("the audio contains NaN or infinite samples")
        n_in = n_video_frames(len(audio), net.config)
        chunks = net.iter_coefficients(
            audio, self.rest, s.seed, s.temperature, chunk_frames=DEFAULT_CHUNK_FRAMES
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

    def vertices(self, block: Block) -> np.ndarray:
        """(n, V, 3) float32 vertices of a block, in the template's frame."""
        return self.network.decoder.apply_basis(block.coefficients, self._rows)

    def offsets(self, block: Block) -> np.ndarray:
        """(n, V, 3) float32 displacement from the neutral face."""
        verts = self.vertices(block)
        verts -= self.rest
        return verts

    def affine_rows(self) -> np.ndarray:
        """(K+1, V*3): offsets of a frame = [coefficients, 1] @ rows. For a shape-key basis
        computed from the coefficients alone (`outputs.basis.basis_from_coefficients`)."""
        rows = self._rows.copy()
        rows[-1] -= self.rest.reshape(-1)
        return rows


# Lips may press into each other this far (metres) at the midline: a mesh cannot compress
# them, so deeper looks like lips passing through each other.
PRESS_LIMIT = -0.0005


class Strength:
    """Mouth and upper-face strength: each vertex's motion scaled around the speaker's rest
    by mouth_strength in the lower face and upper_strength in the upper face, blended by the
    network's own lower-face mask. Scaling alone would press sealed lips into each other
    (above 1) or part them (below 1), and the network itself presses them up to ~2 mm
    through each other at some seals, so a lip-closing field, weighted per frame, gives the
    lips' midline gap its intended value: seals stay seals, openings scale."""

    def __init__(self, settings: Settings, net: Animator, rest: np.ndarray) -> None:
        from .metrics import LIP_MIDLINE, landmark

        mouth, upper = settings.mouth_strength, settings.effective_upper_strength
        lower = net.lips_mask
        self.mouth = mouth
        self.scale = None if mouth == upper == 1 else mouth * lower + upper * (1 - lower)
        self.keeps_seals = True  # also at strength 1: lips pressed through each other
        template = load_template()
        self._lips = [landmark(template, i) for i in LIP_MIDLINE]
        # mouthClose moves the lips towards each other with the jaw held: the closing field
        self.closing = template.unit("mouthClose").reshape(-1) * lower.repeat(3)
        self._net = net
        self._gap_rows: tuple[np.ndarray, np.ndarray] | None = None
        self._rest_gap = float(rest[self._lips[0], 2] - rest[self._lips[1], 2])
        self._rest = rest

    def _gaps(self, coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(as made, scaled) lip midline gaps (n,) of network coefficients (n, K)."""
        if self._gap_rows is None:
            cols = [3 * v + 2 for v in self._lips]  # z of the upper and lower inner lip
            made = self._net.output_rows(self._rest)[:, cols]
            scaled = self._net.output_rows(self._rest, self.scale)[:, cols]
            self._gap_rows = (made[:, 0] - made[:, 1], scaled[:, 0] - scaled[:, 1])
        ones = np.hstack([coeffs, np.ones((len(coeffs), 1), np.float32)])
        return ones @ self._gap_rows[0], ones @ self._gap_rows[1]

    def intended_gap(self, gap: np.ndarray) -> np.ndarray:
        """The gap the lips should have at this strength: openings beyond the rest gap scale;
        closer than rest (a seal, pressed lips) stays as made (fading to rest only at
        strengths near 0, where the mouth is meant to be still), never pressed deeper than
        PRESS_LIMIT."""
        s, rest = self.mouth, self._rest_gap
        closing = min(1.0, 4.0 * s)
        wanted = np.where(gap > rest, rest + s * (gap - rest), rest + closing * (gap - rest))
        return np.maximum(wanted, min(rest, PRESS_LIMIT))

    def extend(self, coeffs: np.ndarray) -> np.ndarray:
        """Coefficients with the closing field's weight appended (when it is in use)."""
        if not self.keeps_seals:
            return coeffs
        made, scaled = self._gaps(coeffs)
        per_unit = self.closing[3 * self._lips[0] + 2] - self.closing[3 * self._lips[1] + 2]
        weight = (self.intended_gap(made) - scaled) / per_unit
        return np.hstack([coeffs, weight[:, None].astype(np.float32)])


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


def arkit_weights(session: Session, block: Block, template: Template) -> np.ndarray:
    """(n, 52) ARKit weights fitted to a block's offsets (bounded least squares per frame)."""
    return fit_arkit_weights(session.offsets(block), template.arkit_deltas).weights


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
    session = Session(settings, neutral_face(template_face, template))
    blocks = session.run_file(audio, progress)
    first = next(blocks, None)  # reads the audio: the frame count is known from here
    if first is None:
        raise AudioError(f"{audio}: no frames")
    with open_writer(out, fmt, session, template, compress=compress) as writer:
        for block in _chain(first, blocks):
            writer.write(block)
    return session.n_frames


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
    load_network(settings.weights)  # fail early, in the caller's process, on a bad file
    args = [(a, o, template_face, fmt, compress) for a, o in jobs]
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(settings,)) as pool:
        yield from pool.map(_one_job, args)
