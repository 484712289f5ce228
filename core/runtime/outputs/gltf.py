"""Binary glTF 2.0 (.glb): the head with its 52 ARKit morph targets and one animation of their
weights, which web players (three.js, Babylon.js, model-viewer) and Blender's glTF importer
play as they are.

- The mesh: the face the clip animates (the bundled head, or a character's neutral face in
  the template's frame), its quads split into triangles, smooth vertex normals. Blender is
  Z-up and glTF Y-up (+Z towards the viewer), so every point and vector becomes (x, z, -y),
  a rotation, which keeps the triangles' winding.
- Morph targets: the 52 ARKit unit deltas, named in `mesh.extras.targetNames`, where
  Blender's glTF exporter writes shape-key names and its importer reads them back.
- The animation: one channel on the node's `weights`, one LINEAR sampler: input = the frame
  times in seconds, output = T x 52 weights, frame after frame.

A .glb is a 12-byte header, a JSON chunk (padded with spaces to 4 bytes) and a BIN chunk
(padded with zeros). The weights of a whole clip are needed before the file can be written,
but they are small (T x 52 floats: 3.7 MB for 10 minutes at 30 fps): they are kept as blocks
arrive and the file is written by `finish`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

GLB_MAGIC = b"glTF"
JSON_CHUNK = b"JSON"
BIN_CHUNK = b"BIN\0"
FLOAT, UNSIGNED_SHORT, UNSIGNED_INT = 5126, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
TRIANGLES = 4
_COMPONENT = {
    np.dtype("<f4"): FLOAT,
    np.dtype("<u2"): UNSIGNED_SHORT,
    np.dtype("<u4"): UNSIGNED_INT,
}


def y_up(points: np.ndarray) -> np.ndarray:
    """Blender's Z-up (x, y, z) -> glTF's Y-up (x, z, -y), as float32."""
    points = np.asarray(points, np.float32)
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)


def triangles(quads: np.ndarray) -> np.ndarray:
    """(F, 4) quads -> (2F, 3) triangles (a b c, a c d); degenerate ones dropped."""
    quads = np.asarray(quads, np.int64)
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    a, b, c = tris.T
    return tris[(a != b) & (b != c) & (a != c)]


def vertex_normals(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Unit, area-weighted vertex normals; (0, 1, 0) for vertices in no triangle."""
    p = np.asarray(points, np.float64)
    face = np.cross(p[tris[:, 1]] - p[tris[:, 0]], p[tris[:, 2]] - p[tris[:, 0]])
    normals = np.zeros_like(p)
    for corner in range(3):
        np.add.at(normals, tris[:, corner], face)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 0, normals / np.where(length > 0, length, 1), [0.0, 1.0, 0.0])
    return normals.astype(np.float32)


def glb_bytes(document: dict, binary: bytes) -> bytes:
    """A GLB container: header, JSON chunk, BIN chunk."""
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return b"".join(
        [
            struct.pack("<4sII", GLB_MAGIC, 2, total),
            struct.pack("<I4s", len(text), JSON_CHUNK),
            text,
            struct.pack("<I4s", len(binary), BIN_CHUNK),
            binary,
        ]
    )


def read_glb(path: str | Path) -> tuple[dict, bytes]:
    """(the JSON document, the BIN chunk) of a .glb file, checking its framing."""
    raw = Path(path).read_bytes()
    if len(raw) < 20 or raw[:4] != GLB_MAGIC:
        raise ValueError(f"{path}: not a .glb file")
    _, version, total = struct.unpack_from("<4sII", raw)
    if version != 2 or total != len(raw):
        raise ValueError(f"{path}: glb version {version}, {total} bytes declared, {len(raw)} read")
    length, kind = struct.unpack_from("<I4s", raw, 12)
    if kind != JSON_CHUNK:
        raise ValueError(f"{path}: the first chunk is not JSON")
    document = json.loads(raw[20 : 20 + length])
    binary = b""
    if 20 + length < len(raw):
        blength, bkind = struct.unpack_from("<I4s", raw, 20 + length)
        if bkind != BIN_CHUNK:
            raise ValueError(f"{path}: the second chunk is not BIN")
        binary = raw[28 + length : 28 + length + blength]
    return document, binary


