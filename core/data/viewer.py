"""`python -m core.data show`: a contact sheet of one corpus sequence — the face at evenly
spaced frames above the waveform with its phone labels — to check by eye that mouth shapes
match the phones (closed on P/B/M, open on AA, rounded on UW/OW...)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runtime.template import load_template
from .corpus import load_split
from .faces import sequence_vertices
from .identities import identity_unit_deltas
from .phones import BILABIALS
from .preview import draw_face


def find_sequence(root: Path, split: str, index: int):
    """The `index`-th sequence of `split` in shard order."""
    sequences = load_split(root, split)
    if not 0 <= index < len(sequences):
        raise ValueError(f"{root} has {len(sequences)} {split} sequences, no index {index}")
    return sequences[index]


def contact_sheet(seq, out: Path, frames: int = 12, fps: float = 30.0, sample_rate=16000):
    """Write a PNG: faces at the middle of up to `frames` spoken phones (lip close-up on top,
    whole face below, titled with the phone) above the waveform with every phone label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    template = load_template()
    verts = sequence_vertices(seq, identity_unit_deltas(seq.identity))
    spoken = [p for p in seq.phones if p.symbol != "sil"]
    chosen = [
        spoken[i] for i in np.linspace(0, len(spoken) - 1, min(frames, len(spoken))).astype(int)
    ]
    picks = [min(int(round((p.start + p.end) / 2 * fps)), len(verts) - 1) for p in chosen]
    frames = len(picks)
    lips = verts[0, template.region("lips")]
    mouth_zoom = (lips.min(0) - 0.012, lips.max(0) + 0.012)
    fig = plt.figure(figsize=(frames * 1.4, 6.2))
    grid = fig.add_gridspec(3, frames, height_ratios=[1.0, 1.6, 1.3])
    for col, frame in enumerate(picks):
        for row, zoom in ((0, mouth_zoom), (1, None)):
            ax = fig.add_subplot(grid[row, col])
            draw_face(
                ax,
                verts[frame],
                template.faces,
                template.face_material,
                template.material_names,
                zoom=zoom,
            )
        ax.set_title(
            f"{chosen[col].symbol} {frame / fps:.2f}s",
            fontsize=7,
            color="red" if chosen[col].symbol in BILABIALS else "black",
        )
    wave = fig.add_subplot(grid[2, :])
    t = np.arange(len(seq.audio)) / sample_rate
    wave.plot(t, seq.audio / 32768.0, lw=0.4, color="0.3")
    for p in seq.phones:
        wave.axvline(p.start, color="0.8", lw=0.5)
        color = "red" if p.symbol in BILABIALS else "black"
        wave.text(
            (p.start + p.end) / 2,
            0.9,
            p.symbol,
            ha="center",
            fontsize=6,
            color=color,
            transform=wave.get_xaxis_transform(),
        )
    for frame in picks:
        wave.axvline(frame / fps, color="tab:blue", lw=0.8, ls="--")
    wave.set_xlim(0, t[-1] if len(t) else 1)
    wave.set_yticks([])
    wave.set_xlabel(f"{seq.job.voice} · sentence {seq.job.sentence} · {seq.augment or 'clean'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return out


def show(root: Path, split: str, index: int, out: Path, frames: int = 12) -> list[Path]:
    seq = find_sequence(Path(root), split, index)
    return [contact_sheet(seq, Path(out) / f"{split}_{index:04d}.png", frames)]
