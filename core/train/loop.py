"""Train MeshTalk on the corpus: `python -m core.train stage1|stage2|refine --config X.toml`.

refine (optional, after stage 2) trains some parts of another run's finished checkpoint
further with this config's losses (e.g. the lip-gap loss): the decoder alone keeps the prior
valid; with the encoders too, stage 2 runs again.

Runs resume from their last checkpoint. Every random draw (which windows, which partner
sequence, the Gumbel noise) is a pure function of (seed, global item index), so a run on
N processes (`torchrun --nproc_per_node N -m core.train ...`, gloo on CPU) follows the
same trajectory as one process with the same global batch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ..data.dataset import Windows
from ..runtime.template import load_template
from .config import FRONT_END_SETTINGS, LOSS_SETTINGS, ModelConfig
from .export import WEIGHTS_FILE_LACKS, load_checkpoint, load_exported, save_checkpoint
from .losses import StageOneLoss, region_weights
from .model import AudioPrior, MeshTalk

NO_LIP_LOSSES = {
    "lip_weight": 0.0,
    "seal_weight": 0.0,
    "lip_vertex_weight": 0.0,
    "closure_weight": 0.0,
    "velocity_weight": 0.0,
    "width_weight": 0.0,
}


@dataclass(frozen=True)
class TrainConfig:
    """The [train] table of a config file."""

    corpus: str = "data/corpus"
    extra_corpora: tuple[str, ...] = ()  # more training-only corpora (validation stays on corpus)
    run: str = "runs/default"
    seed: int = 0
    batch_size: int = 8  # sequences per step (global, over all processes), even
    stage1_frames: int = 32
    stage1_iterations: int = 20000
    stage2_frames: int = 64
    stage2_iterations: int = 8000
    lr: float = 1e-4  # stage 1 (Adam)
    stage2_lr: float = 3e-4  # the prior (Adam)
    lr_final_fraction: float = 0.1  # cosine decay to this fraction of lr
    grad_clip: float = 1.0
    log_every: int = 50
    checkpoint_every: int = 500
    val_windows: int = 64
    stats_windows: int = 400  # windows sampled for the mel statistics and the PCA basis
    mel_warp: float = 0.0  # training windows: log-mel frequency axis stretched by 1 -/+ this
    mel_colour: float = 0.0  # training windows: random EQ and blur of this strength (nats)
    mel_masks: int = 0  # training windows: this many SpecAugment band and time masks each
    edge_frames: int = 0  # training windows may reach this far past a sequence's ends (Windows)
    threads: int = 2
    refine_from: str = ""  # refine: the run whose finished checkpoint is refined, or a .npz
    refine_parts: str = ""  # refine from a .npz: its training-parts file (core.export)
    refine_modules: tuple[str, ...] = ("decoder",)  # which parts of MeshTalk refine trains
    refine_iterations: int = 0
    refine_lr: float = 1e-4
    # curriculum: the lip losses (lip gap, seals, lip vertices, motion, closure) join the
    # cross-modal loss at this stage-1 step. Why: the latent first learns to carry the
    # expression and the audio; seal weights of 16 from step 0 pull every frame to a seal
    lip_losses_from: int = 0

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> TrainConfig:
        with open(path, "rb") as f:
            data = tomllib.load(f).get("train", {})
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown [train] keys in {path}: {sorted(unknown)}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)


@dataclass
class Budget:
    """When to checkpoint and stop early: at a step, or after some minutes of wall clock
    (so a long training fits into sessions; the next invocation resumes)."""

    stop_at: int | None = None
    minutes: float | None = None
    started: float = field(default_factory=time.time)

    def spent(self, step: int, n: int = 1) -> bool:
        over = self.minutes is not None and time.time() - self.started > 60 * self.minutes
        if n > 1:  # every process must agree, or the collectives deadlock
            flag = torch.tensor(float(over))
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            over = bool(flag)
        return over or (self.stop_at is not None and step >= self.stop_at)


# --- distributed helpers -------------------------------------------------------------------


def world() -> tuple[int, int]:
    """(rank, world size); initialises gloo when started by torchrun."""
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        if not dist.is_initialized():
            dist.init_process_group("gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def average_gradients(params: Iterable[torch.nn.Parameter], n: int) -> None:
    """Each parameter's gradient averaged over the n processes (in place)."""
    if n == 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= n