def accessor_array(document: dict, binary: bytes, index: int) -> np.ndarray:
    """The data of accessor `index` (tightly packed FLOAT or UNSIGNED_* only), for readers
    and tests."""
    acc = document["accessors"][index]
    view = document["bufferViews"][acc["bufferView"]]
    dtype = {FLOAT: "<f4", UNSIGNED_SHORT: "<u2", UNSIGNED_INT: "<u4"}[acc["componentType"]]
    width = {"SCALAR": 1, "VEC3": 3}[acc["type"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    data = np.frombuffer(binary, dtype, acc["count"] * width, start)
    return data.reshape(-1, width) if width > 1 else data


class _Buffer:
    """The BIN chunk under construction: one buffer view and one accessor per array."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def add(self, array: np.ndarray, target: int | None = None, bounds: bool = False) -> int:
        """Append `array` ((n,) SCALAR or (n, 3) VEC3); returns its accessor's index."""
        array = np.ascontiguousarray(array)
        component = _COMPONENT[array.dtype]
        pad = -self.size % 4
        self.parts.append(b"\0" * pad)
        self.size += pad
        view = {"buffer": 0, "byteOffset": self.size, "byteLength": array.nbytes}
        if target is not None:
            view["target"] = target
        self.views.append(view)
        self.parts.append(array.tobytes())
        self.size += array.nbytes
        accessor = {
            "bufferView": len(self.views) - 1,
            "componentType": component,
            "count": len(array),
            "type": "VEC3" if array.ndim == 2 else "SCALAR",
        }
        if bounds:  # required for POSITION and animation inputs; float32 values, exactly
            accessor["min"] = np.atleast_1d(array.min(axis=0)).tolist()
            accessor["max"] = np.atleast_1d(array.max(axis=0)).tolist()
        self.accessors.append(accessor)
        return len(self.accessors) - 1

    def bytes(self) -> bytes:
        return b"".join(self.parts)


class GlbAnimation:
    """A .glb of a head and its ARKit weights, written to `stream` by `finish` once every
    block's weights (`write_weights`, (n, 52) in `names` order) are in.

    rest: (V, 3) the neutral face (Blender's frame); faces: (F, 4) quads; deltas: (52, V, 3)
    the ARKit unit deltas, the morph targets; fps: the weights' frame rate."""

    def __init__(
        self,
        stream: BinaryIO,
        rest: np.ndarray,
        faces: np.ndarray,
        deltas: np.ndarray,
        names: Sequence[str],
        fps: float,
        name: str = "MeshTalk Head",
    ) -> None:
        if not fps > 0:
            raise ValueError(f"the frame rate must be positive, got {fps}")
        rest = np.asarray(rest, np.float32)
        if rest.ndim != 2 or rest.shape[1] != 3 or np.shape(deltas) != (len(names), *rest.shape):
            raise ValueError(
                f"rest (V, 3) and deltas ({len(names)}, V, 3) expected, "
                f"got {rest.shape} and {np.shape(deltas)}"
            )
        self._stream, self._rest, self._faces = stream, rest, np.asarray(faces)
        self._deltas, self.names, self.fps, self.name = deltas, tuple(names), float(fps), name
        self._blocks: list[np.ndarray] = []

    def write_weights(self, weights: np.ndarray) -> None:
        weights = np.asarray(weights, np.float32)
        if weights.ndim != 2 or weights.shape[1] != len(self.names):
            raise ValueError(f"weights must be (n, {len(self.names)}), got {weights.shape}")
        if not np.isfinite(weights).all():
            raise ValueError("the weights contain NaN or infinite values")
        self._blocks.append(weights.copy())

    def finish(self) -> None:
        weights = np.concatenate(self._blocks) if self._blocks else np.zeros((0, len(self.names)))
        if not len(weights):
            raise ValueError("a .glb animation needs at least one frame")
        document, binary = self.document(weights.astype(np.float32))
        self._stream.write(glb_bytes(document, binary))

    def document(self, weights: np.ndarray) -> tuple[dict, bytes]:
        """The glTF JSON and its binary buffer for (T, 52) weights."""
        buf = _Buffer()
        points = y_up(self._rest)
        tris = triangles(self._faces)
        index_type = "<u2" if len(points) < 65535 else "<u4"
        position = buf.add(points, ARRAY_BUFFER, bounds=True)
        normal = buf.add(vertex_normals(points, tris), ARRAY_BUFFER)
        indices = buf.add(tris.astype(index_type).ravel(), ELEMENT_ARRAY_BUFFER)
        targets = [
            {"POSITION": buf.add(y_up(delta), ARRAY_BUFFER, bounds=True)} for delta in self._deltas
        ]
        times = buf.add((np.arange(len(weights)) / self.fps).astype("<f4"), bounds=True)
        values = buf.add(weights.astype("<f4").ravel())
        document = {
            "asset": {"version": "2.0", "generator": "MeshTalk"},
            "scene": 0,
            "scenes": [{"name": "MeshTalk", "nodes": [0]}],
            "nodes": [{"name": self.name, "mesh": 0}],
            "meshes": [
                {
                    "name": self.name,
                    "primitives": [
                        {
                            "attributes": {"POSITION": position, "NORMAL": normal},
                            "indices": indices,
                            "mode": TRIANGLES,
                            "targets": targets,
                        }
                    ],
                    "weights": [0.0] * len(self.names),
                    "extras": {"targetNames": list(self.names)},
                }
            ],
            "animations": [
                {
                    "name": "MeshTalk",
                    "channels": [{"sampler": 0, "target": {"node": 0, "path": "weights"}}],
                    "samplers": [{"input": times, "output": values, "interpolation": "LINEAR"}],
                }
            ],
            "accessors": buf.accessors,
            "bufferViews": buf.views,
            "buffers": [{"byteLength": buf.size}],
        }
        return document, buf.bytes()
