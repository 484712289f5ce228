"""Audio file in, animation out, outside Blender: the numpy network, frame-rate conversion
and the ARKit fit, for `python -m core animate` and for studio pipelines."""

from __future__ import annotations

import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import read_audio
from .retarget import character_face, fit_arkit_weights
from .runtime import Animator
from .template import ASSETS, Template, load_template
from .writers import Animation, resample_frames, save_animation, write_pc2

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
    """One clip: vertices at `options.fps` (template space) and their fitted ARKit weights."""
    template = load_template()
    if options.fps <= 0:
        raise ValueError(f"fps must be positive, got {options.fps}")
    samples, rate = read_audio(audio_path)
    rest = neutral_face(options.template, template)
    verts = animator.animate(
        samples,
        rest,
        seed=options.seed,
        temperature=options.temperature,
        lips_only=options.lips_only,
        sample_rate=rate,
    )
    verts = resample_frames(verts, animator.fps, options.fps)
    base = animator.default_template if rest is None else rest
    fit = fit_arkit_weights(verts - base, template.arkit_deltas)
    return Animation(verts, options.fps, template.source_index, template.arkit_names, fit.weights)


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
    write(animate_file(audio, _worker, options), out, options.format)
    return str(out)


def animate_many(jobs: list[tuple[Path, Path]], options: Options, workers: int = 2) -> list[str]:
    """Several clips on `workers` processes, each loading the network once."""
    Animator(options.weights)  # fail early, in the caller's process, on a bad weights file
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(options.weights,)) as pool:
        return list(pool.map(_one, [(a, o, options) for a, o in jobs]))
