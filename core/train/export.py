"""Torch checkpoint -> weights file for the numpy runtime.

    python -m core.train.export --checkpoint runs/x/stage1.pt --out runs/x/meshtalk.npz
    python -m core.train.export --random --out build/meshtalk_random.npz   # for development
    python -m core.train.export --weights W.npz --parts W_training.npz --out runs/x/again.npz \
        --training-parts runs/x/again_training.npz --temperature-scale 1.6   # re-export

The file is an .npz without pickle: the arrays the runtime needs (large matrices in
float16 by default, everything else float32) and a JSON "__meta__" with the format
version, the ModelConfig and provenance. See core/runtime/weights.py for the layout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..runtime.network.weights import (
    FORMAT_NAME,
    FORMAT_VERSION,
    META_KEY,
    WeightsError,
    expected_shapes,
    load_weights,
)
from ..runtime.npzio import save_npz
from ..runtime.template import Template, load_template
from .config import ModelConfig
from .model import AudioPrior, MeshTalk, default_output_basis

HALF_MIN_SIZE = 1 << 16  # arrays with at least this many entries go to float16
MAX_BYTES = 25 * 1024 * 1024


def save_checkpoint(
    path: str | Path, cfg: ModelConfig, model: MeshTalk, prior: AudioPrior, **extra: Any
) -> None:
    """The checkpoint layout `load_checkpoint` and the exporter read (training writes it)."""
    torch.save(
        {
            "config": cfg.to_dict(),
            "model": model.state_dict(),
            "prior": prior.state_dict(),
            "extra": extra,
        },
        path,
    )


def load_checkpoint(path: str | Path) -> tuple[ModelConfig, MeshTalk, AudioPrior, dict]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    cfg = ModelConfig.from_dict(ckpt["config"])
    model, prior = MeshTalk(cfg), AudioPrior(cfg)
    model.load_state_dict(ckpt["model"])
    prior.load_state_dict(ckpt["prior"])
    return cfg, model.eval(), prior.eval(), ckpt.get("extra", {})


def build_random(
    cfg: ModelConfig, template: Template | None = None, seed: int = 0
) -> tuple[MeshTalk, AudioPrior]:
    """A randomly initialised network with the development output basis (from the
    template's ARKit units), so the add-on can be built before a trained model exists."""
    template = template if template is not None else load_template()
    torch.manual_seed(seed)
    model, prior = MeshTalk(cfg), AudioPrior(cfg)
    model.set_output_basis(*default_output_basis(template.arkit_deltas, cfg.basis_size, seed))
    model.set_template_mean(template.vertices)
    # typical log-mel statistics of speech, so random features are neither saturated nor tiny
    model.set_mel_normalisation(np.full(cfg.n_features, -4.0), np.full(cfg.n_features, 4.0))
    return model.eval(), prior.eval()


def lips_mask(template: Template, cfg: ModelConfig) -> np.ndarray:
    """(V,) weights for lips-only animation: 0 on the upper face, 1 on the mouth regions,
    a smooth ratio of distances in between (so there is no visible seam)."""
    v = template.vertices.astype(np.float64)
    upper = np.unique(np.concatenate([template.region(r) for r in cfg.upper_regions]))
    mouth = np.unique(np.concatenate([template.region(r) for r in cfg.mouth_regions]))

    def nearest(idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(v))
        for s in range(0, len(v), 1024):
            d = ((v[s : s + 1024, None] - v[None, idx]) ** 2).sum(axis=2)
            out[s : s + 1024] = np.sqrt(d.min(axis=1))
        return out

    d_upper, d_mouth = nearest(upper), nearest(mouth)
    w = d_upper / np.maximum(d_upper + d_mouth, 1e-12)
    w = w * w * (3 - 2 * w)  # smoothstep: flat at both ends
    w[upper], w[mouth] = 0.0, 1.0
    return w.astype(np.float32)


def export_arrays(
    cfg: ModelConfig,
    model: MeshTalk,
    prior: AudioPrior,
    template: Template | None = None,
    dtype: str = "float16",
) -> dict[str, np.ndarray]:
    """The arrays of the weights file, checked against `expected_shapes(cfg)`."""
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype must be float16 or float32, got {dtype!r}")
    template = template if template is not None else load_template()
    if template.n_vertices != cfg.n_vertices:
        raise ValueError(
            f"template has {template.n_vertices} vertices, the config {cfg.n_vertices}"
        )
    source = {f"model.{k}": v for k, v in model.state_dict().items()}
    source.update({f"prior.{k}": v for k, v in prior.state_dict().items()})
    source["extra.default_template"] = torch.from_numpy(template.vertices)
    source["extra.lips_mask"] = torch.from_numpy(lips_mask(template, cfg))
    arrays = {}
    for name, shape in expected_shapes(cfg).items():
        arr = _float32(source[name])
        if arr.shape != shape:
            raise ValueError(f"{name}: shape {arr.shape}, the config says {shape}")
        arrays[name] = _half(arr) if dtype == "float16" else arr
    return arrays


def export_weights(
    out: str | Path,
    cfg: ModelConfig,
    model: MeshTalk,
    prior: AudioPrior,
    template: Template | None = None,
    dtype: str = "float16",
    provenance: dict[str, Any] | None = None,
    max_bytes: int | None = MAX_BYTES,
    temperature_scale: float = 1.0,
    pause_temperature_scale: float | None = None,
) -> dict[str, Any]:
    """Write the weights file and check it loads; returns its meta plus size and counts.
    A file over `max_bytes` (the add-on's budget; None: no cap) is deleted, an error.
    `temperature_scale`: the sampling temperature the runtime uses for a user's 1.0 (pick it
    on the validation split so 1.0 gives the data's blink rate: docs/MODEL.md);
    `pause_temperature_scale`: the one in pauses, if it differs (runtime/network/temperature.py)."""
    for name, scale in (("", temperature_scale), ("pause_", pause_temperature_scale)):
        if scale is not None and not scale > 0:
            raise ValueError(f"{name}temperature_scale must be > 0, got {scale}")
    arrays = export_arrays(cfg, model, prior, template, dtype)
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "config": cfg.network_dict(),  # the runtime's part; training settings stay with the run
        "dtype": dtype,
        "temperature_scale": float(temperature_scale),
        **(
            {}
            if pause_temperature_scale is None
            else {"pause_temperature_scale": float(pause_temperature_scale)}
        ),
        "parameters": int(sum(a.size for k, a in arrays.items() if not k.startswith("extra."))),
        "provenance": provenance or {},
    }
    arrays[META_KEY] = np.array(json.dumps(meta, sort_keys=True))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_npz(out, arrays)
    size = out.stat().st_size
    if max_bytes is not None and size > max_bytes:
        out.unlink()
        raise ValueError(f"{out}: {size / 2**20:.1f} MB exceeds the {max_bytes / 2**20:.0f} MB cap")
    load_weights(out, cfg.n_vertices)  # the runtime must accept what we wrote
    return {**meta, "bytes": size}


