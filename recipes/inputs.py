"""The folders a run reads that a driver builds before it starts: BC demos and a base policy.

An algorithm's record says which it reads (:attr:`~vlmreward_rl.algos.common.records.Algorithm.inputs`);
:func:`prepare` makes them when missing, for the tasks of :data:`DEFAULT_INPUTS`: on PointReach, weak noisy
demos (:func:`pointreach_demos`) and a short BC run on them; on Robomimic Lift and Can, a few scripted expert
demos (state only) and a short BC run (:func:`robomimic_inputs`), a base policy well below 100 % success on
purpose. A base policy's demos are its sibling ``<policy>_demos`` unless the run names its own. On any other
task they must exist (the error says how to make them). Each folder is built aside and renamed into place
(:func:`build_atomically`), so runs started together share one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, replace
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
        ensure_policy(config.env_id, inputs.policy, demos=inputs.demos)


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


@dataclass(frozen=True)
class TaskInputs:
    """How a task's default BC demos and base policy are made when a run needs them and they are missing."""

    make_demos: Callable[[Path], Any]
    """writes a demos folder (:mod:`vlmreward_gym.data` format) at the path it is given"""
    kinds: tuple[str, ...]
    """the trajectory kinds the base policy clones"""
    bc_steps: int = 1_000
    """BC gradient steps (short on purpose: the base policy stays well below 100 % success)"""
    max_trajectories: int | None = None
    """clone only the first this many demos (None: all)"""


def robomimic_inputs(task: str, experts: int = 5, non_expert: int = 0, bc_steps: int = 1_000) -> TaskInputs:
    """A Robomimic task's inputs: ``experts`` scripted expert demos (reset seeds 0 ..), plus ``non_expert`` noisy
    ones (expert actions plus N(0, 0.5^2) noise) cloned with them when asked, state only, and ``bc_steps`` of BC."""
    def make_demos(folder: Path) -> Any:
        from vlmreward_rl.envs import robomimic_demos

        return robomimic_demos.main(["--env", task, "-n", str(experts), "--non-expert", str(non_expert),
                                     "--kinds", "noisy", "--no-frames", "--out", str(folder)])

    return TaskInputs(make_demos, ("expert", "noisy") if non_expert else ("expert",), bc_steps, experts + non_expert)


DEFAULT_INPUTS: dict[str, TaskInputs] = {
    "vlmreward/PointReach-v0": TaskInputs(pointreach_demos, ("noisy",)),
    # Lift: the dsrl-lift-cpu base policy (5 experts, 1,000 BC steps: success ~0.06-0.12 with noise N(0, I),
    # ~0.35-0.4 with w = 0; docs/training.md).
    "vlmreward/Lift-v1": robomimic_inputs("Lift", experts=5, bc_steps=1_000),
    # Can: about 3x Lift's expert length (~110 steps); twice the demos and BC steps. Measured on the DSRL evaluation
    # starts (50 episodes of 300 steps): 0.04 / 0.02 with noise N(0, I) (seeds 1 / 2), 0.40 at w = 0 (docs/training.md).
    "vlmreward/Can-v1": robomimic_inputs("Can", experts=10, bc_steps=2_000),
}
"""the tasks whose demos and base policy :func:`prepare` builds when missing (env id -> how)"""


def _task_name(env_id: str) -> str:
    return env_id.split("/")[-1].removesuffix("-v1")


def ensure_demos(env_id: str, path: str | Path, spec: TaskInputs | None = None) -> Path:
    """BC demos at ``path``: written when missing by ``spec`` (default: the task's :data:`DEFAULT_INPUTS`); a task
    without one must have them."""
    path, spec = Path(path), spec or DEFAULT_INPUTS.get(env_id)
    if not (path / "metadata.json").exists():
        if spec is None:
            raise FileNotFoundError(f"no demos at {path} for {env_id}; make them with `vlmreward demos --env "
                                    f"{_task_name(env_id)} -n 50 --out {path}`")
        build_atomically(path, spec.make_demos, "metadata.json")
    return path


def ensure_policy(env_id: str, path: str | Path, demos: str | Path | None = None,
                  spec: TaskInputs | None = None) -> Path:
    """The base policy at ``path`` (what DSRL steers, filtered BC starts from): when missing, BC on ``demos``
    (default: its sibling ``<path>_demos``), both made by ``spec`` (default: the task's :data:`DEFAULT_INPUTS`);
    a task without one must have it."""
    from vlmreward_rl.algos import diffusion_policy

    path, spec = Path(path), spec or DEFAULT_INPUTS.get(env_id)
    if (path / diffusion_policy.WEIGHTS_FILE).exists():
        return path
    if spec is None:
        task = _task_name(env_id)
        raise FileNotFoundError(f"no diffusion policy at {path} for {env_id}; make one with `vlmreward demos --env "
                                f"{task} -n 50 --out data/{task.lower()}` and `vlmreward bc --demos data/"
                                f"{task.lower()} --out {path}`")
    demos = ensure_demos(env_id, demos or path.parent / f"{path.name}_demos", spec)
    limit = [] if spec.max_trajectories is None else ["--max-trajectories", str(spec.max_trajectories)]
    return build_atomically(path, lambda out: diffusion_policy.main(
        ["--demos", str(demos), "--out", str(out), "--kinds", *spec.kinds, *limit, "--steps", str(spec.bc_steps)]),
        diffusion_policy.WEIGHTS_FILE)


def ensure_pointreach_policy(path: str | Path, bc_steps: int = 1_000) -> Path:
    """The weak PointReach base policy at ``path`` unless it exists: 5 noisy demos (kept next to it,
    ``<path>_demos``), ``bc_steps`` of BC (:func:`ensure_policy`)."""
    spec = replace(DEFAULT_INPUTS["vlmreward/PointReach-v0"], bc_steps=bc_steps)
    return ensure_policy("vlmreward/PointReach-v0", path, spec=spec)
