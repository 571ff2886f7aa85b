"""``vlmreward rm-train``: train ``sim-rm`` on the CPU from demo datasets.

    vlmreward rm-train --data DIR [DIR ...] --out CKPT_DIR [--minutes 10] [--holdout-task TEXT ...]

Robometer's dual objective on batches of preference pairs (:class:`vlmreward_gym.rm.data.PairSampler`):
per-frame progress regression (MSE) and success classification (BCE) on every clip that shows its
own task, plus a Bradley-Terry trajectory-comparison loss on the preference head for pairs with a
strict order (instruction-swapped clips teach through this loss only).
The run stops at ``--steps`` or after ``--minutes`` (the learning rate decays over whichever
comes first) and writes the checkpoint the ``sim-rm`` backend loads.
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


def batch_losses(net, pairs: Sequence[tuple[Any, Any, float]], tokenizer, motion_weight: float = 0.0) -> dict[str, Any]:
    """The unweighted losses (scalar tensors) of a batch of preference pairs ``(a, b, label)``.

    - ``progress``: MSE of the per-frame progress, ``success``: BCE of the per-frame success, both
      over the valid frames of clips that show their own task (relabelled clips are left out);
    - ``preference``: Bradley-Terry loss of ``a`` over ``b`` for pairs with a strict order (label 0 or 1);
    - ``keypoints``: the keypoint auto-encoder's reconstruction error on every valid frame (moving
      pixels weighted up by ``motion_weight``);
    - ``spread``: the mean spatial variance of the keypoint maps (a point is one place, not a mix of two);
    - ``target_motion``: how far the visible-target point moves within a clip;
    - ``goal_at_success``: how far the moved thing is from the goal on frames labelled successful.
    """
    import torch
    from torch.nn.functional import binary_cross_entropy_with_logits as bce

    from vlmreward_gym.models.sim_rm import collate

    clips = [x for a, b, _ in pairs for x in (a, b)]
    frames, tokens, lengths = collate([c.frames for c in clips], [c.instruction for c in clips], tokenizer)
    T = frames.shape[1]
    in_clip = torch.arange(T)[None] < lengths[:, None]
    valid = in_clip & torch.tensor([not c.relabelled for c in clips])[:, None]
    target_p, target_s = torch.zeros(len(clips), T), torch.zeros(len(clips), T)
    for i, c in enumerate(clips):
        target_p[i, :len(c.progress)] = torch.from_numpy(c.progress)
        target_s[i, :len(c.success)] = torch.from_numpy(c.success)
    p_logit, s_logit, pref, aux = net(frames, tokens, lengths, with_keypoints=True)
    n = valid.sum().clamp(min=1)
    labels = torch.tensor([label for _, _, label in pairs], dtype=torch.float32)
    ordered = labels != 0.5
    diff = pref[0::2] - pref[1::2]
    return {"progress": ((torch.sigmoid(p_logit) - target_p) ** 2 * valid).sum() / n,
            "success": (bce(s_logit, target_s, reduction="none") * valid).sum() / n,
            "preference": bce(diff[ordered], labels[ordered]) if ordered.any() else torch.zeros(()),
            "keypoints": net.reconstruction_loss(frames, aux["keypoints"], in_clip, motion_weight),
            "spread": aux["spread"][in_clip].mean(),
            "target_motion": net.target_motion(aux["target"], in_clip),
            "goal_at_success": goal_at_success(aux["mover"], aux["goal"], target_s, valid)}


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train and save a checkpoint into ``cfg.out``; return the training summary."""
    import torch
    from tqdm import tqdm

    from vlmreward_gym.models.sim_rm import SimRMConfig, WordTokenizer, build_net, save_checkpoint
    from vlmreward_gym.rm.data import PairSampler, load_episodes

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t_load = time.perf_counter()
    episodes = load_episodes(cfg.data, cfg.frame_size, cfg.holdout_tasks)
    tasks = sorted({e.task for e in episodes})
    tokenizer = WordTokenizer.build([e.instruction for e in episodes])
    model_cfg = SimRMConfig(vocab=tokenizer.vocab, frame_size=cfg.frame_size, num_frames=cfg.num_frames)
    net = build_net(model_cfg)
    sampler = PairSampler(episodes, cfg.num_frames, cfg.seed)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    budget = cfg.minutes * 60.0
    load_s = time.perf_counter() - t_load
    start = time.perf_counter()
    step, ema = 0, {}
    bar = tqdm(total=cfg.steps or int(budget), unit="step" if cfg.steps else "s", disable=not cfg.progress_bar,
               desc="rm-train")
    net.train()
    while True:
        elapsed = time.perf_counter() - start
        frac = max(step / cfg.steps if cfg.steps else 0.0, elapsed / budget)
        if frac >= 1.0:
            break
        for group in opt.param_groups:  # warm-up then cosine decay over the run
            group["lr"] = cfg.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * frac))
        pairs = [sampler.sample_pair() for _ in range(cfg.pairs)]
        losses = batch_losses(net, pairs, tokenizer, cfg.motion_weight)
        # the keypoints settle on objects first; choosing among them (the grounding) comes after
        task = 0.0 if frac < cfg.keypoint_warmup else 1.0
        loss = (task * (losses["progress"] + cfg.success_weight * losses["success"]
                        + cfg.preference_weight * losses["preference"]
                        + cfg.target_motion_weight * losses["target_motion"]
                        + cfg.goal_weight * losses["goal_at_success"])
                + cfg.keypoint_weight * losses["keypoints"] + cfg.spread_weight * losses["spread"])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        for key, value in losses.items():
            value = float(value.detach())
            ema[key] = 0.95 * ema.get(key, value) + 0.05 * value
        bar.update(1 if cfg.steps else int(time.perf_counter() - start) - bar.n)
        bar.set_postfix({k: f"{v:.4f}" for k, v in ema.items()})
    bar.close()
    summary = {"steps": step, "train_minutes": round((time.perf_counter() - start) / 60.0, 2),
               "load_seconds": round(load_s, 1), "episodes": len(episodes), "tasks": tasks,
               "holdout_tasks": list(cfg.holdout_tasks), "data": list(cfg.data),
               "final_losses_ema": {k: round(v, 5) for k, v in ema.items()},
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
    parser.add_argument("--pairs", type=int, default=8, help="preference pairs per batch")
    parser.add_argument("--num-frames", type=int, default=16, help="frames per training clip")
    parser.add_argument("--frame-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--motion-weight", type=float, default=TrainConfig.motion_weight,
                        help="extra weight of moving pixels in the keypoint auto-encoder's loss")
    parser.add_argument("--spread-weight", type=float, default=TrainConfig.spread_weight,
                        help="weight of the keypoint maps' spatial variance")
    parser.add_argument("--keypoint-warmup", type=float, default=TrainConfig.keypoint_warmup,
                        help="fraction of the run that trains the keypoints alone")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")),
                        help="torch CPU threads (default: $OMP_NUM_THREADS or 1)")
    parser.add_argument("--no-progress", dest="progress_bar", action="store_false")
    args = parser.parse_args(argv)
    cfg = TrainConfig(data=tuple(args.data), out=args.out, minutes=args.minutes, steps=args.steps,
                      holdout_tasks=tuple(args.holdout_task), pairs=args.pairs, num_frames=args.num_frames,
                      frame_size=args.frame_size, lr=args.lr, motion_weight=args.motion_weight,
                      spread_weight=args.spread_weight, keypoint_warmup=args.keypoint_warmup, seed=args.seed,
                      threads=args.threads, progress_bar=args.progress_bar)
    if not Path(cfg.data[0]).exists():
        raise SystemExit(f"vlmreward rm-train: no dataset at {cfg.data[0]}")
    summary = train(cfg)
    print(f"sim-rm: {summary['steps']} steps in {summary['train_minutes']} min on {summary['episodes']} episodes "
          f"of {len(summary['tasks'])} tasks (held out: {summary['holdout_tasks'] or 'none'}); "
          f"{summary['parameters']:,} parameters")
    print(f"losses (EMA): {summary['final_losses_ema']}")
    print(f"checkpoint: {cfg.out}  ->  make_reward_model('sim-rm', path={cfg.out!r})")
    return summary


if __name__ == "__main__":
    main()
