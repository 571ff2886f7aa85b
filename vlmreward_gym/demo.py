"""A one-minute demonstration: the built-in PointReach env wrapped in every reward form.

For each form it runs a goal-seeking policy and a random policy for a few episodes and ranks them
by the learned reward per step, next to the simulator's success and return, so you can see the
learned reward tell a good policy from a bad one. Per step, not per episode: the goal-seeking
policy ends its episodes at the goal within a few steps while the random one runs to the time
limit, so an episode's learned return says as much about its length as about the policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from vlmreward_gym.api import wrap
from vlmreward_gym.point_reach import INSTRUCTIONS, STAGES

FORM_OPTIONS = {
    "episodic": {"scale": "unit"},
    "dense": {"every": 5},
    "contrastive": {"delta": 5, "every": 5},
    "stage_gated": {"stages": list(STAGES), "every": 5},
}


@dataclass(frozen=True)
class DemoArgs:
    """Wrap vlmreward/PointReach-v0 in each reward form and compare a good and a random policy."""

    model: str = "noisy-oracle"
    """reward-model backend (any name from `vlmreward models`)"""
    mae: float = 0.5
    """noisy-oracle's error on the 1-5 scale (ignored by other models)"""
    episodes: int = 5
    """episodes per policy and form"""
    seed: int = 0


def goal_seeking(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip((obs[2:] - obs[:2]) * 10.0, -1.0, 1.0)


def random_policy(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size=2)


RANK_BY = "learned_per_step"


def run_demo(args: DemoArgs) -> list[dict]:
    """Rows of ``{form, policy, rank, learned_per_step, success_rate, learned_return, steps, env_return}`` over
    episodes; ``rank`` 1 is the policy with the most learned reward per step within its form."""
    model_kwargs = {"mae": args.mae, "seed": args.seed} if args.model == "noisy-oracle" else {}
    rows = []
    for form, options in FORM_OPTIONS.items():
        env = wrap(gym.make("vlmreward/PointReach-v0", render_mode="rgb_array"), model=args.model,
                   model_kwargs=model_kwargs, form=form, instruction=INSTRUCTIONS[0], **options)
        for name, policy in (("goal-seeking", goal_seeking), ("random", random_policy)):
            rng = np.random.default_rng(args.seed)
            learned, simulated, successes, lengths = [], [], [], []
            for episode in range(args.episodes):
                obs, _ = env.reset(seed=args.seed + episode)
                total = env_total = 0.0
                done, steps = False, 0
                while not done:
                    obs, reward, terminated, truncated, info = env.step(policy(obs, rng))
                    total += reward
                    env_total += info["env_reward"]
                    done, steps = terminated or truncated, steps + 1
                learned.append(total)
                lengths.append(steps)
                simulated.append(env_total)
                successes.append(bool(info["success"]))
            rows.append({"form": form, "policy": name, "learned_per_step": float(np.sum(learned) / np.sum(lengths)),
                         "success_rate": float(np.mean(successes)), "learned_return": float(np.mean(learned)),
                         "steps": float(np.mean(lengths)), "env_return": float(np.mean(simulated))})
        env.close()
    return ranked(rows)


def ranked(rows: list[dict]) -> list[dict]:
    """``rows`` ordered by form, then by :data:`RANK_BY` (best first), each with its ``rank`` in its form."""
    out = []
    for form in dict.fromkeys(row["form"] for row in rows):
        group = sorted((row for row in rows if row["form"] == form), key=lambda row: -row[RANK_BY])
        out += [{**row, "rank": rank} for rank, row in enumerate(group, 1)]
    return out


def main(argv: list[str] | None = None) -> None:
    import tyro

    args = tyro.cli(DemoArgs, args=argv)
    rows = run_demo(args)
    print(f"vlmreward/PointReach-v0, model={args.model}, {args.episodes} episodes per row\n"
          f"ranked within each form by the learned reward per step (a learned return also grows with episode "
          f"length: random episodes run to the time limit, goal-seeking ones stop at the goal)")
    print(f"{'form':<12} {'rank':>4} {'policy':<13} {'learned/step':>12} {'success':>8} {'learned return':>15} "
          f"{'steps':>6} {'env return':>11}")
    for row in rows:
        print(f"{row['form']:<12} {row['rank']:>4} {row['policy']:<13} {row['learned_per_step']:>12.3f} "
              f"{row['success_rate']:>8.0%} {row['learned_return']:>15.3f} {row['steps']:>6.1f} "
              f"{row['env_return']:>11.2f}")
    first = sum(row["rank"] == 1 and row["policy"] == "goal-seeking" for row in rows)
    print(f"the learned reward per step ranks the goal-seeking policy first in {first} of {len(FORM_OPTIONS)} forms")


if __name__ == "__main__":
    main()
