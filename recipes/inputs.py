"""The folders a run reads that a driver builds before it starts: BC demos and a base policy.

An algorithm's record says which it reads (:attr:`~vlmreward_rl.algos.common.records.Algorithm.inputs`);
:func:`prepare` makes them: on PointReach, weak noisy demos (:func:`pointreach_demos`) and a short BC run on
them when missing; on any other task they must exist (the error says how to make them). Each folder is
built aside and renamed into place (:func:`build_atomically`), so runs started together share one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vlmreward_rl.algos.registry import algorithm_for
from vlmreward_rl.envs.tasks import task

POINTREACH = task("vlmreward/PointReach-v0").instruction


def prepare(config: Any) -> None:
    """Build what a run of ``config`` reads before it runs (its algorithm's inputs: demos, then base policy)
    where it is missing and can be made; done by the driver, once, so parallel trials never race to write
    the same files."""
    inputs = algorithm_for(config).inputs(config)
    if inputs.demos:
        ensure_demos(config.env_id, inputs.demos)
    if inputs.policy:
        ensure_policy(config.env_id, inputs.policy)


def pointreach_demos(out_dir: str | Path, episodes: int = 5, noise: float = 1.0, seed: int = 0) -> Path:
    """``episodes`` demos of PointReach's goal-seeking controller with Gaussian action noise of std
    ``noise`` (kind ``noisy``), in the shared dataset format."""
    import gymnasium as gym

    import vlmreward_gym  # noqa: F401  (registers PointReach)
    from vlmreward_gym.data import Trajectory, write_trajectories

    env = gym.make("vlmreward/PointReach-v0")
    speed = env.unwrapped.max_speed
    rng = np.random.default_rng(seed)
    trajectories = []
    for s in range(seed, seed + episodes):
        obs, info = env.reset(seed=s)
        observations, actions, rewards = [obs], [], []
        progress, success = [info["oracle_progress"]], [info["success"]]
        done = False
        while not done:
            action = np.clip((obs[2:] - obs[:2]) / speed + rng.normal(0.0, noise, 2), -1.0, 1.0)
            obs, reward, terminated, truncated, info = env.step(action)
            observations.append(obs), actions.append(action), rewards.append(reward)
            progress.append(info["oracle_progress"]), success.append(info["success"])
            done = terminated or truncated
        trajectories.append(Trajectory(env_id="vlmreward/PointReach-v0", instruction=POINTREACH, kind="noisy", seed=s,
                                       obs=np.array(observations), actions=np.array(actions),
                                       env_rewards=np.array(rewards), oracle_progress=np.array(progress),
                                       success=np.array(success)))
    env.close()
    return write_trajectories(out_dir, trajectories, metadata={"env_id": "vlmreward/PointReach-v0", "noise": noise})


def build_atomically(target: Path, build: Callable[[Path], Any], marker: str) -> Path:
    """Make the folder ``target`` with ``build(folder)`` in a temporary sibling, then rename it into place.

    Two processes that need the same missing folder (two studies sharing the default PointReach base
    policy, started together) each build their own; the first rename wins and the other keeps the
    winner's. Neither ever reads a half-written folder. ``marker``: a file every finished folder has;
    a ``target`` left without it (by an interrupted older run) raises instead of being used."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        build(scratch / target.name)
        try:
            os.rename(scratch / target.name, target)
        except OSError:  # a concurrent builder renamed its folder into place first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not (target / marker).exists():
        raise FileExistsError(f"{target} exists without {marker} (left by an interrupted run?); remove it")
    return target


def ensure_pointreach_policy(path: str | Path, bc_steps: int = 1_000) -> Path:
    """Create the weak PointReach base policy at ``path`` unless it exists: 5 noisy demos (kept next to
    it, ``<path>_demos``), short BC; both built with :func:`build_atomically`."""
    from vlmreward_rl.algos import diffusion_policy

    path = Path(path)
    if not (path / diffusion_policy.WEIGHTS_FILE).exists():
        demos = ensure_demos("vlmreward/PointReach-v0", path.parent / f"{path.name}_demos")
        build_atomically(path, lambda out: diffusion_policy.main(
            ["--demos", str(demos), "--out", str(out), "--kinds", "noisy", "--steps", str(bc_steps)]),
            diffusion_policy.WEIGHTS_FILE)
    return path


def ensure_policy(env_id: str, path: str | Path) -> Path:
    """The base policy DSRL steers: created for PointReach when missing, else it must exist."""
    from vlmreward_rl.algos import diffusion_policy

    if env_id == "vlmreward/PointReach-v0":
        return ensure_pointreach_policy(path)
    if not (Path(path) / diffusion_policy.WEIGHTS_FILE).exists():
        task = env_id.split("/")[-1].removesuffix("-v1")
        raise FileNotFoundError(f"no diffusion policy at {path} for {env_id}; make one with `vlmreward demos --env "
                                f"{task} -n 50 --out data/{task.lower()}` and `vlmreward bc --demos data/"
                                f"{task.lower()} --out {path}`")
    return Path(path)


def ensure_demos(env_id: str, path: str | Path) -> Path:
    """BC demos: PointReach's weak noisy demos (:func:`pointreach_demos`) are written when missing;
    for any other env the dataset must exist."""
    path = Path(path)
    if not (path / "metadata.json").exists():
        if env_id != "vlmreward/PointReach-v0":
            task = env_id.split("/")[-1].removesuffix("-v1")
            raise FileNotFoundError(f"no demos at {path} for {env_id}; make them with `vlmreward demos --env {task} "
                                    f"-n 50 --out {path}`")
        build_atomically(path, pointreach_demos, "metadata.json")
    return path