def trim_log(run: Path, stage: int, step: int) -> None:
    """On resume: forget what a killed run logged after its last checkpoint, so the log holds
    one record per step (the resumed run logs those steps again)."""
    path = run / "log.jsonl"
    if path.exists():
        records = [json.loads(line) for line in path.read_text().splitlines()]
        kept = [r for r in records if not (r["stage"] == stage and r["step"] > step)]
        path.write_text("".join(json.dumps(r) + "\n" for r in kept))


def log(run: Path, rank: int, record: dict) -> None:
    """Append one JSON line to the run's log (rank 0 only) and echo it."""
    if rank:
        return
    with open(run / "log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print(
        " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()),
        flush=True,
    )


# --- batches -------------------------------------------------------------------------------


def collate(items: list[dict]) -> dict[str, torch.Tensor]:
    """Stack items; mels of one batch have the same length (same window size)."""
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def item_noise(seed: int, index: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Gumbel noise of one item, a pure function of (seed, item): the same on any process."""
    state = np.random.SeedSequence([seed, 7, index]).generate_state(2, dtype=np.uint32)
    g = torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
    u = torch.rand(shape, generator=g).clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def batch_indices(step: int, batch: int, rank: int, n: int) -> range:
    """This process's share of the global items of a step."""
    per = batch // n
    first = step * batch + rank * per
    return range(first, first + per)


# --- setup from data ------------------------------------------------------------------------


def mel_statistics(mels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The audio encoder's input normalisation: mean and std per mel band."""
    mel = np.concatenate(mels)
    return mel.mean(axis=0), mel.std(axis=0) + 1e-3


def data_statistics(ds: Windows, n: int, k: int) -> dict[str, np.ndarray]:
    """Mel mean/std per band, the mean identity, and a PCA output basis of the offsets."""
    mels, offsets, templates = [], [], []
    for i in range(n):
        item = ds[i]
        mels.append(item["mel"].numpy())
        offsets.append((item["vertices"] - item["template"]).numpy()[::4])
        templates.append(item["template"].numpy())
    mel_mean, mel_std = mel_statistics(mels)
    x = np.concatenate(offsets).reshape(-1, ds.cfg.n_vertices * 3).astype(np.float64)
    mean = x.mean(axis=0)
    std = np.sqrt(((x - mean) ** 2).reshape(len(x), -1, 3).sum(axis=2).mean(axis=0) / 3.0)
    std = np.maximum(std, 1e-5)  # metres; vertices that never move keep a unit scale
    z = (x - mean).reshape(len(x), -1, 3) / std[None, :, None]
    _, s, vt = np.linalg.svd(z.reshape(len(x), -1), full_matrices=False)
    explained = float((s[:k] ** 2).sum() / (s**2).sum())
    return {
        "mel_mean": mel_mean,
        "mel_std": mel_std,
        "template_mean": np.mean(templates, axis=0),
        "out_mean": mean.reshape(-1, 3),
        "out_std": std,
        "basis": vt[:k] * s[:k, None] / math.sqrt(len(x)),  # coefficient 1 ~ one std
        "explained": np.array(explained),
    }


def new_stage1(cfg: ModelConfig, tcfg: TrainConfig, ds: Windows) -> MeshTalk:
    torch.manual_seed(tcfg.seed)
    model = MeshTalk(cfg)
    stats = data_statistics(ds, tcfg.stats_windows, cfg.basis_size)
    model.set_mel_normalisation(stats["mel_mean"], stats["mel_std"])
    model.set_template_mean(stats["template_mean"])
    model.set_output_basis(stats["out_mean"], stats["out_std"], stats["basis"])
    print(f"PCA basis of {cfg.basis_size} explains {float(stats['explained']):.4f} of variance")
    return model


def learning_rate(tcfg: TrainConfig, base: float, step: int, total: int) -> float:
    """`base` after a 200-step warm-up, cosine-decayed to lr_final_fraction of it."""
    warm = min(1.0, (step + 1) / 200)
    cos = 0.5 * (1 + math.cos(math.pi * min(step / max(total, 1), 1.0)))
    return base * warm * (tcfg.lr_final_fraction + (1 - tcfg.lr_final_fraction) * cos)


# --- stage 1 ---------------------------------------------------------------------------------


def stage1(cfg: ModelConfig, tcfg: TrainConfig, budget: Budget | None = None) -> Path:
    budget = budget or Budget()
    rank, n = world()
    if tcfg.batch_size % (2 * n):
        raise ValueError(f"batch_size {tcfg.batch_size} must split into pairs over {n} procs")
    torch.set_num_threads(max(1, tcfg.threads // n))
    run = Path(tcfg.run)
    run.mkdir(parents=True, exist_ok=True)
    ckpt_path = run / "stage1.pt"
    total = tcfg.stage1_iterations

    def windows() -> Windows:
        return _train_windows(tcfg, cfg, tcfg.stage1_frames, total, seed=tcfg.seed)

    # Process 0 builds the data caches and the initial model; the others then load both.
    ds = windows() if rank == 0 else None
    if rank == 0 and not ckpt_path.exists():
        model = new_stage1(cfg, tcfg, ds)
        _save(ckpt_path, cfg, model, AudioPrior(cfg), step=0)
    if n > 1:
        dist.barrier()
    ds = ds or windows()
    cfg, model, prior, extra = load_checkpoint(ckpt_path)
    params = list(model.parameters())
    _train_pairs(1, cfg, tcfg, model, prior, params, ds, extra, budget, base_lr=tcfg.lr)
    return ckpt_path


def _train_windows(tcfg: TrainConfig, cfg: ModelConfig, frames: int, steps: int, seed: int):
    """The training split's windows for `steps` steps of `tcfg.batch_size` (a stage's data)."""
    length = steps * tcfg.batch_size
    augment = (tcfg.mel_warp, tcfg.mel_colour, tcfg.mel_masks)
    roots = (tcfg.corpus, *tcfg.extra_corpora)
    return Windows(roots, "train", frames, cfg, length, seed, *augment, tcfg.edge_frames)


def _adam(
    params: list, lr: float, resume_from: Path | None, adversary: list | None = None
) -> torch.optim.Adam:
    """Adam over `params` (and the voice adversary's, at ADVERSARY_LR_SCALE x lr), with its
    state from `resume_from` when that file exists."""
    groups = [{"params": params}]
    if adversary:
        groups.append({"params": adversary, "lr_scale": ADVERSARY_LR_SCALE})
    opt = torch.optim.Adam(groups, lr=lr)
    if resume_from is not None and resume_from.exists():
        opt.load_state_dict(torch.load(resume_from, weights_only=True))
    return opt


# What each pairs-trained stage logs as, counts its steps in, and saves its optimiser and its
# voice adversary (if any) to.
PAIR_STAGES = {
    1: ("step", "stage1_iterations", "stage1_opt.pt", "stage1_adversary.pt"),
    3: ("refine_step", "refine_iterations", "refine_opt.pt", "refine_adversary.pt"),
}
# The voice adversary starts afresh and must keep up with the network it is the adversary of.
ADVERSARY_LR_SCALE = 10.0


def _train_pairs(
    stage: int,
    cfg: ModelConfig,
    tcfg: TrainConfig,
    model: MeshTalk,
    prior: AudioPrior,
    params: list[torch.nn.Parameter],
    ds: Windows,
    extra: dict,
    budget: Budget,
    base_lr: float,
) -> None:
    """The loop of stage 1 and refine: steps on pairs (training `params`) from
    `extra[step key]` to the stage's iterations, logging, validating and checkpointing (model,
    optimiser and voice adversary) as configured."""
    rank, n = world()
    run = Path(tcfg.run)
    step_key, total_key, opt_name, adversary_name = PAIR_STAGES[stage]
    step, total = extra.get(step_key, 0), getattr(tcfg, total_key)
    if rank == 0:
        trim_log(run, stage, step)
    model.train()
    regions = region_weights(load_template(), cfg)
    loss_fn = StageOneLoss(cfg, regions, len(ds.voices))
    early_fn = StageOneLoss(replace(cfg, **NO_LIP_LOSSES), regions, len(ds.voices))
    early_fn.adversary = loss_fn.adversary  # one adversary, trained throughout
    adversary = [] if loss_fn.adversary is None else list(loss_fn.adversary.parameters())
    if adversary and step:
        if not (run / adversary_name).is_file():
            raise ValueError(
                f"{run} resumes at step {step} but has no {adversary_name}: "
                "voice_adversary_weight was switched on mid-run; start a new run"
            )
        loss_fn.adversary.load_state_dict(torch.load(run / adversary_name, weights_only=True))
    opt = _adam(params, base_lr, run / opt_name if step else None, adversary)
    params = params + adversary
    val = _validation_batches(tcfg, cfg)
    t0 = time.time()
    stop = budget.spent(step, n)
    while step < total and not stop:
        lr = learning_rate(tcfg, base_lr, step, total)
        fn = loss_fn if stage != 1 or step >= tcfg.lip_losses_from else early_fn
        out, grad = _pairs_step(model, params, opt, fn, ds, tcfg, step, lr)
        step += 1
        stop = budget.spent(step, n)  # on every process: it is a collective
        if step % tcfg.log_every == 0 or step == total:
            rec = {
                "stage": stage,
                "step": step,
                "lr": learning_rate(tcfg, base_lr, step, total),
                "grad": float(grad),
                "sec": round(time.time() - t0, 1),
            }
            rec.update({k: _mean(v, n) for k, v in out.items()})
            if step % tcfg.checkpoint_every == 0 or step == total:
                rec.update(_validate(model, loss_fn, val))
            log(run, rank, rec)
        if rank == 0 and (step % tcfg.checkpoint_every == 0 or step == total or stop):
            _save(run / "stage1.pt", cfg, model, prior, **{**extra, step_key: step})
            _save_state(opt, run / opt_name)
            if adversary:
                _save_state(loss_fn.adversary, run / adversary_name)


def _save_state(obj: torch.optim.Optimizer | torch.nn.Module, path: Path) -> None:
    """Atomically, like the checkpoint: a killed run never leaves half a file to resume from."""
    tmp = path.with_suffix(".tmp")
    torch.save(obj.state_dict(), tmp)
    os.replace(tmp, path)


def _pairs_step(
    model: MeshTalk,
    params: list[torch.nn.Parameter],
    opt: torch.optim.Optimizer,
    loss_fn: StageOneLoss,
    ds: Windows,
    tcfg: TrainConfig,
    step: int,
    lr: float,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One optimiser step of stage 1 (or refine) on the pairs of `step`: this process's share
    of the global batch, gradients averaged over processes. Returns (losses, grad norm)."""
    rank, n = world()
    cfg = model.cfg
    idx = batch_indices(step, tcfg.batch_size // 2, rank, n)  # pairs
    batch = collate([x for i in idx for x in ds.pair(i)])
    shape = (tcfg.stage1_frames, cfg.heads, cfg.categories)
    noise = torch.stack([item_noise(tcfg.seed, 2 * i + j, shape) for i in idx for j in (0, 1)])
    for g in opt.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)
    out = _stage1_loss(loss_fn, model, batch, noise, batch["voice"])
    opt.zero_grad(set_to_none=True)
    out["total"].backward()
    average_gradients(params, n)
    grad = torch.nn.utils.clip_grad_norm_(params, tcfg.grad_clip)
    opt.step()
    return out, grad


def _stage1_loss(
    loss_fn: StageOneLoss, model: MeshTalk, batch: dict, noise=None, voice=None
) -> dict:
    """The losses of a batch; `voice` (the training batches' voices) adds the adversary's."""
    offsets = batch["vertices"] - batch["template"][:, None]
    start, template = int(batch["start"][0]), batch["template"]
    return loss_fn(model, batch["mel"], offsets, template, start, noise, batch["bilabial"], voice)


def _mean(x: torch.Tensor, n: int) -> float:
    """A loss averaged over all processes (for the log)."""
    x = x.detach().clone()
    if n > 1:
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        x /= n
    return float(x)


def _save(path: Path, cfg, model, prior, **extra) -> None:
    tmp = path.with_suffix(".tmp")
    save_checkpoint(tmp, cfg, model, prior, **extra)
    os.replace(tmp, path)


def _validation_batches(tcfg: TrainConfig, cfg: ModelConfig) -> list[dict]:
    """Fixed windows of held-out voices and sentences, the same at every validation."""
    ds = Windows(
        tcfg.corpus, "val", tcfg.stage1_frames, cfg, length=tcfg.val_windows, seed=tcfg.seed + 1
    )
    items = [x for i in range(tcfg.val_windows // 2) for x in ds.pair(i)]
    return [collate(items[i : i + tcfg.batch_size]) for i in range(0, len(items), tcfg.batch_size)]


@torch.no_grad()
def _validate(model: MeshTalk, loss_fn: StageOneLoss, batches: list[dict]) -> dict[str, float]:
    model.eval()
    totals: dict[str, float] = {}
    for b in batches:
        out = _stage1_loss(loss_fn, model, b)
        for k, v in out.items():
            totals["val_" + k] = totals.get("val_" + k, 0.0) + float(v) / len(batches)
    model.train()
    return totals


# --- refine ----------------------------------------------------------------------------------


def refine(cfg: ModelConfig, tcfg: TrainConfig, budget: Budget | None = None) -> Path:
    """Train `refine_modules` (default: the decoder alone), starting from `refine_from`'s
    finished checkpoint, with this config's loss weights. With the encoders and the fusion
    frozen the codes the prior learnt are still the decoder's input and stage 2 need not be
    redone; if they train too, the checkpoint forgets its prior's step so that stage 2 runs
    again (warm-started from the old prior). With `refine_iterations = 0` the run is a copy
    whose prior stage 2 fits again, on this run's corpus."""
    budget = budget or Budget()
    rank, n = world()
    torch.set_num_threads(max(1, tcfg.threads // n))
    run = Path(tcfg.run)
    ckpt_path = run / "stage1.pt"
    if rank == 0 and not ckpt_path.exists():
        source, (cfg0, model0, prior0, extra0) = refine_source(tcfg)
        run.mkdir(parents=True, exist_ok=True)
        extra0.pop("refine_step", None)  # a refined source: this refine starts at its step 0
        if not tcfg.refine_iterations:  # no stage-1 steps: the refine only refits the prior
            extra0.pop("prior_step", None)  # (e.g. on a corpus with other upper faces)
        _save(ckpt_path, cfg0, model0, prior0, **{**extra0, "refined_from": str(source)})
    if n > 1:
        dist.barrier()
    trained, model, prior, extra = load_checkpoint(ckpt_path)
    own = {k: getattr(cfg, k) for k in (*LOSS_SETTINGS, *FRONT_END_SETTINGS)}
    cfg = replace(trained, **own)  # the network as trained, this config's losses and centring
    model.cfg = cfg
    step, total = extra.get("refine_step", 0), tcfg.refine_iterations
    if not total:
        return ckpt_path
    ds = _train_windows(tcfg, cfg, tcfg.stage1_frames, total, seed=tcfg.seed + 4)
    if cfg.mel_centring != trained.mel_centring:  # another input: measure its statistics
        if "audio_encoder" not in tcfg.refine_modules:
            raise ValueError(
                f"mel_centring {trained.mel_centring!r} -> {cfg.mel_centring!r} changes the "
                "audio encoder's input: add 'audio_encoder' to refine_modules"
            )
        model.set_mel_normalisation(
            *mel_statistics([ds[i]["mel"].numpy() for i in range(tcfg.stats_windows)])
        )
    for p in model.parameters():
        p.requires_grad_(False)
    unknown = set(tcfg.refine_modules) - {name for name, _ in model.named_children()}
    if unknown or not tcfg.refine_modules:
        raise ValueError(f"refine_modules: unknown or none: {sorted(unknown)}")
    modules = [getattr(model, name) for name in tcfg.refine_modules]
    params = [p for m in modules for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    if step < total and set(tcfg.refine_modules) != {"decoder"}:
        extra.pop("prior_step", None)  # new codes: the prior must be trained again
    _train_pairs(3, cfg, tcfg, model, prior, params, ds, extra, budget, tcfg.refine_lr)
    return ckpt_path


def refine_source(tcfg: TrainConfig) -> tuple[Path, tuple]:
    """What a refine starts from: `refine_from` is a run with a finished stage 2, or an
    exported weights file (.npz, e.g. the bundled network: a machine without the training
    runs can still refine). A weights file holds no expression encoder and no fusion: they
    come from its training-parts file (`refine_parts`), or start afresh, and then the refine
    must train them (into the decoder's existing codes)."""
    source = Path(tcfg.refine_from)
    if source.suffix == ".npz":
        missing = set(WEIGHTS_FILE_LACKS) - set(tcfg.refine_modules)
        if missing and not tcfg.refine_parts:
            raise ValueError(
                f"refine_from: {source} is a weights file, which holds no "
                f"{' or '.join(sorted(missing))}; add {sorted(missing)} to refine_modules "
                "or name its training-parts file in refine_parts"
            )
        if not tcfg.refine_iterations:
            raise ValueError(f"refine_from: {source} is a weights file; refine_iterations is 0")
        cfg0, model0, prior0 = load_exported(source, tcfg.refine_parts or None)
        # A finished network: its stage 1 counts as done, and with its training parts its
        # prior fits its codes (a refine that changes them drops this: stage 2 runs again).
        done = {"prior_step": tcfg.stage2_iterations} if tcfg.refine_parts else {}
        return source, (cfg0, model0, prior0, {"step": tcfg.stage1_iterations, **done})
    if tcfg.refine_parts:
        raise ValueError(
            f"refine_parts: {tcfg.refine_parts} belongs with a weights file, but refine_from "
            f"{source} is a run (its checkpoint holds the whole network); remove refine_parts"
        )
    source = source / "stage1.pt"
    finished = source.is_file() and "prior_step" in (ckpt := load_checkpoint(source))[3]
    if not finished:
        raise ValueError(f"refine_from: {source} is not a run with a finished stage 2")
    return source, ckpt


# --- stage 2 ---------------------------------------------------------------------------------


def stage2(cfg: ModelConfig, tcfg: TrainConfig, budget: Budget | None = None) -> Path:
    """Fit the audio-conditioned prior to the stage-1 codes (argmax of the fused logits)."""
    budget = budget or Budget()
    rank, n = world()
    torch.set_num_threads(max(1, tcfg.threads // n))
    run = Path(tcfg.run)
    cfg, model, prior, extra = load_checkpoint(run / "stage1.pt")
    if "prior_step" not in extra and extra.get("step", 0) < tcfg.stage1_iterations:
        raise ValueError(f"stage 1 of {run} is not finished (step {extra.get('step')})")
    if "refined_from" in extra and extra.get("refine_step", 0) < tcfg.refine_iterations:
        raise ValueError(f"the refine of {run} is not finished (step {extra.get('refine_step')})")
    step = extra.get("prior_step", 0)
    if rank == 0:
        trim_log(run, 2, step)
    total = tcfg.stage2_iterations
    opt_path = run / "stage2_opt.pt"
    opt = _adam(list(prior.parameters()), tcfg.stage2_lr, opt_path if step else None)
    ds = _train_windows(tcfg, cfg, tcfg.stage2_frames, total, seed=tcfg.seed + 2)
    val = Windows(
        tcfg.corpus, "val", tcfg.stage2_frames, cfg, length=tcfg.val_windows, seed=tcfg.seed + 3
    )
    prior.train()
    t0 = time.time()
    stop = budget.spent(step, n)
    while step < total and not stop:
        idx = batch_indices(step, tcfg.batch_size, rank, n)
        loss = _prior_loss(model, prior, collate([ds[i] for i in idx]))
        for g in opt.param_groups:
            g["lr"] = learning_rate(tcfg, tcfg.stage2_lr, step, total)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(prior.parameters(), n)
        torch.nn.utils.clip_grad_norm_(prior.parameters(), tcfg.grad_clip)
        opt.step()
        step += 1
        if step % tcfg.log_every == 0 or step == total:
            rec = {
                "stage": 2,
                "step": step,
                "ce": _mean(loss, n),
                "sec": round(time.time() - t0, 1),
            }
            if step % tcfg.checkpoint_every == 0 or step == total:
                with torch.no_grad():
                    prior.eval()
                    vb = [
                        collate([val[i] for i in range(j, min(j + tcfg.batch_size, len(val)))])
                        for j in range(0, len(val), tcfg.batch_size)
                    ]
                    rec["val_ce"] = float(
                        np.mean([float(_prior_loss(model, prior, b)) for b in vb])
                    )
                    prior.train()
            log(run, rank, rec)
        if rank == 0 and (step % tcfg.checkpoint_every == 0 or step == total or stop):
            _save(run / "stage1.pt", cfg, model, prior, **{**extra, "prior_step": step})
            _save_state(opt, opt_path)
    return run / "stage1.pt"


def _prior_loss(model: MeshTalk, prior: AudioPrior, batch: dict) -> torch.Tensor:
    with torch.no_grad():
        offsets = batch["vertices"] - batch["template"][:, None]
        audio = model.encode_audio(batch["mel"], offsets.shape[1], int(batch["start"][0]))
        codes = model.logits(audio, model.encode_expression(offsets)).argmax(dim=-1)
    return prior.loss(codes, audio)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.train", description=__doc__)
    parser.add_argument("stage", choices=("stage1", "stage2", "refine"))
    parser.add_argument("--config", type=Path, default=Path("configs/meshtalk.toml"))
    parser.add_argument("--corpus", help="override [train] corpus")
    parser.add_argument("--extra-corpora", nargs="*", help="override [train] extra_corpora")
    parser.add_argument("--run", help="override [train] run folder")
    parser.add_argument("--refine-from", help="override [train] refine_from (refine)")
    parser.add_argument("--iterations", type=int, help="override this stage's iterations")
    parser.add_argument("--threads", type=int, help="override [train] threads (torch)")
    parser.add_argument(
        "--loss", choices=("xmod", "l2"), help="override [model] loss_mode (the L2 ablation)"
    )
    parser.add_argument(
        "--no-loudness",
        action="store_true",
        help="zero the phonetic front end's loudness channel (the ablation without it)",
    )
    parser.add_argument("--stop-at", type=int, help="checkpoint and stop at this step")
    parser.add_argument("--minutes", type=float, help="checkpoint and stop after this long")
    args = parser.parse_args(argv)
    cfg = ModelConfig.from_toml(args.config)
    if args.loss:
        cfg = replace(cfg, loss_mode=args.loss)
    if args.no_loudness:
        cfg = replace(cfg, loudness=False)
    key = f"{args.stage}_iterations"
    tcfg = TrainConfig.from_toml(
        args.config,
        corpus=args.corpus,
        extra_corpora=None if args.extra_corpora is None else tuple(args.extra_corpora),
        run=args.run,
        refine_from=args.refine_from,
        threads=args.threads,
        **{key: args.iterations},
    )
    Path(tcfg.run).mkdir(parents=True, exist_ok=True)
    (Path(tcfg.run) / "train_config.json").write_text(json.dumps(asdict(tcfg), indent=1))
    budget = Budget(stop_at=args.stop_at, minutes=args.minutes)
    {"stage1": stage1, "stage2": stage2, "refine": refine}[args.stage](cfg, tcfg, budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
