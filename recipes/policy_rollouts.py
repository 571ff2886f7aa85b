"""Rollouts of BC policies as reward-model data (kind ``policy``): the successes and failures of the kind of policy
the reward model will judge during RL.

The scripted demos of :mod:`vlmreward_rl.envs.robomimic_demos` are short, direct and regular; a policy cloned from a
few of them succeeds slowly, hesitates, regrasps and fails in its own ways. A model trained on scripted episodes
alone did not recognise such a policy's successes (issue 24: it kept 0 of 50 rollouts, 18-22 % of which
succeeded), so each reward-model recipe can add rollouts of a few BC policies (:class:`DataPolicy`), labelled by
the simulator's success and oracle progress like every other episode.

The data policies are never the policy RL fine-tunes: each clones its own scripted demos (reset seeds
``demo_seed ..``, away from the base policy's 0-4) with its own BC seed, and the rollouts' reset seeds are the
recipe's (training from 200000, held-out from 300000), never a filtered-BC or evaluation seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from vlmreward_gym.data import TrajectoryWriter, read_metadata


@dataclass(frozen=True)
class DataPolicy:
    """One BC policy whose rollouts become reward-model data.

    Attributes:
        experts: scripted expert demos it clones (reset seeds ``demo_seed`` .. ``demo_seed + experts - 1``).
        demo_seed: the first reset seed of its demos.
        bc_steps: BC gradient steps (the base policies of the RL presets take 1,000).
        bc_seed: BC's seed.
        noise_scale: the std of the initial noise its rollouts decode (1: the base policy's N(0, I)).
    """

    experts: int
    demo_seed: int
    bc_steps: int = 1_000
    bc_seed: int = 1
    noise_scale: float = 1.0


class ChunkActor:
    """A noise-conditioned chunk policy (``policy.sample(obs (1, D), noise (1, chunk, A)) -> (1, chunk, A)``) as a
    per-step ``act(obs) -> action``: a new chunk is decoded when the last one is used up, from N(0, noise_scale^2)
    noise, or from ``noise(obs (1, D)) -> (1, chunk * A)`` when given (a DSRL actor's, :mod:`.actor_rollouts`).
    :meth:`reset` drops the running chunk (call it at each episode's start)."""

    def __init__(self, policy, rng: np.random.Generator, noise_scale: float = 1.0,
                 noise: Callable[[np.ndarray], np.ndarray] | None = None):
        self.policy, self.rng, self.noise_scale, self.noise = policy, rng, noise_scale, noise
        self._queue: list[np.ndarray] = []

    def reset(self) -> None:
        self._queue = []

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if not self._queue:
            obs = np.asarray(obs, np.float32)[None]
            shape = (1, *self.policy.noise_shape)
            noise = (np.asarray(self.noise(obs), np.float32).reshape(shape) if self.noise is not None
                     else self.noise_scale * self.rng.standard_normal(shape).astype(np.float32))
            self._queue = list(np.asarray(self.policy.sample(obs, noise))[0])
        return np.clip(self._queue.pop(0), -1.0, 1.0)


def clone_policy(task: str, spec: DataPolicy):
    """BC (the RL presets' diffusion policy settings) on ``spec.experts`` scripted expert demos of ``task``
    (state only, generated here), ``spec.bc_steps`` steps, seed ``spec.bc_seed``."""
    from vlmreward_rl.algos.diffusion_policy import BCTraining
    from vlmreward_rl.envs.robomimic import RobomimicEnv
    from vlmreward_rl.envs.robomimic_demos import rollout

    env = RobomimicEnv(task)
    rng = np.random.default_rng(spec.demo_seed)
    demos = [rollout(env, "expert", spec.demo_seed + i, frame_stride=1, noise=0.0, rng=rng, render=False)
             for i in range(spec.experts)]
    env.close()
    return BCTraining(steps=spec.bc_steps).fit(demos, seed=spec.bc_seed)[0]


def write_policy_rollouts(task: str, policies: Sequence[DataPolicy], episodes: int, seed: int, out: str | Path, *,
                          frame_size: int = 64, frame_stride: int = 2, horizon: int = 100,
                          camera: str | None = None) -> dict[str, dict[str, int]]:
    """Clone each of ``policies`` and roll it out ``episodes`` times (reset seeds ``seed``, ``seed + 1``, ... across
    all of them) to ``horizon`` steps or success, rendering frames of ``frame_size`` px every ``frame_stride``
    states (and the last) from ``camera`` (default the task's), into a new dataset folder ``out`` of kind ``policy``.
    Returns the per-kind counts."""
    actors = (ChunkActor(clone_policy(task, spec), np.random.default_rng([spec.bc_seed, seed]), spec.noise_scale)
              for spec in policies)
    return write_rollouts(task, "policy", actors, len(policies), episodes, seed, out,
                          {"generator": "vlmreward_rl.recipes.policy_rollouts",
                           "policies": [vars(p) for p in policies]},
                          frame_size=frame_size, frame_stride=frame_stride, horizon=horizon, camera=camera)


def write_rollouts(task: str, kind: str, actors: Iterable[ChunkActor], count: int, episodes: int, seed: int,
                   out: str | Path, metadata: dict, *, frame_size: int = 64, frame_stride: int = 2, horizon: int = 100,
                   camera: str | None = None) -> dict[str, dict[str, int]]:
    """Roll each of the ``count`` ``actors`` (made one at a time, as the iterable yields them) out ``episodes`` times
    (reset seeds ``seed``, ``seed + 1``, ... across all of them) to ``horizon`` steps or success, rendering frames of
    ``frame_size`` px every ``frame_stride`` states (and the last) from ``camera`` (default the task's), into a new
    dataset folder ``out`` of ``kind`` (``policy``, ``actor``) with ``metadata`` added to its own. Returns the
    per-kind counts."""
    from vlmreward_rl.envs.robomimic import TASKS, RobomimicEnv
    from vlmreward_rl.envs.robomimic_demos import rollout
    from vlmreward_rl.envs.tasks import task as task_record

    camera = camera or task_record(task).camera
    env = RobomimicEnv(task, render_mode="rgb_array", frame_size=frame_size, camera=camera, horizon=horizon)
    metadata = {"env_id": f"{task}-v1", "task": task, "robosuite_env": TASKS[task].robosuite_env,
                "frame_size": frame_size, "camera": camera, "frame_stride": frame_stride, "horizon": horizon,
                **metadata}
    start, next_seed = time.perf_counter(), seed
    bar = tqdm(total=count * episodes, desc=f"{task} {kind} rollouts", unit="episode", leave=False)
    with TrajectoryWriter(out, metadata) as writer:
        for actor in actors:
            for _ in range(episodes):
                actor.reset()
                writer.add(rollout(env, kind, next_seed, frame_stride=frame_stride, noise=0.0,
                                   rng=np.random.default_rng(next_seed), act=actor))
                next_seed += 1
                bar.update()
    bar.close()
    env.close()
    counts = read_metadata(out)["counts"]
    c = counts[kind]
    print(f"{task} {kind}: {c['success']}/{c['total']} successful; {time.perf_counter() - start:.0f} s")
    return counts
