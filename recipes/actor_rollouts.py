"""Rollouts of DSRL actors fine-tuned on a learned reward, as reward-model data (kind ``actor``): the failures a
policy is paid for once it climbs that reward.

The bad-data position paper's point, measured on our main job (issue 24): the longer DSRL-NA climbs
``sim-rm-lift-side``, the more it is paid for failures (35-47 false successes in 36k env steps) and the further its
success falls. Scripted failures and BC policies' rollouts do not show the model those states; an actor trained on
the model's own reward finds them. So a recipe can (:class:`DataActor`):

1. train DSRL-NA over a data policy (:class:`~vlmreward_rl.recipes.policy_rollouts.DataPolicy`, never the base policy
   an RL preset fine-tunes) with the recipe's own earlier checkpoint as the reward (the *driver*: the variant and seed
   the recipe names, trained from the recipe's data, so the whole chain reproduces from a clean clone);
2. roll the trained actor out (its noise sampled, as DSRL evaluates), labelled by the simulator's success and the
   oracle's progress like every other episode, at reset seeds of their own (training from 400000, held-out from
   500000; the DSRL runs' own training episodes start at their seed, below 1000).

A trained actor and its base policy are kept (``agent.safetensors`` and ``base_policy/`` in its run folder) and
reloaded, so a killed data step resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from vlmreward_rl.recipes.policy_rollouts import ChunkActor, DataPolicy, clone_policy, write_rollouts


@dataclass(frozen=True)
class DataActor:
    """A DSRL-NA actor whose rollouts become reward-model data.

    Attributes:
        base: the BC policy it steers (cloned from its own scripted demos, as a data policy is).
        seed: the DSRL run's seed (its training episodes' first reset seed, its learner's randomness).
        env_steps: its training env steps.
    """

    base: DataPolicy
    seed: int
    env_steps: int = 24_000


def actor_args(preset: str, driver: Path, spec: DataActor, run_dir: Path, **overrides):
    """The DSRL arguments of ``spec``'s run: the RL preset ``preset`` (``recipes/dsrl.py``) paid by the checkpoint
    folder ``driver`` (``sim-rm`` with ``path``), with the actor's seed and env steps, one short evaluation at the end
    (10 episodes, the actor's own success; no base-policy evaluation), in ``run_dir``; ``overrides``: fields replaced
    after those (e.g. the learner's)."""
    from vlmreward_rl.recipes.dsrl import PRESETS

    fields = {"eval_every": 0, "eval_base": False, "eval_episodes": 10, **overrides}
    return replace(PRESETS[preset][1], model="sim-rm", model_kwargs={"path": str(driver)}, seed=spec.seed,
                   total_timesteps=spec.env_steps, run_dir=str(run_dir), **fields)


def train_actors(task: str, actors: Sequence[DataActor], runs: Sequence, workers: int = 1) -> None:
    """Train those of ``actors`` (with their :func:`actor_args` ``runs``) whose run folder holds no trained agent, at
    most ``workers`` at once (one process each)."""
    from vlmreward_rl.algos.dsrl import AGENT_FILE

    todo = [(task, spec, args) for spec, args in zip(actors, runs) if not (args.run_path / AGENT_FILE).is_file()]
    if workers > 1 and len(todo) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_train_actor, *zip(*todo)))
    else:
        for job in todo:
            _train_actor(*job)


#: The folder, in an actor's run folder, of the cloned base policy it steers (saved before its training).
POLICY_DIR = "base_policy"


def _train_actor(task: str, spec: DataActor, args) -> None:
    """Clone the actor's base policy, save it in the run folder, train the actor over it (the run saves the agent)
    and print its success."""
    from vlmreward_rl.algos import dsrl

    policy = clone_policy(task, spec.base)
    policy.save(args.run_path / POLICY_DIR)
    dsrl.train(args, policy=policy)
    print(f"{task} actor seed {spec.seed}: success {_last_success(args.run_path):.2f} over "
          f"{args.eval_episodes} evaluation episodes after {spec.env_steps} env steps")


def trained_actor(spec: DataActor, args) -> ChunkActor:
    """``spec``'s trained actor and the base policy it was trained over (both saved in its run folder by
    :func:`train_actors`), as a per-step actor whose noise is sampled from it (draws seeded by the run's seed)."""
    from vlmreward_rl.algos.diffusion_policy import DiffusionPolicy
    from vlmreward_rl.algos.dsrl import AGENT_FILE
    from vlmreward_rl.algos.dsrl_agent import DSRLAgent

    policy = DiffusionPolicy.load(args.run_path / POLICY_DIR)
    agent = DSRLAgent(args, policy.config.obs_dim, policy)
    agent.load(args.run_path / AGENT_FILE)
    rng = np.random.default_rng([spec.seed, 1])
    return ChunkActor(policy, rng, noise=lambda obs: agent.act(obs.reshape(1, -1), deterministic=False, rng=rng))


def _last_success(run_path: Path) -> float:
    """The last evaluation's success in a run's ``metrics.jsonl``."""
    from vlmreward_rl.algos.common.logger import read_metrics

    rows = read_metrics(run_path / "metrics.jsonl")
    return next(r["eval/success_rate"] for r in reversed(rows) if "eval/success_rate" in r)


def write_actor_rollouts(task: str, actors: Sequence[DataActor], episodes: int, seed: int, out: str | Path, *,
                         preset: str, driver: Path, run_dir: Path, overrides: dict | None = None, workers: int = 1,
                         frame_size: int = 64, frame_stride: int = 2, horizon: int = 100,
                         camera: str | None = None) -> dict[str, dict[str, int]]:
    """Train each of ``actors`` not trained yet with the reward ``driver`` over the RL preset ``preset`` with the
    fields ``overrides`` replaced (:func:`actor_args`; runs under ``run_dir``, ``workers`` at once), then roll each out
    ``episodes`` times (reset seeds from ``seed``) into a new dataset folder ``out`` of kind ``actor``
    (:func:`~.policy_rollouts.write_rollouts` renders them). Returns the per-kind counts."""
    runs = [actor_args(preset, driver, spec, run_dir, **(overrides or {})) for spec in actors]
    train_actors(task, actors, runs, workers)
    metadata = {"generator": "vlmreward_rl.recipes.actor_rollouts", "preset": preset, "driver": str(driver),
                "overrides": overrides or {},
                "actors": [{"base": vars(a.base), "seed": a.seed, "env_steps": a.env_steps} for a in actors]}
    made = (trained_actor(spec, args) for spec, args in zip(actors, runs))
    return write_rollouts(task, "actor", made, len(actors), episodes, seed, out, metadata, frame_size=frame_size,
                          frame_stride=frame_stride, horizon=horizon, camera=camera)