# The parts of MeshTalk only training uses: not in the weights file (the add-on has no use for
# them), but in its companion training-parts file, if one was written.
WEIGHTS_FILE_LACKS = ("expression_encoder", "fusion")
PARTS_FORMAT = "meshtalk-training-parts"


def export_training_parts(out: str | Path, model: MeshTalk, weights: str | Path) -> None:
    """Write the WEIGHTS_FILE_LACKS modules beside the weights file `weights`, tied to it by
    its SHA-256, with the training settings that shape them (the weights file carries the
    runtime's settings only): with both, a refine restarts the whole stage-1 network on any
    machine."""
    arrays = {
        f"model.{name}.{key}": _half(_float32(value))
        for name in WEIGHTS_FILE_LACKS
        for key, value in getattr(model, name).state_dict().items()
    }
    meta = {
        "format": PARTS_FORMAT,
        "version": 1,
        "weights_sha256": _sha256(weights),
        "config": model.cfg.to_dict(),
    }
    arrays[META_KEY] = np.array(json.dumps(meta, sort_keys=True))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_npz(out, arrays)


def load_exported(
    path: str | Path, parts: str | Path | None = None
) -> tuple[ModelConfig, MeshTalk, AudioPrior]:
    """Torch modules holding an exported file's weights (parity tests, refining from a
    released file). The WEIGHTS_FILE_LACKS modules come from `parts`, the weights file's
    training-parts file (`export_training_parts`), or are left at init without it."""
    weights = load_weights(path)
    arrays = dict(weights.arrays)
    training: dict[str, Any] = {}  # without parts: the training-only shapes at their defaults
    if parts is not None:
        part_arrays, training = _read_parts(Path(parts), Path(path))
        arrays.update(part_arrays)
    cfg = ModelConfig.from_dict({**training, **weights.config.to_dict()})
    model, prior = MeshTalk(cfg), AudioPrior(cfg)
    for module, prefix in ((model, "model."), (prior, "prior.")):
        state = module.state_dict()
        for name, arr in arrays.items():
            if name.startswith(prefix):
                state[name[len(prefix) :]] = torch.from_numpy(arr)
        module.load_state_dict(state)
    return cfg, model.eval(), prior.eval()


