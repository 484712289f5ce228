"""Extract what the runtime's phonetic front end needs from pocketsphinx's en-us model.

`python -m core.assets_build.acoustic_model` writes `core/runtime/assets/acoustic_model.npz`
byte for byte from the PyPI wheel `pocketsphinx==5.1.1` (its `model/en-us/en-us/` folder).
Only the model's data is used, never pocketsphinx's code: the files are parsed here with
numpy/struct, so the runtime (numpy only, inside Blender) never needs pocketsphinx.

Kept: the 42 context-independent (CI) phones, their 3 emitting states' senone ids and
transition matrices, the 42 codebooks' 128 diagonal Gaussians per stream (means and
variances, float16), the mixture weights of the 126 CI senones (the model's own 8-bit −log
values), the front end's settings and which phones are fillers. The 5,000 context-dependent
senones are dropped: a phone posteriorgram needs only the CI ones.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.npzio import save_npz

PINNED_VERSION = "5.1.1"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "runtime" / "assets" / "acoustic_model.npz"
MODEL_SUBDIR = ("model", "en-us", "en-us")
MODEL_FILES = (
    "README",
    "feat.params",
    "mdef",
    "means",
    "variances",
    "sendump",
    "transition_matrices",
    "noisedict",
)
BYTE_ORDER_MAGIC = 0x11223344
# pocketsphinx's defaults for what feat.params does not set (ps_config: -varfloor,
# -tmatfloor, -samprate, -wlen, -frate, -alpha, -nfft 0 = next power of two >= the window).
VAR_FLOOR = 1e-4
TMAT_FLOOR = 1e-4
SAMPLE_RATE = 16000
WINDOW_SECONDS = 0.025625
FRAME_RATE = 100
PREEMPHASIS = 0.97
LOG_FLOOR = 1e-4  # fe_sigproc.c LOG_FLOOR: log(mel + 1e-4)
# sendump stores -log weights in logmath base 1.0001 shifted right by SENSCR_SHIFT (10 bits).
MIXW_STEP_NATS = math.log(1.0001) * 2**10
N_STATES = 3
# What the runtime implements; the build refuses a model that asks for anything else.
EXPECTED_PARAMS = {
    "-transform": "dct",
    "-feat": "1s_c_d_dd",
    "-svspec": "0-12/13-25/26-38",
    "-agc": "none",
    "-cmn": "batch",
    "-varnorm": "no",
    "-model": "ptm",
    "-remove_noise": "yes",
}


class ModelFormatError(ValueError):
    """A model file is not laid out as pocketsphinx 5.1.1's en-us files are."""


# ---------------------------------------------------------------------------------------
# locating the pinned wheel's model


def model_dir() -> Path:
    """The installed pocketsphinx wheel's en-us model folder (found without importing the C
    extension); refuses any version but the pinned one, so the asset stays reproducible."""
    version = importlib.metadata.version("pocketsphinx")
    if version != PINNED_VERSION:
        raise RuntimeError(
            f"pocketsphinx {version} installed; the asset is built from {PINNED_VERSION}"
        )
    spec = importlib.util.find_spec("pocketsphinx")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pocketsphinx is not installed: pip install pocketsphinx==5.1.1")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*MODEL_SUBDIR)


# ---------------------------------------------------------------------------------------
# s3 binary files (means, variances, transition_matrices): text header, then int32 magic


def _s3_header(data: bytes) -> tuple[dict[str, str], int, str]:
    """(header fields, offset of the payload, numpy byte order) of an s3 binary file:
    's3\\n', 'key value' lines, 'endhdr\\n', then the int32 byte-order magic 0x11223344."""
    if not data.startswith(b"s3\n"):
        raise ModelFormatError("not an s3 binary file")
    end = data.index(b"endhdr\n") + len(b"endhdr\n")
    fields = {}
    for line in data[3 : end - len(b"endhdr\n")].decode("ascii").splitlines():
        key, _, value = line.partition(" ")
        fields[key] = value.strip()
    for order in ("<", ">"):
        if struct.unpack_from(order + "I", data, end)[0] == BYTE_ORDER_MAGIC:
            return fields, end + 4, order
    raise ModelFormatError("bad byte-order magic")


