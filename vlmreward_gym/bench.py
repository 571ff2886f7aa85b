"""Wrapper overhead: step time wrapped / unwrapped, and frames rendered, for every reward form.

    vlmreward bench [--env vlmreward/PointReach-v0] [--steps 3000]

Each row runs the same env with a fixed random action sequence, unwrapped and wrapped, and
prints the ratio of mean step times measured in this run, the absolute overhead in microseconds
per step and the render() calls per step. The control models (``zero``, ``oracle``) read no
frames, so a wrapped env must render nothing; the target ratio is <= 1.05 on a simulator whose
step costs milliseconds (ManiSkill3 state stepping: about 3 ms). PointReach steps in ~20 us,
so there the ratio mostly shows the absolute per-step cost of the wrapper.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import vlmreward_gym  # noqa: F401  (registers the env ids)
from vlmreward_gym.api import wrap
from vlmreward_gym.demo import FORM_OPTIONS


@dataclass(frozen=True)
class BenchArgs:
    env: str = "vlmreward/PointReach-v0"
    """any Gymnasium id that renders with render_mode='rgb_array'"""
    steps: int = 3000
    """env steps per measurement"""
    repeats: int = 3
    """measurements per row; the fastest is kept"""
    models: tuple[str, ...] = ("zero", "oracle")


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


def main(argv: list[str] | None = None) -> None:
    import tyro

    args = tyro.cli(BenchArgs, args=argv)
    probe = gym.make(args.env)
    actions = np.stack([probe.action_space.sample() for _ in range(args.steps)])
    probe.close()
    base_env = gym.make(args.env, render_mode="rgb_array")
    base = min(time_steps(base_env, actions) for _ in range(args.repeats))
    print(f"{args.env}: unwrapped {base * 1e6:.1f} us/step over {args.steps} steps")
    print(f"{'form':<12} {'model':<8} {'ratio':>7} {'overhead us':>12} {'renders/step':>13}")
    for form, options in FORM_OPTIONS.items():
        for model in args.models:
            counter = CountRenders(gym.make(args.env, render_mode="rgb_array"))
            env = wrap(counter, model=model, form=form, instruction="benchmark task", **options)
            wrapped = min(time_steps(env, actions) for _ in range(args.repeats))
            renders = counter.renders / (args.steps * args.repeats)
            print(f"{form:<12} {model:<8} {wrapped / base:>7.3f} {(wrapped - base) * 1e6:>12.1f} {renders:>13.3f}")
            env.close()


if __name__ == "__main__":
    main()
