"""How much of the training voices the audio features still tell: a fresh voice classifier
(core.voice_adversary's, the same size) trained on a run's frozen audio features, then its
cross-entropy and accuracy per frame on other windows of the same voices (chance: ln(voices)
and 1 / voices). A run trained with the voice adversary should tell less than one without.

    python scripts/voice_probe.py /work/data/runs/velocity16/stage1.pt \
        --corpus /work/data/corpus_styles --steps 400
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.dataset import Windows  # noqa: E402
from core.export import load_checkpoint  # noqa: E402
from core.train import collate  # noqa: E402
from core.voice_adversary import VoiceAdversary  # noqa: E402


def features(model, batch: dict, frames: int) -> torch.Tensor:
    with torch.no_grad():
        return model.encode_audio(batch["mel"], frames, int(batch["start"][0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--test-batches", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg, model, _, _ = load_checkpoint(args.checkpoint)
    train = Windows(args.corpus, "train", args.frames, cfg, args.steps * args.batch, seed=100)
    test = Windows(args.corpus, "train", args.frames, cfg, args.test_batches * args.batch, 200)
    probe = VoiceAdversary(cfg, len(train.voices))
    opt = torch.optim.Adam(probe.parameters(), lr=args.lr)
    for step in range(args.steps):
        batch = collate([train[i] for i in range(step * args.batch, (step + 1) * args.batch)])
        ce, _ = probe(features(model, batch, args.frames), batch["voice"])
        opt.zero_grad()
        ce.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}: training cross-entropy {ce.item():.3f}", flush=True)
    ces, hits, n = [], 0, 0
    with torch.no_grad():
        for j in range(args.test_batches):
            batch = collate([test[i] for i in range(j * args.batch, (j + 1) * args.batch)])
            feats, voice = features(model, batch, args.frames), batch["voice"]
            ces.append(probe(feats, voice)[0].item())
            guess = probe.logits(feats).argmax(-1)  # (B, T)
            hits += int((guess == voice[:, None]).sum())
            n += guess.numel()
    k = len(train.voices)
    chance = f"cross-entropy (chance {math.log(k):.2f}) | accuracy (chance {1 / k:.2f})"
    print(f"| run | voices | {chance} |")
    print(f"| {args.checkpoint.parent.name} | {k} | {sum(ces) / len(ces):.2f} | {hits / n:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
