"""Animation files written block by block as frames are made, chosen by suffix.

Every writer is a context manager that writes to a temporary name beside the target and
renames it only when the whole clip is in: an error (a full disk, a cancel) leaves the
previous file, if any, untouched and no partial file behind.

Writers read their frames from a `Frames` source: a `Session` (the network's blocks), or
`VertexFrames` (template-topology vertices made elsewhere, such as the add-on reading an
animated object), so both paths share one writer code. The ARKit formats (.csv, .json, .glb)
fit the weights of all blocks in one go at the end, as the .npz does (`BlockFitter`); .csv
and .json also take weights directly (`open_weights_writer`), for animations that exist
only as ARKit curves."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

import numpy as np

from ..retarget import ArkitFitter
from .atomic import settle, temporary
from .curves import ArkitCurvesJson
from .gltf import GlbAnimation
from .livelink import LiveLinkCsv
from .pc2 import PC2Writer

if TYPE_CHECKING:
    from ..template import Template

FORMATS = {".npz": "npz", ".pc2": "pc2", ".csv": "csv", ".json": "json", ".glb": "glb"}
ARKIT_FORMATS = ("csv", "json", "glb")  # ARKit weights (fitted per block) …
WEIGHT_FORMATS = ("csv", "json")  # … of which these need nothing but the weights


class Frames(Protocol):
    """Where writers read frames from (`Session` is one): the neutral face, the frame rate
    and count, and each block's vertices and offsets (n, V, 3) in the template's frame.
    `out`: a buffer (n, V, 3) that frames made on request are written into (offsets always
    are; vertices that exist already are returned as they are)."""

    rest: np.ndarray
    n_frames: int

    @property
    def fps(self) -> float: ...

    def vertices(self, block, out: np.ndarray | None = None) -> np.ndarray: ...

    def offsets(self, block, out: np.ndarray | None = None) -> np.ndarray: ...

    def affine_rows(self) -> np.ndarray | None:
        """(N+1, V*3) rows with offsets = [block's N numbers, 1] @ rows, or None."""


@dataclass(frozen=True)
class VertexBlock:
    """Frames [start, start + len) given as template-topology vertices."""

    start: int
    vertices: np.ndarray  # (n, V, 3) float32, the template's frame

    def __len__(self) -> int:
        return len(self.vertices)


class VertexFrames:
    """`Frames` for vertices that already exist (an animated Blender object, a file): blocks
    are `VertexBlock`s; offsets are measured from `rest`, the face's neutral shape."""

    def __init__(self, rest: np.ndarray, fps: float, n_frames: int) -> None:
        self.rest = np.asarray(rest, np.float32)
        if self.rest.ndim != 2 or self.rest.shape[1] != 3:
            raise ValueError(f"rest must be (V, 3), got {self.rest.shape}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self._fps, self.n_frames = float(fps), int(n_frames)

    @property
    def fps(self) -> float:
        return self._fps

    def vertices(self, block: VertexBlock, out: np.ndarray | None = None) -> np.ndarray:
        """The block's own vertices (no copy into `out`: they exist already)."""
        verts = np.asarray(block.vertices, np.float32)
        if verts.ndim != 3 or verts.shape[1:] != self.rest.shape:
            raise ValueError(f"a block must be (n, {len(self.rest)}, 3), got {verts.shape}")
        return verts

    def offsets(self, block: VertexBlock, out: np.ndarray | None = None) -> np.ndarray:
        return np.subtract(self.vertices(block), self.rest, out=out)

    def affine_rows(self) -> None:
        """None: these frames are not made from coefficients."""


def format_of(path: Path, fmt: str | None = None) -> str:
    """The output format of `path` from its suffix; `fmt`, if given, must agree with it."""
    by_suffix = FORMATS.get(path.suffix.lower())
    if by_suffix is None:
        known = ", ".join(FORMATS)
        raise ValueError(f"{path}: unknown output suffix '{path.suffix}' (known: {known})")
    if fmt is not None and fmt != by_suffix:
        raise ValueError(f"{path}: --format {fmt} does not match the suffix '{path.suffix}'")
    return by_suffix


class BlockBuffer:
    """One (n, V, 3) float32 array that every block's vertices are written into: a fresh
    37 MB array per block would cost page faults and cache misses, block after block."""

    def __init__(self, n_vertices: int) -> None:
        self._array = np.empty((0, n_vertices, 3), np.float32)

    def __call__(self, n: int) -> np.ndarray:
        """The first n frames of the buffer (grown if needed)."""
        if n > len(self._array):
            self._array = np.empty((n, *self._array.shape[1:]), np.float32)
        return self._array[:n]


class BlockFitter:
    """ARKit weights of the blocks of `frames`. A Session's offsets are affine in its
    blocks' coefficients, so the fit's right-hand side is (n, K+1) @ (K+1, 52) instead of
    the offsets' (n, 3V) @ (3V, 52): the largest cost of the ARKit formats after the
    vertices. Other frames (`VertexFrames`) are fitted from their offsets.

    Writers `add` blocks as they are written and take the clip's `weights` at the end: one
    fit for the whole clip. The more frames in one fit, the more of them share an active
    set and with it one solve: 9,000 frames take 0.25 s at once, 0.38 s in batches of 1,800
    and 0.57 s block by block. Batches fitted on the writer thread while the network makes
    the next blocks cost more than they hide (5-minute .npz: 2.06 -> 2.46 s, docs/RESULTS.md):
    the run is CPU-bound on two cores."""

    def __init__(self, frames: Frames, deltas: np.ndarray) -> None:
        self._frames = frames
        self.fitter = ArkitFitter(deltas)
        rows = frames.affine_rows()
        self._projection = None if rows is None else self.fitter.projection(rows)
        self._buffer = BlockBuffer(len(frames.rest))  # for offsets (not on the affine path)
        self._rhs: list[np.ndarray] = []  # the right-hand sides of the blocks added
        self._weights: np.ndarray | None = None  # fitted once, on the first `weights`

    def rhs(self, block) -> np.ndarray:
        """(n, 52) float64: the fit's right-hand side of the block's frames."""
        p = self._projection
        if p is None:
            return self.fitter.rhs(self._frames.offsets(block, self._buffer(len(block))))
        return block.coefficients @ p[:-1] + p[-1]

    def add(self, block) -> None:
        """A block's frames, to be fitted with all the others (`weights`)."""
        if self._weights is not None:
            raise RuntimeError("the clip's weights are fitted already: no more blocks")
        self._rhs.append(self.rhs(block))

    def weights(self) -> np.ndarray:
        """(T, 52) float32 weights of every block added, in order, fitted in one go (on the
        first call; later calls return the same array)."""
        if self._weights is None:
            n = len(self.fitter.deltas)
            rhs = np.concatenate(self._rhs) if self._rhs else np.zeros((0, n))
            self._weights = self.fitter.weights_from_rhs(rhs)
        return self._weights

    def clip_weights(self, blocks: Iterable) -> np.ndarray:
        """(T, 52) float32 weights of `blocks`, as `add` then `weights`."""
        for block in blocks:
            self.add(block)
        return self.weights()


class BlockWriter:
    """A file written block by block. `write(block)` does it all; a caller with a second
    thread splits it (`session.write_blocks`): `take` on its own thread (cheap: the ARKit
    fit's right-hand side), `store` on the worker (the vertex product and the file), and
    `seal` once the last block is taken (the ARKit fit) while the worker stores it."""

    def take(self, block) -> None:
        """The block's cheap part, on the caller's thread, before `store`."""

    def store(self, block) -> None:
        """The block's frames into the file."""

    def seal(self) -> None:
        """After the last `take`: the work that needs every block but not the file."""

    def write(self, block) -> None:
        self.take(block)
        self.store(block)


class Pc2FileWriter(BlockWriter):
    """Vertices only, as Blender's Mesh Cache modifier reads them (`PC2Writer` does the
    temporary file and the rename)."""

    def __init__(self, path: Path, frames: Frames) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._frames = frames
        self._buffer = BlockBuffer(len(frames.rest))
        self._pc2 = PC2Writer(path, len(frames.rest), frames.n_frames)

    def store(self, block) -> None:
        self._pc2.write(self._frames.vertices(block, self._buffer(len(block))))

    def __enter__(self) -> Pc2FileWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._pc2.__exit__(exc_type, exc, tb)


class NpzFileWriter(BlockWriter):
    """The animation schema (vertices, fps, source_index, arkit_names, arkit_weights) with
    the vertices streamed into their zip entry block by block; uncompressed unless asked
    (zlib on a minute of vertices costs more time than the network). The ARKit weights are
    fitted once, for the whole clip, when the last block is in (their entry follows the
    vertices; see `BlockFitter`). Written to a temporary name and renamed when complete."""

    def __init__(self, path: Path, frames: Frames, template: Template, compress: bool) -> None:
        self.path = Path(path)
        self.tmp = temporary(self.path)
        self._frames, self._template = frames, template
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self._zip = zipfile.ZipFile(self.tmp, "w", compression=method, compresslevel=1)
        shape = (frames.n_frames, len(frames.rest), 3)
        self._entry = self._zip.open("vertices.npy", "w", force_zip64=True)
        header = {"descr": "<f4", "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(self._entry, header)
        self._fit = BlockFitter(frames, template.arkit_deltas)
        self._buffer = BlockBuffer(len(frames.rest))
        self.written = 0

    def take(self, block) -> None:
        self._fit.add(block)

    def store(self, block) -> None:
        verts = self._frames.vertices(block, self._buffer(len(block)))
        self._entry.write(memoryview(np.ascontiguousarray(verts, "<f4")).cast("B"))
        self.written += len(verts)

    def seal(self) -> None:
        self._fit.weights()

    def finish(self) -> None:
        if self.written != self._frames.n_frames:  # the header promised n_frames
            raise ValueError(f"npz: wrote {self.written} of {self._frames.n_frames} frames")
        self._entry.close()
        t = self._template
        weights = self._fit.weights()
        for name, array in (
            ("fps", np.asarray(self._frames.fps, np.float64)),
            ("source_index", np.asarray(t.source_index, np.int32)),
            ("arkit_names", np.array(t.arkit_names)),
            ("arkit_weights", np.asarray(weights, np.float32)),
        ):
            with self._zip.open(f"{name}.npy", "w") as entry:
                np.lib.format.write_array(entry, array, allow_pickle=False)

    def __enter__(self) -> NpzFileWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        settle(self.tmp, self.path, exc_type is None, self._close, self.finish)

    def _close(self) -> None:
        if not self._entry.closed:
            self._entry.close()
        self._zip.close()


class ArkitFileWriter(BlockWriter):
    """ARKit weights as .csv (Live Link Face), .json (curves) or .glb (the head, its morph
    targets and their animation): fitted to the blocks' frames (`write`; one joint fit when
    the last block is in, as the .npz does) or given as they are, block by block
    (`write_weights`). Written to a temporary name and renamed when complete; removed on
    error."""

    def __init__(
        self,
        path: Path,
        kind: str,
        fps: float,
        n_frames: int,
        template: Template,
        frames: Frames | None = None,
    ) -> None:
        if kind not in ARKIT_FORMATS:
            raise ValueError(f"{path}: not an ARKit weights format: {kind}")
        if kind == "glb" and frames is None:
            raise ValueError(f"{path}: a .glb holds the head's mesh: it needs its vertices")
        self.path = Path(path)
        self.tmp = temporary(self.path)
        self._deltas = template.arkit_deltas
        self._fit = None if frames is None else BlockFitter(frames, self._deltas)
        names = template.arkit_names
        if kind == "glb":
            self._file: IO = open(self.tmp, "wb")  # noqa: SIM115 - closed in __exit__
        else:
            self._file = open(self.tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
        try:
            if kind == "csv":
                self._out = LiveLinkCsv(self._file, fps, n_frames, names)
            elif kind == "json":
                self._out = ArkitCurvesJson(self._file, fps, n_frames, names)
            else:
                self._out = GlbAnimation(
                    self._file, frames.rest, template.faces, self._deltas, names, fps
                )
        except BaseException:
            self._file.close()
            self.tmp.unlink(missing_ok=True)
            raise

    def take(self, block) -> None:
        """A block's frames, whose ARKit weights are fitted (bounded least squares per
        frame) with every other block's at the end."""
        if self._fit is None:
            raise TypeError(f"{self.path}: opened for weights only; use write_weights")
        self._fit.add(block)

    def seal(self) -> None:
        if self._fit is not None:
            self._fit.weights()

    def write_weights(self, weights: np.ndarray) -> None:
        """(n, 52) weights in the template's `arkit_names` order."""
        self._out.write_weights(weights)

    def __enter__(self) -> ArkitFileWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        settle(self.tmp, self.path, exc_type is None, self._file.close, self._finish)

    def _finish(self) -> None:
        if self._fit is not None and len(weights := self._fit.weights()):  # the blocks' weights
            self._out.write_weights(weights)
        self._out.finish()


Writer = Pc2FileWriter | NpzFileWriter | ArkitFileWriter


def open_writer(
    path: Path, fmt: str | None, frames: Frames, template: Template, compress: bool = False
) -> Writer:
    """The writer for `path`'s format, fed blocks of `frames` (a Session, or VertexFrames);
    `frames.n_frames` must be known (for a Session: its run has started)."""
    kind = format_of(Path(path), fmt)
    if kind == "pc2":
        return Pc2FileWriter(path, frames)
    if kind == "npz":
        return NpzFileWriter(path, frames, template, compress)
    return ArkitFileWriter(path, kind, frames.fps, frames.n_frames, template, frames)


def open_weights_writer(
    path: Path, fmt: str | None, fps: float, n_frames: int, template: Template
) -> ArkitFileWriter:
    """A writer of ARKit weights alone (`write_weights`): .csv or .json. The other formats
    hold vertices (or, for .glb, the head's mesh), which weights alone do not give."""
    kind = format_of(Path(path), fmt)
    if kind not in WEIGHT_FORMATS:
        raise ValueError(
            f"{path}: a .{kind} file holds template-topology vertices, and there are only "
            f"ARKit weights: write .csv or .json"
        )
    return ArkitFileWriter(path, kind, fps, n_frames, template)
