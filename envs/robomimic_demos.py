"""Generate Robomimic demonstrations in the shared dataset format (:mod:`vlmreward_gym.data`).

    python -m vlmreward_rl.envs.robomimic_demos --env Lift -n 50 --out data/lift_demos \\
        [--non-expert 10] [--frame-stride 5] [--frame-size 128] [--camera agentview] [--seed 0]

Kinds (``Trajectory.kind``):

* ``expert``: the scripted controller of :mod:`vlmreward_rl.envs.robomimic_scripted`, ``-n`` episodes.
* ``noisy``: the expert's actions plus Gaussian noise (std ``--noise``, in action units), clipped;
  at most 3 typical expert lengths.
* ``early_stop``: the expert, cut after a random 20-70 % of the task's typical expert length.
* ``wrong_target``, ``near_miss``, ``drop``, ``shortcut``, ``stop_short``, ``knock``: the scripted
  controller's failure variants (:mod:`vlmreward_rl.envs.robomimic_scripted` describes each: a wrong goal, the
  object let go next to the goal, dropped half way, the trip made without the object, held just
  short of the goal, knocked away); 2 typical expert lengths.
* ``policy``: a learned policy's rollout (:func:`rollout` with ``act``; the reward-model recipes roll BC policies
  out this way, :mod:`vlmreward_rl.recipes.policy_rollouts`), to the env's horizon or its success; not made by
  the CLI. ``actor``: the same for a DSRL actor steering a BC policy (:mod:`vlmreward_rl.recipes.actor_rollouts`).

``--non-expert`` episodes of each non-expert kind are written after the experts. Every trajectory
carries its per-state oracle progress and success, the bare env's reward (the staged shaped
reward) and frames every ``--frame-stride`` states (plus the last state). Failed expert episodes
are kept (``success`` says which); the summary printed at the end gives the success rate per kind.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from vlmreward_gym.data import Trajectory, TrajectoryWriter, read_metadata
from vlmreward_rl.envs.robomimic import OBS_KEYS, TASKS, RobomimicEnv
from vlmreward_rl.envs.robomimic_scripted import make_controller
from vlmreward_rl.envs.robomimic_tasks import DEMO_KINDS as KINDS, FAILURE_KINDS
from vlmreward_rl.envs.tasks import task as task_record
from vlmreward_gym.oracle import PROGRESS_KEY, SUCCESS_KEY

#: Typical scripted expert episode length in steps (for ``early_stop`` cut points).
EXPERT_STEPS = {"Lift": 32, "Can": 110, "Square": 100}
#: Non-expert episodes end after this many typical expert lengths (or at the horizon, if sooner).
NON_EXPERT_LENGTH = {"noisy": 3, **{kind: 2 for kind in FAILURE_KINDS}}
#: Learned policies' rollouts (:func:`rollout` with ``act``): a BC policy's (``policy``) or a DSRL actor's steering
#: one (``actor``).
LEARNED_KINDS = ("policy", "actor")


def rollout(env: RobomimicEnv, kind: str, seed: int, *, frame_stride: int, noise: float,
            rng: np.random.Generator, render: bool = True,
            act: Callable[[np.ndarray], np.ndarray] | None = None) -> Trajectory:
    """Run one episode of ``kind`` from ``env.reset(seed=seed)`` and return it as a :class:`Trajectory`.

    Frames (uint8, H x W x 3) are rendered every ``frame_stride`` states and at the last state
    when ``render`` is true. ``act(obs) -> action`` (obs (D,) float32 -> (7,)) replaces the scripted controller
    for the kinds of :data:`LEARNED_KINDS` (a learned policy's rollout, run to the env's horizon or success).
    """
    if kind in LEARNED_KINDS and act is None or kind not in (*KINDS, *LEARNED_KINDS):
        raise ValueError(f"unknown demo kind {kind!r}; choose from {KINDS} (or one of {LEARNED_KINDS} with an act "
                         "function)")
    obs, info = env.reset(seed=seed)
    if act is None:
        controller = make_controller(env.task, env.rs_env, kind if kind in FAILURE_KINDS else "expert")
    typical = EXPERT_STEPS[env.task]
    max_steps = min(env.horizon, NON_EXPERT_LENGTH.get(kind, env.horizon) * typical)
    if kind == "early_stop":
        max_steps = int(rng.integers(int(0.2 * typical), int(0.7 * typical) + 1))
    observations, actions, rewards = [obs], [], []
    progress, success = [info[PROGRESS_KEY]], [info[SUCCESS_KEY]]
    frames, frame_steps = [], []

    def grab(t: int) -> None:
        if render:
            frames.append(env.render())
            frame_steps.append(t)

    grab(0)
    for t in range(1, max_steps + 1):
        action = np.asarray(act(obs), np.float32) if act is not None else controller()
        if kind == "noisy":
            action = np.clip(action + rng.normal(0.0, noise, action.shape), -1.0, 1.0).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        observations.append(obs)
        actions.append(action)
        rewards.append(reward)
        progress.append(info[PROGRESS_KEY])
        success.append(info[SUCCESS_KEY])
        done = terminated or truncated or t == max_steps
        if t % frame_stride == 0 or done:
            grab(t)
        if done:
            break
    frame_array = np.stack(frames) if frames else np.zeros((0, *env.frame_hw, 3), np.uint8)
    return Trajectory(env_id=f"{env.task}-v1", instruction=task_record(env.task).instruction, kind=kind, seed=seed,
                      obs=np.stack(observations), actions=np.stack(actions), env_rewards=np.asarray(rewards),
                      oracle_progress=np.asarray(progress), success=np.asarray(success),
                      frames=frame_array, frame_steps=np.asarray(frame_steps, np.int64))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vlmreward_rl.envs.robomimic_demos", description=__doc__.split("\n\n")[0])
    p.add_argument("--env", required=True, type=lambda s: s.removesuffix("-v1"), choices=sorted(TASKS),
                   help="Robomimic task (Lift, Can, Square; a -v1 suffix is accepted)")
    p.add_argument("-n", "--num-expert", type=int, default=50, help="expert episodes")
    p.add_argument("--out", required=True, type=Path, help="output dataset folder (must hold no dataset)")
    p.add_argument("--non-expert", type=int, default=0, help="episodes of each non-expert kind")
    p.add_argument("--kinds", default=",".join(KINDS[1:]), help="comma-separated non-expert kinds")
    p.add_argument("--frame-stride", type=int, default=5, help="render every k-th state (and the last)")
    p.add_argument("--frame-size", type=int, default=None, help="square frame size in pixels (default: task's)")
    p.add_argument("--camera", default=None, help="robosuite camera name (default: task's)")
    p.add_argument("--no-frames", action="store_true", help="store no frames (state-only, much faster)")
    p.add_argument("--noise", type=float, default=0.5, help="action noise std for the 'noisy' kind")
    p.add_argument("--seed", type=int, default=0, help="first reset seed; episode i uses seed + i")
    p.add_argument("--shard-size", type=int, default=100, help="trajectories per HDF5 shard")
    return p


def main(argv: list[str] | None = None) -> dict[str, dict[str, int]]:
    """CLI entry (also ``vlmreward demos --env <Task> ...``); returns the per-kind counts."""
    args = _parser().parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    bad = [k for k in kinds if k not in KINDS[1:]]
    if bad:
        raise SystemExit(f"unknown non-expert kinds {bad}; choose from {KINDS[1:]}")
    if args.frame_stride < 1:
        raise SystemExit("--frame-stride must be >= 1")
    record = task_record(args.env)
    args.frame_size = record.frame_size if args.frame_size is None else args.frame_size
    args.camera = args.camera or record.camera
    env = RobomimicEnv(args.env, render_mode=None if args.no_frames else "rgb_array",
                       frame_size=args.frame_size, camera=args.camera)
    rng = np.random.default_rng(args.seed)
    plan = [("expert", args.num_expert)] + [(k, args.non_expert) for k in kinds]
    metadata = {"env_id": f"{args.env}-v1", "task": args.env, "robosuite_env": TASKS[args.env].robosuite_env,
                "generator": "vlmreward_rl.envs.robomimic_demos", "controller": "scripted OSC_POSE",
                "obs_keys": [k for _, k in OBS_KEYS], "frame_size": args.frame_size, "camera": args.camera,
                "frame_stride": None if args.no_frames else args.frame_stride, "noise": args.noise}
    start = time.perf_counter()
    seed = args.seed
    bar = tqdm(total=sum(count for _, count in plan), desc=f"{args.env} demos", unit="episode", leave=False)
    with TrajectoryWriter(args.out, metadata, args.shard_size) as writer:
        for kind, count in plan:
            for _ in range(count):
                writer.add(rollout(env, kind, seed, frame_stride=args.frame_stride, noise=args.noise, rng=rng,
                                   render=not args.no_frames))
                seed += 1
                bar.update()
    bar.close()
    env.close()
    counts = read_metadata(args.out)["counts"]
    elapsed = time.perf_counter() - start
    for kind, c in counts.items():
        print(f"{args.env} {kind}: {c['success']}/{c['total']} successful")
    print(f"wrote {sum(c['total'] for c in counts.values())} trajectories to {args.out} in {elapsed:.1f} s")
    return counts


if __name__ == "__main__":
    main()
