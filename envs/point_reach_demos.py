"""A small two-task evaluation dataset from the built-in ``vlmreward/PointReach-v0`` env.

    python -m vlmreward_rl.envs.point_reach_demos --out DIR [--seeds 8] [--size 64] [--tasks reach corner ...] [--first-seed 0]
    vlmreward demos --env PointReach-v0 --out DIR ...      (the core CLI dispatches here)

Tasks (same renderer, different targets and instructions):

- ``reach``: the env's own instruction and goal (:data:`vlmreward_gym.point_reach.INSTRUCTIONS`);
- ``corner``: "move the red dot to the top-left corner" (target ``(-0.9, 0.9)``);
- optional (``--tasks``): ``top_right``, ``bottom_left``, ``bottom_right`` corners and ``center``, so a
  reward model can be trained on some tasks and tested on one it never saw (``sim-rm``).

Oracle for both: ``progress = clip(1 - distance / initial distance, 0, 1)`` (1.0 on success),
success = distance below the env's goal radius, which ends the rollout (as PointReach's oracle).
From every reset seed and task three rollouts start in the same state: ``expert`` (heads
straight for the target, succeeds), ``early_stop`` (heads for it with noisy actions and stops
after 25-75 % of the way: partial progress) and ``random`` (uniform random actions). Every
state is rendered (``frame_steps = 0..T``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np

from vlmreward_gym.data import Trajectory, TrajectoryWriter
from vlmreward_rl.envs.point_reach_tasks import DEMO_KINDS as KINDS, TASK

ENV_ID = TASK.env_id
TASKS = {
    "reach": TASK.instruction,
    "corner": "move the red dot to the top-left corner",
}
EXTRA_TASKS = {
    "top_right": "move the red dot to the top-right corner",
    "bottom_left": "move the red dot to the bottom-left corner",
    "bottom_right": "move the red dot to the bottom-right corner",
    "center": "move the red dot to the center",
}
ALL_TASKS = {**TASKS, **EXTRA_TASKS}
TARGETS = {"corner": (-0.9, 0.9), "top_right": (0.9, 0.9), "bottom_left": (-0.9, -0.9),
           "bottom_right": (0.9, -0.9), "center": (0.0, 0.0)}


def _target(task: str, obs: np.ndarray) -> np.ndarray:
    return np.asarray(obs[2:4], np.float64) if task == "reach" else np.array(TARGETS[task])


def rollout(env: gym.Env, task: str, kind: str, seed: int, max_steps: int = 40) -> Trajectory | None:
    """One rollout of ``kind`` for ``task`` from reset ``seed``; None if the start is within 0.5 of the target."""
    rng = np.random.default_rng([seed, KINDS.index(kind), len(task)])
    radius = env.unwrapped.goal_radius
    obs, _ = env.reset(seed=seed)
    target = _target(task, obs)
    start = float(np.linalg.norm(obs[:2] - target))
    if start < 0.5:
        return None
    speed = env.unwrapped.max_speed
    stop_after = int(np.ceil(start / speed * rng.uniform(0.25, 0.75)))
    observations, actions, rewards, frames = [obs], [], [], [env.render()]
    for t in range(max_steps):
        if kind == "early_stop" and t >= stop_after:
            break
        if kind == "random":
            action = rng.uniform(-1, 1, size=2)
        else:
            action = np.clip((target - obs[:2]) / speed, -1, 1)
            if kind == "early_stop":
                action = np.clip(action + rng.normal(0, 0.5, size=2), -1, 1)
        obs, reward, *_ = env.step(action)
        observations.append(obs), actions.append(action), rewards.append(reward), frames.append(env.render())
        if np.linalg.norm(obs[:2] - target) < radius:
            break
    dist = np.linalg.norm(np.asarray(observations)[:, :2] - target, axis=1)
    success = dist < radius
    progress = np.where(success, 1.0, np.clip(1.0 - dist / start, 0.0, 1.0))
    return Trajectory(env_id=ENV_ID, instruction=ALL_TASKS[task], kind=kind, seed=seed, obs=np.asarray(observations),
                      actions=np.asarray(actions).reshape(-1, 2), env_rewards=np.asarray(rewards),
                      oracle_progress=progress, success=success, frames=np.stack(frames),
                      frame_steps=np.arange(len(frames)))


def generate(out_dir: str | Path, seeds: int = 8, size: int = TASK.frame_size, max_steps: int = 40,
             tasks: list[str] | None = None, first_seed: int = 0) -> Path:
    """Write ``seeds`` usable start states x tasks (default ``reach`` and ``corner``) x 3 kinds of
    rollouts into ``out_dir``, trying reset seeds from ``first_seed`` up."""
    tasks = list(TASKS) if tasks is None else list(tasks)
    unknown = [t for t in tasks if t not in ALL_TASKS]
    if unknown:
        raise ValueError(f"unknown PointReach tasks {unknown}; choose from {list(ALL_TASKS)}")
    env = gym.make(ENV_ID, render_mode="rgb_array", size=size)
    with TrajectoryWriter(out_dir, metadata={"env_id": ENV_ID, "tasks": {t: ALL_TASKS[t] for t in tasks}}) as writer:
        for task in tasks:
            used, seed = 0, first_seed
            while used < seeds:
                trajs = [rollout(env, task, kind, seed, max_steps) for kind in KINDS]
                seed += 1
                if any(t is None for t in trajs):
                    continue
                for traj in trajs:
                    writer.add(traj)
                used += 1
    env.close()
    return Path(out_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vlmreward_rl.envs.point_reach_demos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default=ENV_ID, choices=(ENV_ID, ENV_ID.split("/")[1], TASK.name),
                        help="the task (accepted for `vlmreward demos --env`; PointReach is the only one)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", type=int, default=8, help="start states per task")
    parser.add_argument("--size", type=int, default=TASK.frame_size, help="frame size in pixels")
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(ALL_TASKS),
                        help=f"tasks to roll out (default: {' '.join(TASKS)})")
    parser.add_argument("--first-seed", type=int, default=0, help="first reset seed tried (for held-out seeds)")
    args = parser.parse_args(argv)
    print(f"wrote {generate(args.out, args.seeds, args.size, args.max_steps, args.tasks, args.first_seed)}")


if __name__ == "__main__":
    main()
