"""The weights file: an .npz (no pickle) written by `core.train.export`, read here.

Arrays keep torch's state-dict names under a "model." (stage 1) or "prior." (stage 2)
prefix, plus "extra.default_template" and "extra.lips_mask"; "__meta__" is a JSON string
with the format name and version, the NetworkConfig and provenance. Every failure mode of a
bad file ends in a `WeightsError` subclass that says what is wrong, never in numpy.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from ..config import NetworkConfig

FORMAT_NAME = "meshtalk-weights"
# 2: the config holds the runtime's settings only (NetworkConfig); 1 carried the whole
# training config, whose extra keys are dropped on reading
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
META_KEY = "__meta__"


class WeightsError(Exception):
    """A weights file that cannot be used (base class of the specific errors)."""


class WeightsFileError(WeightsError):
    """Missing, truncated or corrupted file."""


class WeightsFormatError(WeightsError):
    """Readable, but not a weights file of a format version this runtime understands."""


class WeightsMismatchError(WeightsError):
    """Arrays that do not fit the file's config, or a template of another vertex count."""


@dataclass(frozen=True)
class Weights:
    config: NetworkConfig
    arrays: dict[str, np.ndarray]  # float32
    meta: dict[str, Any]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


def expected_shapes(cfg: NetworkConfig) -> dict[str, tuple[int, ...]]:
    """Every array the runtime needs, with its shape, derived from the config alone."""
    s: dict[str, tuple[int, ...]] = {}
    ch, k = cfg.audio_channels, cfg.audio_kernel
    enc = "model.audio_encoder."
    s[enc + "mel_mean"] = s[enc + "mel_std"] = (cfg.n_features,)
    s[enc + "inp.weight"], s[enc + "inp.bias"] = (ch, cfg.n_features, k), (ch,)
    for i in range(len(cfg.audio_dilations)):
        s[f"{enc}convs.{i}.weight"], s[f"{enc}convs.{i}.bias"] = (ch, ch, k), (ch,)
    dec = "model.decoder."
    v3, widths = cfg.n_vertices * 3, (cfg.n_vertices * 3, *cfg.template_widths)
    for i, (a, b) in enumerate(pairwise(widths)):
        s[f"{dec}template_layers.{i}.weight"], s[f"{dec}template_layers.{i}.bias"] = (b, a), (b,)
    s[dec + "code_proj.weight"], s[dec + "code_proj.bias"] = (
        (cfg.latent_dim, cfg.n_codes),
        (cfg.latent_dim,),
    )
    hid = cfg.decoder_hidden
    for layer in range(cfg.decoder_lstm_layers):
        n_in = 2 * cfg.latent_dim if layer == 0 else hid
        s[f"{dec}lstm.weight_ih_l{layer}"] = (4 * hid, n_in)
        s[f"{dec}lstm.weight_hh_l{layer}"] = (4 * hid, hid)
        s[f"{dec}lstm.bias_ih_l{layer}"] = s[f"{dec}lstm.bias_hh_l{layer}"] = (4 * hid,)
    dw = (hid, *cfg.decoder_widths)
    for i, (a, b) in enumerate(pairwise(dw)):
        s[f"{dec}out_layers.{i}.weight"], s[f"{dec}out_layers.{i}.bias"] = (b, a), (b,)
    s[dec + "head.weight"], s[dec + "head.bias"] = (cfg.basis_size, dw[-1]), (cfg.basis_size,)
    s[dec + "template_mean"] = s[dec + "out_mean"] = s[dec + "out_std"] = (cfg.n_vertices, 3)
    s[dec + "basis"] = (cfg.basis_size, v3)
    d, a_dim = cfg.prior_channels, cfg.audio_channels
    s["prior.embed.weight"], s["prior.start"] = (cfg.n_codes, d), (d,)
    s["prior.audio_in.weight"], s["prior.audio_in.bias"] = (d, a_dim), (d,)
    for i in range(len(cfg.prior_dilations)):
        s[f"prior.convs.{i}.weight"], s[f"prior.convs.{i}.bias"] = (d, d, cfg.prior_kernel), (d,)
        s[f"prior.audio_proj.{i}.weight"], s[f"prior.audio_proj.{i}.bias"] = (d, a_dim), (d,)
    s["prior.out.weight"], s["prior.out.bias"] = (cfg.n_codes, d), (cfg.n_codes,)
    s["extra.default_template"] = (cfg.n_vertices, 3)
    s["extra.lips_mask"] = (cfg.n_vertices,)
    return s


