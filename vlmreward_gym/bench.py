"""Wrapper overhead: step time wrapped / unwrapped, and frames rendered, for every reward form.

    vlmreward bench [--env vlmreward/PointReach-v0] [--steps 3000]
    vlmreward bench --scoring [--model-ms 100 --env-ms 20]

Each row runs the same env with a fixed random action sequence, unwrapped and wrapped, and
prints the ratio of mean step times measured in this run, the absolute overhead in microseconds
per step and the render() calls per step. The control models (``zero``, ``oracle``) read no
frames, so a wrapped env must render nothing; the target ratio is <= 1.05 on a simulator whose
step costs milliseconds (ManiSkill3 state stepping: about 3 ms). PointReach steps in ~20 us,
so there the ratio mostly shows the absolute per-step cost of the wrapper.

``--scoring`` instead measures what a slow reward model costs a dense-form rollout: a vector of
PointReach envs whose step is slowed to ``env_ms`` (a rendering simulator) scored by the oracle
slowed to ``model_ms`` per call (a GPU forward pass), with ``sync``, ``async`` and ``deferred``
scoring, as env steps/s and as a fraction of the speed with an instant model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import vlmreward_gym  # noqa: F401  (registers the env ids)
from vlmreward_gym.api import wrap
from vlmreward_gym.demo import FORM_OPTIONS
from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.models.registry import make_reward_model
from vlmreward_gym.types import RewardOutput, RewardQuery


@dataclass(frozen=True)
class BenchArgs:
    env: str = "vlmreward/PointReach-v0"
    """any Gymnasium id that renders with render_mode='rgb_array'"""
    steps: int = 3000
    """env steps per measurement"""
    repeats: int = 3
    """measurements per row; the fastest is kept"""
    models: tuple[str, ...] = ("zero", "oracle")
    scoring: bool = False
    """run the scoring-mode benchmark instead"""
    model_ms: float = 100.0
    """--scoring: reward-model latency per call"""
    env_ms: float = 20.0
    """--scoring: env step latency"""
    num_envs: int = 4
    """--scoring: sub-envs"""
    every: int = 5
    """--scoring: dense query period"""


class CountRenders(gym.Wrapper):
    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.renders = 0

    def render(self):
        self.renders += 1
        return self.env.render()


def time_steps(env: gym.Env, actions: np.ndarray) -> float:
    """Mean seconds per step over ``actions`` (resets not counted)."""
    env.reset(seed=0)
    total = 0.0
    for action in actions:
        start = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        total += time.perf_counter() - start
        if terminated or truncated:
            env.reset()
    return total / len(actions)


class Slowed(gym.Wrapper):
    """Adds ``seconds`` of latency to every env step (a stand-in for physics and rendering time)."""

    def __init__(self, env: gym.Env, seconds: float):
        super().__init__(env)
        self.seconds = seconds

    def step(self, action):
        time.sleep(self.seconds)
        return self.env.step(action)


class SlowedModel(RewardModel):
    """The ``oracle``'s answers after ``seconds`` of latency per call (a stand-in for a GPU forward pass)."""

    def __init__(self, seconds: float):
        self.inner, self.seconds = make_reward_model("oracle"), seconds
        self.info = self.inner.info

    def _predict(self, query: RewardQuery) -> RewardOutput:
        time.sleep(self.seconds)
        return self.inner._predict(query)


def scoring_benchmark(args: BenchArgs, rollout: int = 32, rollouts: int = 3) -> dict[str, float]:
    """Env steps/s of a dense-form vector rollout per scoring mode (rewards all delivered at the end)."""
    from gymnasium.vector import SyncVectorEnv

    def steps_per_second(model_seconds: float, scoring: str) -> float:
        envs = SyncVectorEnv([lambda: Slowed(gym.make("vlmreward/PointReach-v0"), args.env_ms / 1000)
                              for _ in range(args.num_envs)])
        venv = wrap(envs, model=SlowedModel(model_seconds), form="dense", instruction="reach", every=args.every,
                    scoring=scoring)
        venv.reset(seed=0)
        actions = np.zeros((args.num_envs, 2), np.float32)
        start = time.perf_counter()
        for _ in range(rollouts):
            for _ in range(rollout):
                venv.step(actions)
            venv.flush()  # a learner needs every reward of the rollout now
        elapsed = time.perf_counter() - start
        venv.close()
        return rollout * rollouts * args.num_envs / elapsed

    results = {"instant": steps_per_second(0.0, "sync")}
    for mode in ("sync", "async", "deferred"):
        results[mode] = steps_per_second(args.model_ms / 1000, mode)
    return results


def main(argv: list[str] | None = None) -> None:
    import tyro

    args = tyro.cli(BenchArgs, args=argv)
    if args.scoring:
        results = scoring_benchmark(args)
        print(f"dense form, {args.num_envs} PointReach envs at {args.env_ms:.0f} ms/step, query every {args.every} "
              f"steps, reward model {args.model_ms:.0f} ms/call")
        print(f"{'scoring':<10} {'env steps/s':>12} {'vs instant':>11}")
        for mode, sps in results.items():
            print(f"{mode:<10} {sps:>12.1f} {sps / results['instant']:>11.2f}")
        return
    probe = gym.make(args.env)
    actions = np.stack([probe.action_space.sample() for _ in range(args.steps)])
    probe.close()
    base_env = gym.make(args.env, render_mode="rgb_array")
    time_steps(base_env, actions[: max(1, len(actions) // 10)])  # warm-up
    print(f"{args.env}: {args.steps} steps per measurement, unwrapped and wrapped measured alternately "
          f"({args.repeats} times each, fastest kept)")
    print(f"{'form':<12} {'model':<8} {'unwrapped us':>13} {'ratio':>7} {'overhead us':>12} {'renders/step':>13}")
    for form, options in FORM_OPTIONS.items():
        for model in args.models:
            counter = CountRenders(gym.make(args.env, render_mode="rgb_array"))
            env = wrap(counter, model=model, form=form, instruction="benchmark task", **options)
            time_steps(env, actions[: max(1, len(actions) // 10)])  # warm-up
            counter.renders = 0
            base = wrapped = float("inf")
            for _ in range(args.repeats):  # alternate, so drifting machine load hits both alike
                base = min(base, time_steps(base_env, actions))
                wrapped = min(wrapped, time_steps(env, actions))
            renders = counter.renders / (args.steps * args.repeats)
            print(f"{form:<12} {model:<8} {base * 1e6:>13.1f} {wrapped / base:>7.3f} {(wrapped - base) * 1e6:>12.1f} "
                  f"{renders:>13.3f}")
            env.close()
    base_env.close()


if __name__ == "__main__":
    main()