def _check_checksum(fields: dict[str, str], data: bytes, offset: int) -> None:
    """With 'chksum0' in the header, exactly one uint32 checksum follows the payload."""
    tail = len(data) - offset
    if tail != (4 if "chksum0" in fields else 0):
        raise ModelFormatError(f"{tail} unexpected trailing bytes")


def read_gauden(data: bytes) -> np.ndarray:
    """A 'gauden' file (means or variances) as float32 (codebook, stream, gaussian, dim);
    every stream must have the same width (13 here)."""
    fields, off, order = _s3_header(data)
    n_mgau, n_feat, n_density = struct.unpack_from(order + "3i", data, off)
    off += 12
    veclen = struct.unpack_from(f"{order}{n_feat}i", data, off)
    off += 4 * n_feat
    (n,) = struct.unpack_from(order + "i", data, off)
    off += 4
    if len(set(veclen)) != 1 or n != n_mgau * n_density * sum(veclen):
        raise ModelFormatError(f"gauden dimensions {n_mgau} {n_feat} {n_density} {veclen} {n}")
    values = np.frombuffer(data, dtype=order + "f4", count=n, offset=off)
    _check_checksum(fields, data, off + 4 * n)
    return values.reshape(n_mgau, n_feat, n_density, veclen[0]).astype(np.float32)


def read_tmat(data: bytes) -> np.ndarray:
    """Transition matrices (n_tmat, n_emitting, n_emitting + 1) of probabilities, normalised
    and floored as pocketsphinx's tmat_init does (non-zero entries >= tmatfloor)."""
    fields, off, order = _s3_header(data)
    n_tmat, n_src, n_dst, n = struct.unpack_from(order + "4i", data, off)
    off += 16
    if n_dst != n_src + 1 or n != n_tmat * n_src * n_dst:
        raise ModelFormatError(f"tmat dimensions {n_tmat} {n_src} {n_dst} {n}")
    tp = np.frombuffer(data, dtype=order + "f4", count=n, offset=off).astype(np.float64)
    _check_checksum(fields, data, off + 4 * n)
    tp = tp.reshape(n_tmat, n_src, n_dst)
    tp = tp / tp.sum(axis=-1, keepdims=True)
    tp = np.where((tp > 0) & (tp < TMAT_FLOOR), TMAT_FLOOR, tp)
    return tp / tp.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------
# sendump: 8-bit mixture weights


