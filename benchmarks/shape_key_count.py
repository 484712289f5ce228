"""How many shape keys the Shape Keys mode writes for the network's own output: the fewest
principal directions that rebuild every vertex of every frame within 0.1 mm
(`core.writers.compact_basis`), per clip and seed. Sealed lips and livelier upper faces
cost keys, so this is rerun whenever another network is bundled.

    .venv/bin/python benchmarks/shape_key_count.py [--weights core/runtime/assets/meshtalk.npz]

Clips: 60 s of espeak-ng speech (bench_runtime's, made and cached on first use), the human
`Front_Center.wav` of alsa-utils (when installed) and `demo/speech.wav`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_runtime import speech_file  # noqa: E402

from core.runtime.audio import load_audio  # noqa: E402
from core.runtime.network import Animator  # noqa: E402
from core.runtime.outputs import compact_basis  # noqa: E402
from core.runtime.template import load_template  # noqa: E402

ALSA = Path("/usr/share/sounds/alsa/Front_Center.wav")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights", type=Path, default=ROOT / "core" / "runtime" / "assets" / "meshtalk.npz"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench")
    args = parser.parse_args()
    animator, template = Animator(args.weights), load_template()
    clips = [speech_file(60.0, args.cache), ROOT / "demo" / "speech.wav"]
    clips += [ALSA] if ALSA.exists() else []
    print(f"weights {args.weights}")
    for clip in clips:
        audio = load_audio(clip, 16000)
        for seed in args.seeds:
            offsets = animator.animate(audio, template.vertices, seed=seed) - template.vertices
            print(f"{clip.name} seed {seed}: {compact_basis(offsets).report()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