def _read_parts(parts: Path, weights: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The parts' arrays and the training settings they were made with."""
    try:
        with np.load(parts, allow_pickle=False) as data:
            meta = json.loads(str(data[META_KEY]))
            arrays = {k: data[k].astype(np.float32) for k in data.files if k != META_KEY}
    except (OSError, KeyError, ValueError) as exc:
        raise WeightsError(f"{parts}: not a readable training-parts file ({exc})") from exc
    if meta.get("format") != PARTS_FORMAT:
        raise WeightsError(f"{parts}: not a {PARTS_FORMAT} file")
    if meta.get("weights_sha256") != _sha256(weights):
        raise WeightsError(f"{parts}: written for another weights file than {weights}")
    return arrays, meta.get("config", {})


def _float32(tensor: torch.Tensor) -> np.ndarray:
    """A module's tensor as the float32 array every file is written from."""
    return tensor.detach().cpu().numpy().astype(np.float32)


def _half(arr: np.ndarray) -> np.ndarray:
    """float16 for large float32 arrays, as the weights file stores them."""
    small = arr.size < HALF_MIN_SIZE or np.abs(arr).max() >= 6e4
    return arr if small else arr.astype(np.float16)


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.train.export", description=__doc__.split("\n")[0]
    )
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="a checkpoint from core.train")
    src.add_argument("--random", action="store_true", help="a randomly initialised network")
    src.add_argument(
        "--weights", type=Path, help="an exported weights file (re-export, e.g. at another scale)"
    )
    parser.add_argument("--parts", type=Path, help="the training-parts file of --weights")
    parser.add_argument("--out", type=Path, required=True, help="output weights file (.npz)")
    parser.add_argument("--config", type=Path, help="TOML config for --random (default: built-in)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed for --random")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    parser.add_argument(
        "--training-parts",
        type=Path,
        help="also write the checkpoint's expression encoder and fusion here (for refines)",
    )
    parser.add_argument(
        "--temperature-scale",
        type=float,
        default=1.0,
        help="sampling temperature used for a user's 1.0 (chosen on the validation split)",
    )
    parser.add_argument(
        "--pause-temperature-scale",
        type=float,
        help="the same in pauses (chosen on the validation split; default: one scale)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    try:
        if args.random:
            cfg = ModelConfig.from_toml(args.config) if args.config else ModelConfig()
            model, prior = build_random(cfg, seed=args.seed)
            provenance = {"source": "random", "seed": args.seed}
        elif args.weights:
            if args.training_parts and not args.parts:
                raise ValueError("--training-parts from --weights needs its --parts")
            cfg, model, prior = load_exported(args.weights, args.parts)
            provenance = {"source": portable(args.weights)}
        else:
            cfg, model, prior, extra = load_checkpoint(args.checkpoint)
            provenance = {**_jsonable(extra), "source": portable(args.checkpoint)}
        info = export_weights(
            args.out,
            cfg,
            model,
            prior,
            dtype=args.dtype,
            provenance=provenance,
            temperature_scale=args.temperature_scale,
            pause_temperature_scale=args.pause_temperature_scale,
        )
        if args.training_parts:
            export_training_parts(args.training_parts, model, args.out)
    except (OSError, ValueError, KeyError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.out}: {info['bytes'] / 2**20:.1f} MB, {info['parameters']:,} parameters, "
        f"{args.dtype}, format version {FORMAT_VERSION}"
    )
    return 0


def _jsonable(extra: dict) -> dict:
    """A checkpoint's extra fields that JSON holds, any path among them made portable."""
    out = {k: v for k, v in extra.items() if isinstance(v, str | int | float | bool)}
    return {k: portable(v) if k.endswith("_from") else v for k, v in out.items()}


def portable(path: str | Path) -> str:
    """A training file as the weights file records it: its run folder and name
    ("meshtalk/stage1.pt"), not the path on the machine that trained it, which is
    meaningless (and private) wherever the file is used."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


if __name__ == "__main__":
    sys.exit(main())