def load_weights(path: str | Path, n_vertices: int | None = None) -> Weights:
    """Read and validate a weights file; `n_vertices`, if given, must match the model's."""
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"weights file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            if META_KEY not in names:
                raise WeightsFormatError(
                    f"{path}: not a MeshTalk weights file (no {META_KEY!r} entry); "
                    "write one with `python -m core.train.export`"
                )
            meta = _parse_meta(path, data[META_KEY])
            cfg = meta["config_obj"]
            shapes = expected_shapes(cfg)
            missing = sorted(set(shapes) - set(names))
            if missing:
                raise WeightsMismatchError(
                    f"{path}: {len(missing)} arrays missing for this config, e.g. "
                    f"{', '.join(missing[:3])}"
                )
            arrays = {name: data[name] for name in shapes}
    except WeightsError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as exc:
        raise WeightsFileError(f"{path}: truncated or corrupted weights file ({exc})") from exc
    out = {}
    for name, shape in shapes.items():
        arr = arrays[name]
        if arr.shape != shape:
            raise WeightsMismatchError(
                f"{path}: {name} has shape {arr.shape}, the config says {shape}"
            )
        if arr.dtype.kind != "f":
            raise WeightsMismatchError(f"{path}: {name} has dtype {arr.dtype}, expected float")
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise WeightsFileError(f"{path}: {name} contains NaN or infinite values")
        out[name] = arr
    if n_vertices is not None and n_vertices != cfg.n_vertices:
        raise WeightsMismatchError(
            f"{path}: the model is for meshes of {cfg.n_vertices} vertices, "
            f"the template has {n_vertices}"
        )
    meta.pop("config_obj")
    return Weights(cfg, out, meta)


def read_config(path: str | Path) -> NetworkConfig:
    """The network config of a weights file, from its small JSON entry alone (no arrays
    inflated): enough to prepare the audio while the arrays load."""
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"weights file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if META_KEY not in data.files:
                raise WeightsFormatError(f"{path}: not a MeshTalk weights file")
            return _parse_meta(path, data[META_KEY])["config_obj"]
    except WeightsError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as exc:
        raise WeightsFileError(f"{path}: truncated or corrupted weights file ({exc})") from exc


def _parse_meta(path: Path, raw: np.ndarray) -> dict[str, Any]:
    try:
        if raw.dtype.kind != "U" or raw.size != 1:
            raise ValueError(f"expected one string, got {raw.dtype} {raw.shape}")
        meta = json.loads(str(raw.reshape(-1)[0]))
    except (ValueError, TypeError) as exc:
        raise WeightsFormatError(f"{path}: unreadable {META_KEY!r} entry ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise WeightsFormatError(f"{path}: not a {FORMAT_NAME} file")
    version = meta.get("version")
    if version not in READABLE_VERSIONS:
        raise WeightsFormatError(
            f"{path}: weights format version {version}, this runtime reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}; update MeshTalk, or re-export the "
            "checkpoint with this version's `python -m core.train.export`"
        )
    try:
        # a newer exporter may add settings: read what this runtime knows, warn about the rest
        unknown = "ignore" if version == 1 else "warn"
        meta["config_obj"] = NetworkConfig.from_dict(meta["config"], unknown=unknown)
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsFormatError(f"{path}: invalid model config in the file ({exc})") from None
    return meta