def read_sendump(data: bytes, n_density: int) -> np.ndarray:
    """uint8 −log mixture weights as (stream, gaussian, senone): int32-length-prefixed title
    and header strings up to a zero length, then #rows and #columns, then the bytes laid out
    [stream][gaussian][senone] (no 4-bit clustering in this model)."""
    off, strings = 0, []
    while True:
        (n,) = struct.unpack_from("<i", data, off)
        off += 4
        if n == 0:
            break
        if not 0 < n < 10000:
            raise ModelFormatError("sendump: big-endian or corrupt header")
        strings.append(data[off : off + n].rstrip(b"\0").decode("ascii"))
        off += n
    info = dict(s.split(" ", 1) for s in strings[2:] if " " in s)
    if "cluster_count" in info and int(info["cluster_count"]) != 0:
        raise ModelFormatError("sendump: clustered (4-bit) weights are not supported")
    rows, cols = struct.unpack_from("<2i", data, off)
    off += 8
    n_feat = (len(data) - off) // (rows * cols)
    if rows != n_density or n_feat * rows * cols != len(data) - off:
        raise ModelFormatError(f"sendump: {rows} x {cols} does not fit {len(data) - off} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=off).reshape(n_feat, rows, cols)


# ---------------------------------------------------------------------------------------
# mdef (binary, 'BMDF')


@dataclass(frozen=True)
class Mdef:
    """The parts of a binary model definition the CI phones need."""

    phones: list[str]  # CI phone names, sorted as mdef stores them
    filler: np.ndarray  # (n_ci,) bool
    senones: np.ndarray  # (n_ci, n_states) senone ids of each CI phone's emitting states
    tmat: np.ndarray  # (n_ci,) transition matrix id of each CI phone
    n_senones: int
    n_ci_senones: int


def read_mdef(data: bytes) -> Mdef:
    """Binary mdef: 'BMDF' magic, version, format description; 10 int32 counts; the CI phone
    names (NUL-terminated, padded to 4 bytes); the CD tree (8 bytes a node); the phones
    (int32 ssid, int32 tmat, int8 attr[4]: attr[0] = filler for CI phones); the senone
    sequences (int32 size, then uint16 ids, n_emit_state per sequence)."""
    if data[:4] == b"BMDF":
        order = "<"
    elif data[:4] == b"FDMB":
        order = ">"
    else:
        raise ModelFormatError("mdef: no BMDF byte-order mark (text mdef is not supported)")
    _version, desc_len = struct.unpack_from(order + "2i", data, 4)
    off = 12 + desc_len
    counts = struct.unpack_from(order + "10i", data, off)
    n_ci, n_phone, n_emit, n_ci_sen, n_sen, _n_tmat, n_sseq, _n_ctx, n_cd_tree, _sil = counts
    off += 40
    names_start = off
    phones = []
    for _ in range(n_ci):
        end = data.index(b"\0", off)
        phones.append(data[off:end].decode("ascii"))
        off = end + 1
    off = names_start + ((off - names_start + 3) & ~3)
    off += 8 * n_cd_tree
    phone_dt = np.dtype([("ssid", order + "i4"), ("tmat", order + "i4"), ("attr", "i1", 4)])
    table = np.frombuffer(data, dtype=phone_dt, count=n_phone, offset=off)
    off += phone_dt.itemsize * n_phone
    (sseq_size,) = struct.unpack_from(order + "i", data, off)
    if n_emit != N_STATES or sseq_size != n_sseq * n_emit:
        raise ModelFormatError(f"mdef: {n_emit} emitting states, sseq size {sseq_size}")
    sseq = np.frombuffer(data, dtype=order + "u2", count=sseq_size, offset=off + 4)
    sseq = sseq.reshape(n_sseq, n_emit)
    ci = table[:n_ci]
    return Mdef(
        phones=phones,
        filler=ci["attr"][:, 0] != 0,
        senones=sseq[ci["ssid"]].astype(np.int16),
        tmat=ci["tmat"].astype(np.int16),
        n_senones=n_sen,
        n_ci_senones=n_ci_sen,
    )


# ---------------------------------------------------------------------------------------
# text files


def read_feat_params(text: str) -> dict[str, str]:
    """feat.params: one '-name value' a line."""
    params = {}
    for line in text.splitlines():
        if line.strip():
            name, value = line.split(None, 1)
            params[name] = value.strip()
    return params


def read_noisedict(text: str) -> dict[str, str]:
    """noisedict: 'WORD PHONE' a line (the filler words and the phone each is made of)."""
    return dict(line.split(None, 1) for line in text.splitlines() if line.strip())


# ---------------------------------------------------------------------------------------
# the asset


def _frontend(params: dict[str, str]) -> dict[str, np.ndarray]:
    """Numeric front-end settings: feat.params's where it sets them, else pocketsphinx's
    defaults (the FFT size is the next power of two at or above the window)."""
    for name, want in EXPECTED_PARAMS.items():
        if params.get(name) != want:
            raise ModelFormatError(f"feat.params {name} {params.get(name)!r}, expected {want!r}")
    frame_size = int(WINDOW_SECONDS * SAMPLE_RATE + 0.5)
    return {
        "sample_rate": np.int32(SAMPLE_RATE),
        "frame_size": np.int32(frame_size),
        "frame_shift": np.int32(int(SAMPLE_RATE / FRAME_RATE + 0.5)),
        "fft_size": np.int32(1 << (frame_size - 1).bit_length()),
        "preemphasis": np.float64(PREEMPHASIS),
        "lower_hz": np.float64(float(params["-lowerf"])),
        "upper_hz": np.float64(float(params["-upperf"])),
        "n_filters": np.int32(int(params["-nfilt"])),
        "n_cepstra": np.int32(13),
        "lifter": np.int32(int(params["-lifter"])),
        "log_floor": np.float64(LOG_FLOOR),
    }


def _provenance(folder: Path) -> str:
    lines = [f"pocketsphinx {PINNED_VERSION} (PyPI), {'/'.join(MODEL_SUBDIR)}:"]
    for name in MODEL_FILES:
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        lines.append(f"{name} sha256 {digest}")
    return "\n".join(lines)


def extract(folder: Path) -> dict[str, np.ndarray]:
    """The asset's arrays from a pocketsphinx model folder."""
    mdef = read_mdef((folder / "mdef").read_bytes())
    means = read_gauden((folder / "means").read_bytes())
    variances = np.maximum(read_gauden((folder / "variances").read_bytes()), VAR_FLOOR)
    n_cb, n_streams, n_density, _ = means.shape
    if n_cb != len(mdef.phones) or variances.shape != means.shape:
        raise ModelFormatError("not a PTM model: one codebook per CI phone expected")
    if mdef.n_ci_senones != N_STATES * len(mdef.phones):
        raise ModelFormatError(f"{mdef.n_ci_senones} CI senones")
    sendump = read_sendump((folder / "sendump").read_bytes(), n_density)
    if sendump.shape != (n_streams, n_density, mdef.n_senones):
        raise ModelFormatError(f"sendump shape {sendump.shape}")
    # (phone, state, stream, gaussian): each CI senone mixes its own phone's codebook
    mixw = np.ascontiguousarray(sendump[:, :, mdef.senones].transpose(2, 3, 0, 1))
    tmat = read_tmat((folder / "transition_matrices").read_bytes())[mdef.tmat]
    fillers = set(read_noisedict((folder / "noisedict").read_text()).values())
    silence = {p for p, f in zip(mdef.phones, mdef.filler, strict=True) if f}
    if not fillers <= silence or "SIL" not in silence:
        raise ModelFormatError(f"noisedict phones {fillers} vs mdef fillers {silence}")
    params = read_feat_params((folder / "feat.params").read_text())
    return {
        "phones": np.array(mdef.phones),
        "filler": mdef.filler,
        "senones": mdef.senones,
        "tmat": tmat.astype(np.float32),
        "means": means.astype(np.float16),
        "variances": variances.astype(np.float16),
        "mixw": mixw,
        "mixw_step_nats": np.float64(MIXW_STEP_NATS),
        "source": np.array(_provenance(folder)),
        **_frontend(params),
    }


def build_acoustic_model(out_path: str | Path = DEFAULT_OUT, folder: Path | None = None) -> Path:
    """Write the asset (byte-reproducible) from the pinned wheel's model; returns its path."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_npz(out_path, extract(folder or model_dir()))
    return out_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m core.assets_build.acoustic_model", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help="output .npz")
    path = build_acoustic_model(parser.parse_args(argv).out)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    with np.load(path) as z:
        shapes = ", ".join(f"{k} {z[k].dtype}{list(z[k].shape)}" for k in sorted(z.files))
    print(f"{path}  {path.stat().st_size / 1e6:.2f} MB  sha256 {digest}\n  {shapes}")


if __name__ == "__main__":
    main()
