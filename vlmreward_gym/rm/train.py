"""``vlmreward rm-train``: train ``sim-rm`` on the CPU from demo datasets.

    vlmreward rm-train --data DIR [DIR ...] --out CKPT_DIR [--minutes 10] [--holdout-task TEXT ...]
                       [--encoder keypoints|cnn] [--val-fraction 0.15] [--logdir DIR]

Robometer's dual objective on batches of preference pairs (:class:`vlmreward_gym.rm.data.PairSampler`):
per-frame progress regression (MSE) and success classification (BCE) on every clip that shows its
own task, plus a Bradley-Terry trajectory-comparison loss on the preference head for pairs with a
strict order (instruction-swapped clips teach through this loss only).
The run stops at ``--steps`` or after ``--minutes`` (the learning rate decays over whichever
comes first) and writes the checkpoint the ``sim-rm`` backend loads.

Checkpoint selection: a validation split of whole episodes (``--val-fraction`` of each task's episodes, by
seed) is held out of training; every ``--val-every`` steps the losses on a fixed set of its preference pairs
are measured and the weights with the lowest validation loss are the ones saved (never chosen on the
evaluation set, which ``vlmreward eval`` reads from other reset seeds). Losses go to a tqdm bar and, with
``--logdir``, to TensorBoard.

Encoders: ``keypoints`` (PointReach, 2-D; its extra keypoint losses shape the points) and ``cnn`` (rendered 3-D
scenes; trained with random-shift augmentation, the same shift over a clip's frames).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence



@dataclass(frozen=True)
class TrainConfig:
    data: tuple[str, ...]
    out: str
    minutes: float = 10.0
    steps: int | None = None
    holdout_tasks: tuple[str, ...] = ()
    exclude_kinds: tuple[str, ...] = ()  #: episode kinds left out of training (the bad-data ablation)
    pairs: int = 8  #: preference pairs per batch (2 x pairs clips)
    num_frames: int = 16
    frame_size: int = 32
    lr: float = 3e-3
    preference_weight: float = 0.5
    keypoint_weight: float = 10.0  #: weight of the keypoint auto-encoder's reconstruction loss
    motion_weight: float = 20.0  #: extra weight of moving pixels in that loss (see ``reconstruction_loss``)
    spread_weight: float = 0.02  #: weight of the keypoint maps' spatial variance
    keypoint_warmup: float = 0.1  #: fraction of the run that trains the keypoints alone (auto-encoder + spread)
    target_motion_weight: float = 1.0  #: weight of the visible target's stationarity loss
    goal_weight: float = 1.0  #: weight of the goal-at-success grounding loss
    success_weight: float = 0.5
    seed: int = 0
    threads: int = 1
    progress_bar: bool = True
    encoder: str = "keypoints"  #: ``keypoints`` (2-D PointReach) or ``cnn`` (3-D scenes); see ``SimRMConfig``
    shift: int = 4  #: random-shift augmentation in pixels (cnn encoder only; 0 = off)
    #: weight of each clip's last frame in the progress and success losses (cnn encoder; the keypoint net uses 1):
    #: a reward query asks about the last frame, and a success frame is usually an episode's last
    last_frame_weight: float = 4.0
    val_fraction: float = 0.15  #: share of each task's episodes held out for checkpoint selection (0 = none)
    val_every: int = 100  #: steps between validation measurements
    val_pairs: int = 48  #: fixed validation preference pairs
    logdir: str | None = None  #: TensorBoard folder (None: no TensorBoard)

    def model_config(self, vocab: list[str]):
        """The :class:`SimRMConfig` this run trains (the ``cnn`` encoder is wider and has more maps)."""
        from vlmreward_gym.models.sim_rm import SimRMConfig

        if self.encoder == "cnn":
            return SimRMConfig(vocab=vocab, frame_size=self.frame_size, num_frames=self.num_frames, encoder="cnn",
                               channels=(32, 64), keypoints=16)
        return SimRMConfig(vocab=vocab, frame_size=self.frame_size, num_frames=self.num_frames)


def random_shift(frames, pad: int, generator):
    """DrQ's random shift: each clip of ``frames`` (B, T, S, S, 3) uint8 padded by ``pad`` edge pixels and cropped
    back to ``S`` at one random offset for all its frames (a tensor of the same shape)."""
    import torch

    if pad <= 0:
        return frames
    B, T, S = frames.shape[:3]
    padded = torch.nn.functional.pad(frames.permute(0, 1, 4, 2, 3).reshape(B, T * 3, S, S).float(),
                                     (pad, pad, pad, pad), mode="replicate")
    offsets = torch.randint(0, 2 * pad + 1, (B, 2), generator=generator)
    out = torch.stack([padded[i, :, y:y + S, x:x + S] for i, (y, x) in enumerate(offsets.tolist())])
    return out.view(B, T, 3, S, S).permute(0, 1, 3, 4, 2).to(frames.dtype)


def split_validation(episodes, fraction: float, seed: int):
    """``(train, val)``: ``fraction`` of each task's episodes (at least one where a task has two or more and
    ``fraction > 0``), chosen at random with ``seed``, go to validation."""
    import numpy as np

    if fraction <= 0:
        return list(episodes), []
    rng = np.random.default_rng(seed + 7919)
    train, val = [], []
    for task in sorted({e.task for e in episodes}):
        pool = [e for e in episodes if e.task == task]
        n_val = max(1, int(round(fraction * len(pool)))) if len(pool) > 1 else 0
        chosen = set(rng.permutation(len(pool))[:n_val].tolist())
        for i, e in enumerate(pool):
            (val if i in chosen else train).append(e)
    return train, val


def goal_at_success(mover, goal, success, valid):
    """Mean squared distance (a scalar) between the moved thing (B, T, 2) and the goal (B, 1, 2) over the
    ``valid`` (B, T) frames whose success label (B, T) is 1; zero without such frames. Where the moved
    thing is when the task is done is where the goal is: this grounds the instruction directly (without it
    a goal mirrored through the image, "move away from the opposite corner", explains progress as well)."""
    import torch

    done = valid & (success > 0.5)
    if not bool(done.any()):
        return torch.zeros((), dtype=mover.dtype)
    return (mover - goal).square().sum(-1)[done].mean()


def batch_losses(net, pairs: Sequence[tuple[Any, Any, float]], tokenizer, motion_weight: float = 0.0,
                 shift: int = 0, generator=None, last_frame_weight: float = 1.0) -> dict[str, Any]:
    """The unweighted losses (scalar tensors) of a batch of preference pairs ``(a, b, label)``.

    - ``progress``: MSE of the per-frame progress, ``success``: BCE of the per-frame success, both
      over the valid frames of clips that show their own task (relabelled clips are left out);
    - ``preference``: Bradley-Terry loss of ``a`` over ``b`` for pairs with a strict order (label 0 or 1);
    - ``keypoints``: the keypoint auto-encoder's reconstruction error on every valid frame (moving
      pixels weighted up by ``motion_weight``);
    - ``spread``: the mean spatial variance of the keypoint maps (a point is one place, not a mix of two);
    - ``target_motion``: how far the visible-target point moves within a clip;
    - ``goal_at_success``: how far the moved thing is from the goal on frames labelled successful.

    The last four are the keypoint encoder's only; ``shift`` > 0 applies :func:`random_shift` first; the
    progress and success terms weigh each clip's last valid frame ``last_frame_weight`` times the others.
    """
    import torch
    from torch.nn.functional import binary_cross_entropy_with_logits as bce

    from vlmreward_gym.models.sim_rm import collate

    clips = [x for a, b, _ in pairs for x in (a, b)]
    frames, tokens, lengths = collate([c.frames for c in clips], [c.instruction for c in clips], tokenizer)
    frames = random_shift(frames, shift, generator)
    T = frames.shape[1]
    in_clip = torch.arange(T)[None] < lengths[:, None]
    valid = in_clip & torch.tensor([not c.relabelled for c in clips])[:, None]
    target_p, target_s = torch.zeros(len(clips), T), torch.zeros(len(clips), T)
    for i, c in enumerate(clips):
        target_p[i, :len(c.progress)] = torch.from_numpy(c.progress)
        target_s[i, :len(c.success)] = torch.from_numpy(c.success)
    p_logit, s_logit, pref, aux = net(frames, tokens, lengths, with_keypoints=True)
    # the last frame of a clip is what a reward query asks about (success now, progress so far): it weighs
    # ``last_frame_weight`` times a middle frame
    weight = valid * (1.0 + (last_frame_weight - 1.0) * (torch.arange(T)[None] == lengths[:, None] - 1))
    n = weight.sum().clamp(min=1)
    labels = torch.tensor([label for _, _, label in pairs], dtype=torch.float32)
    ordered = labels != 0.5
    diff = pref[0::2] - pref[1::2]
    losses = {"progress": ((torch.sigmoid(p_logit) - target_p) ** 2 * weight).sum() / n,
              "success": (bce(s_logit, target_s, reduction="none") * weight).sum() / n,
              "preference": bce(diff[ordered], labels[ordered]) if ordered.any() else torch.zeros(())}
    if not aux:  # the cnn encoder: no keypoints to shape
        return losses
    return {**losses, "keypoints": net.reconstruction_loss(frames, aux["keypoints"], in_clip, motion_weight),
            "spread": aux["spread"][in_clip].mean(),
            "target_motion": net.target_motion(aux["target"], in_clip),
            "goal_at_success": goal_at_success(aux["mover"], aux["goal"], target_s, valid)}


def weighted_loss(cfg: TrainConfig, losses: dict[str, Any], task_weight: float):
    """The training objective of ``losses`` (the :func:`batch_losses` dict); ``task_weight`` scales the heads' and
    grounding losses (0 while the keypoints warm up alone)."""
    weights = {"progress": task_weight, "success": task_weight * cfg.success_weight,
               "preference": task_weight * cfg.preference_weight,
               "target_motion": task_weight * cfg.target_motion_weight,
               "goal_at_success": task_weight * cfg.goal_weight,
               "keypoints": cfg.keypoint_weight, "spread": cfg.spread_weight}
    return sum(weights[name] * value for name, value in losses.items())


def validation_loss(net, cfg: TrainConfig, pairs, tokenizer) -> dict[str, float]:
    """The heads' losses on the fixed validation ``pairs`` (no augmentation, no gradient) and their weighted sum
    ``total`` (the selection criterion: progress + success + preference, weighted as in training)."""
    import torch

    net.eval()
    sums: dict[str, float] = {}
    with torch.no_grad():
        for start in range(0, len(pairs), cfg.pairs):
            losses = batch_losses(net, pairs[start:start + cfg.pairs], tokenizer,
                                  last_frame_weight=cfg.last_frame_weight if net.cfg.encoder == "cnn" else 1.0)
            for key in ("progress", "success", "preference"):
                sums[key] = sums.get(key, 0.0) + float(losses[key])
    net.train()
    batches = max(1, math.ceil(len(pairs) / cfg.pairs))
    out = {k: v / batches for k, v in sums.items()}
    out["total"] = out["progress"] + cfg.success_weight * out["success"] + cfg.preference_weight * out["preference"]
    return out


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train and save a checkpoint into ``cfg.out``; return the training summary."""
    import copy

    import torch
    from tqdm import tqdm

    from vlmreward_gym.models.sim_rm import WordTokenizer, build_net, save_checkpoint
    from vlmreward_gym.rm.data import PairSampler, load_episodes

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    t_load = time.perf_counter()
    episodes = load_episodes(cfg.data, cfg.frame_size, cfg.holdout_tasks, cfg.exclude_kinds)
    tasks = sorted({e.task for e in episodes})
    tokenizer = WordTokenizer.build([e.instruction for e in episodes])
    model_cfg = cfg.model_config(tokenizer.vocab)
    net = build_net(model_cfg)
    train_episodes, val_episodes = split_validation(episodes, cfg.val_fraction, cfg.seed)
    sampler = PairSampler(train_episodes, cfg.num_frames, cfg.seed)
    val_pairs = ([PairSampler(val_episodes, cfg.num_frames, cfg.seed + 104729).sample_pair()
                  for _ in range(cfg.val_pairs)] if val_episodes else [])
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    writer = None
    if cfg.logdir:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(cfg.logdir)
    shift = cfg.shift if model_cfg.encoder == "cnn" else 0
    warmup = cfg.keypoint_warmup if model_cfg.encoder == "keypoints" else 0.0
    budget = cfg.minutes * 60.0
    load_s = time.perf_counter() - t_load
    start = time.perf_counter()
    step, ema, best = 0, {}, {"total": math.inf, "step": 0}
    best_state = None
    bar = tqdm(total=cfg.steps or int(budget), unit="step" if cfg.steps else "s", disable=not cfg.progress_bar,
               desc="rm-train")

    def validate() -> None:
        nonlocal best_state
        if not val_pairs:
            return
        val = validation_loss(net, cfg, val_pairs, tokenizer)
        for key, value in val.items():
            if writer is not None:
                writer.add_scalar(f"val/{key}", value, step)
        if val["total"] < best["total"]:
            best.update(val, step=step)
            best_state = copy.deepcopy(net.state_dict())

    net.train()
    while True:
        elapsed = time.perf_counter() - start
        frac = max(step / cfg.steps if cfg.steps else 0.0, elapsed / budget)
        if frac >= 1.0:
            break
        for group in opt.param_groups:  # warm-up then cosine decay over the run
            group["lr"] = cfg.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * frac))
        pairs = [sampler.sample_pair() for _ in range(cfg.pairs)]
        losses = batch_losses(net, pairs, tokenizer, cfg.motion_weight, shift, generator,
                              cfg.last_frame_weight if model_cfg.encoder == "cnn" else 1.0)
        # the keypoints settle on objects first; choosing among them (the grounding) comes after
        loss = weighted_loss(cfg, losses, 0.0 if frac < warmup else 1.0)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        for key, value in losses.items():
            value = float(value.detach())
            ema[key] = 0.95 * ema.get(key, value) + 0.05 * value
            if writer is not None:
                writer.add_scalar(f"train/{key}", value, step)
        if step % cfg.val_every == 0 and frac >= warmup:
            validate()
            bar.set_description(f"rm-train (best val {best['total']:.4f} @ {best['step']})")
        bar.update(1 if cfg.steps else int(time.perf_counter() - start) - bar.n)
        bar.set_postfix({k: f"{v:.4f}" for k, v in ema.items()})
    validate()
    bar.close()
    if writer is not None:
        writer.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    summary = {"steps": step, "train_minutes": round((time.perf_counter() - start) / 60.0, 2),
               "load_seconds": round(load_s, 1), "episodes": len(train_episodes),
               "validation_episodes": len(val_episodes), "tasks": tasks,
               "holdout_tasks": list(cfg.holdout_tasks), "exclude_kinds": list(cfg.exclude_kinds),
               "data": list(cfg.data), "encoder": model_cfg.encoder,
               "seed": cfg.seed, "final_losses_ema": {k: round(v, 5) for k, v in ema.items()},
               "selected": ({k: (round(v, 5) if isinstance(v, float) else v) for k, v in best.items()}
                            if best_state is not None else "last step (no validation split)"),
               "parameters": sum(p.numel() for p in net.parameters())}
    model_cfg.training = summary
    net.eval()
    save_checkpoint(net, model_cfg, cfg.out)
    return summary


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="vlmreward rm-train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", required=True, help="demo dataset folders (vlmreward_gym.data format)")
    parser.add_argument("--out", required=True, help="checkpoint folder to write")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock training budget (default 10)")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps (default: time budget only)")
    parser.add_argument("--holdout-task", action="append", default=[], metavar="TEXT",
                        help="leave out tasks whose 'env_id: instruction' contains TEXT (repeatable)")
    parser.add_argument("--exclude-kind", action="append", default=[], metavar="KIND",
                        help="leave out episodes of this kind (repeatable; e.g. the failure kinds)")
    parser.add_argument("--pairs", type=int, default=8, help="preference pairs per batch")
    parser.add_argument("--num-frames", type=int, default=16, help="frames per training clip")
    parser.add_argument("--frame-size", type=int, default=None,
                        help="square frame side the model reads (default: 32 for keypoints, 64 for cnn)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--motion-weight", type=float, default=TrainConfig.motion_weight,
                        help="extra weight of moving pixels in the keypoint auto-encoder's loss")
    parser.add_argument("--spread-weight", type=float, default=TrainConfig.spread_weight,
                        help="weight of the keypoint maps' spatial variance")
    parser.add_argument("--keypoint-warmup", type=float, default=TrainConfig.keypoint_warmup,
                        help="fraction of the run that trains the keypoints alone")
    parser.add_argument("--encoder", choices=("keypoints", "cnn"), default=TrainConfig.encoder,
                        help="frame encoder: keypoints (2-D PointReach) or cnn (rendered 3-D scenes)")
    parser.add_argument("--shift", type=int, default=TrainConfig.shift,
                        help="random-shift augmentation in pixels (cnn encoder)")
    parser.add_argument("--val-fraction", type=float, default=TrainConfig.val_fraction,
                        help="share of each task's episodes held out to select the checkpoint (0: keep the last)")
    parser.add_argument("--val-every", type=int, default=TrainConfig.val_every, help="steps between validations")
    parser.add_argument("--logdir", default=None, help="write TensorBoard losses here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")),
                        help="torch CPU threads (default: $OMP_NUM_THREADS or 1)")
    parser.add_argument("--no-progress", dest="progress_bar", action="store_false")
    args = parser.parse_args(argv)
    cfg = TrainConfig(data=tuple(args.data), out=args.out, minutes=args.minutes, steps=args.steps,
                      holdout_tasks=tuple(args.holdout_task), exclude_kinds=tuple(args.exclude_kind),
                      pairs=args.pairs, num_frames=args.num_frames,
                      frame_size=args.frame_size or (64 if args.encoder == "cnn" else 32), lr=args.lr,
                      motion_weight=args.motion_weight, spread_weight=args.spread_weight,
                      keypoint_warmup=args.keypoint_warmup, seed=args.seed, threads=args.threads,
                      progress_bar=args.progress_bar, encoder=args.encoder, shift=args.shift,
                      val_fraction=args.val_fraction, val_every=args.val_every, logdir=args.logdir)
    if not Path(cfg.data[0]).exists():
        raise SystemExit(f"vlmreward rm-train: no dataset at {cfg.data[0]}")
    summary = train(cfg)
    print(f"sim-rm: {summary['steps']} steps in {summary['train_minutes']} min on {summary['episodes']} episodes "
          f"of {len(summary['tasks'])} tasks (held out: {summary['holdout_tasks'] or 'none'}); "
          f"{summary['parameters']:,} parameters")
    print(f"losses (EMA): {summary['final_losses_ema']}; selected on validation: {summary['selected']}")
    print(f"checkpoint: {cfg.out}  ->  make_reward_model('sim-rm', path={cfg.out!r})")
    return summary


if __name__ == "__main__":
    main()
