"""Where a trained run loses on a held-out voice: LVE (mm) per voice of the lips decoded from

- `stage 1`: the codes the fusion picks from the true audio and another sequence's expression
  (what the network could do if the prior were perfect),
- `prior`: the prior's argmax codes from the audio alone (what the runtime does, unsampled),
- `prior @ w`: the same with the log-mel warped along frequency by w (is the voice merely
  too high or too low for what the network has heard?).

    python scripts/voice_diagnosis.py /work/data/runs/lipfit2/stage1.pt \
        --corpus /work/data/corpus --split test --per-voice 12
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.audio import log_mel, utterance_offset  # noqa: E402
from core.data.augment import warp_mel  # noqa: E402
from core.data.corpus import load_split  # noqa: E402
from core.data.faces import sequence_vertices  # noqa: E402
from core.data.identities import identity_unit_deltas, identity_vertices  # noqa: E402
from core.metrics import lip_vertex_errors  # noqa: E402
from core.model import codes_to_onehot  # noqa: E402
from core.template import load_template  # noqa: E402
from core.train import load_checkpoint  # noqa: E402

WARPS = (0.9, 1.1)


def offsets_of(seq) -> np.ndarray:
    """A sequence's true offsets from its own neutral face, (T, V, 3)."""
    return sequence_vertices(seq, identity_unit_deltas(seq.identity)) - identity_vertices(
        seq.identity
    )


def with_next_offsets(seqs: list) -> Iterator[tuple[object, np.ndarray, np.ndarray]]:
    """(sequence, its offsets, the next sequence's offsets: "another expression", wrapping
    round), each sequence's offsets computed once."""
    if not seqs:
        return
    first = own = offsets_of(seqs[0])
    for i, seq in enumerate(seqs):
        other = offsets_of(seqs[i + 1]) if i + 1 < len(seqs) else first
        yield seq, own, other
        own = other


def trained(checkpoint: Path):
    """A run's MeshTalk and prior from its stage1.pt, in eval mode."""
    _, model, prior, _ = load_checkpoint(checkpoint)
    return model.eval(), prior.eval()


def run_setup(doc: str, argv: list[str] | None) -> tuple:
    """The command line and set-up the per-run diagnoses share: a run's stage1.pt (its
    MeshTalk and prior, in eval mode), the first --limit sequences of a corpus split, and the
    template's lip vertices. Returns (model, prior, sequences, lips)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a run's stage1.pt (with its prior)")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    model, prior = trained(args.checkpoint)
    seqs = load_split(args.corpus, args.split)[: args.limit]
    return model, prior, seqs, load_template().region("lips")


@torch.no_grad()
def decodings(model, prior, seq, expressions: dict[str, np.ndarray], warps=()) -> dict:
    """(T, V, 3) vertices of each way of choosing the codes for one sequence: the fusion's
    codes from the true audio and each named expression (offsets, tiled or cut to length),
    then the prior's argmax codes from the audio ("prior"), and from its log-mel warped by
    each factor ("prior @ w")."""
    cfg, rest = model.cfg, identity_vertices(seq.identity)
    n = len(seq.weights)
    template = torch.from_numpy(rest.astype(np.float32))[None]
    pcm = seq.audio.astype(np.float32) / 32768.0
    mel = log_mel(pcm, cfg) - utterance_offset(pcm, cfg)

    def decoded(onehot: torch.Tensor) -> np.ndarray:
        return model.decode(template, onehot)[0].numpy() + rest

    def encoded(log_mel: np.ndarray) -> torch.Tensor:
        return model.encode_audio(torch.from_numpy(log_mel)[None], n)

    def prior_codes(audio: torch.Tensor) -> torch.Tensor:
        return codes_to_onehot(prior.sample(audio[0], argmax=True)[None], cfg)

    def fused(expression: np.ndarray) -> np.ndarray:
        expression = np.resize(expression, (n, *expression.shape[1:])).astype(np.float32)
        logits = model.logits(audio, model.encode_expression(torch.from_numpy(expression)[None]))
        return decoded(model.quantize(logits)[0])

    audio = encoded(mel)  # both the fusion and the prior read it
    preds = {name: fused(expression) for name, expression in expressions.items()}
    preds["prior"] = decoded(prior_codes(audio))
    preds.update({f"prior @ {w}": decoded(prior_codes(encoded(warp_mel(mel, w)))) for w in warps})
    return preds


def lip_errors(model, prior, seq, own, other, lips) -> dict[str, np.ndarray]:
    """Per-frame LVE (m) of each way of choosing the codes for one sequence, whose true
    offsets are `own` (the fusion's with `other`, another sequence's expression, as the
    cross-modal loss trains)."""
    truth = own + identity_vertices(seq.identity)
    preds = decodings(model, prior, seq, {"stage 1": other}, WARPS)
    return {k: lip_vertex_errors(p, truth, lips) for k, p in preds.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a run's stage1.pt (with its prior)")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--per-voice", type=int, default=12, help="first N sequences per voice")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model, prior = trained(args.checkpoint)
    lips = load_template().region("lips")
    by_voice = defaultdict(list)
    for seq in load_split(args.corpus, args.split):
        by_voice[seq.job.voice].append(seq)
    print("| voice | stage 1 | prior | " + " | ".join(f"prior @ {w}" for w in WARPS) + " |")
    print("|---" * (3 + len(WARPS)) + "|")
    for voice, seqs in by_voice.items():
        seqs = seqs[: args.per_voice]
        errors = defaultdict(list)
        for seq, own, other in with_next_offsets(seqs):  # the same voice, another face
            for k, e in lip_errors(model, prior, seq, own, other, lips).items():
                errors[k].append(e)
        cells = [f"{1000 * np.concatenate(e).mean():.2f}" for e in errors.values()]
        print(f"| {voice} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
