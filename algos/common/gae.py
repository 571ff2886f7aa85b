"""Generalized advantage estimation that keeps terminations and time-outs apart.

Learned rewards make two details matter:

- A time-out (``truncated``) is not the end of the task: the return after the last step is
  estimated by the value of the state the episode stopped in (``next_values`` holds it).
  Only ``terminated`` zeroes the bootstrap.
- An episodic reward model pays the whole episode's score on its last step, including a
  time-out. That score already covers the episode, so nothing may be bootstrapped after it:
  pass ``bootstrap_truncated=False`` and a time-out is treated like a termination.

- A task that terminates on success while a learned progress reward pays a non-negative amount
  every step makes succeeding *cost* the agent the rewards it would have collected by lingering
  (with gamma 0.8 and a progress near 1, about 4 steps' worth). ManiSkill's PPO therefore
  bootstraps at every episode end (its ``bootstrap_at_done="always"``): pass
  ``bootstrap_terminated=True`` to treat a termination like a time-out.

All cases cut the recursion at the episode end, so a reward never leaks into the previous
episode's advantages.
"""

from __future__ import annotations

import numpy as np


def compute_gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminated: np.ndarray,
                truncated: np.ndarray, gamma: float, lam: float,
                bootstrap_truncated: bool = True, bootstrap_terminated: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns of a rollout of T steps in N envs (all arrays shaped (T, N)).

    Args:
        rewards: reward of step t (the transition s_t -> s_{t+1}).
        values: V(s_t), the critic's value of the state the action was taken in.
        next_values: V(s_{t+1}) of the state reached; on an episode's last step this is the
            value of its final observation (not of the next episode's first one).
        terminated: step t ended the episode in a terminal state (no bootstrap).
        truncated: step t ended the episode by a time-out (bootstrap from ``next_values``
            unless ``bootstrap_truncated`` is False).
        bootstrap_terminated: bootstrap terminations from ``next_values`` too (ManiSkill's
            convention for tasks that end on success).
        gamma: discount per step; lam: the GAE lambda.

    Returns:
        ``(advantages, returns)``, float64 (T, N); returns = advantages + values (the critic's target).
    """
    rewards, values, next_values = (np.asarray(a, np.float64) for a in (rewards, values, next_values))
    terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
    if not rewards.shape == values.shape == next_values.shape == terminated.shape == truncated.shape:
        raise ValueError("rewards, values, next_values, terminated and truncated must share one (T, N) shape")
    no_bootstrap = (terminated & (not bootstrap_terminated)) | (truncated & (not bootstrap_truncated))
    ended = terminated | truncated
    advantages = np.zeros_like(rewards)
    following = np.zeros(rewards.shape[1:])  # A_{t+1} of the same episode
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * np.where(no_bootstrap[t], 0.0, next_values[t]) - values[t]
        following = delta + gamma * lam * np.where(ended[t], 0.0, following)
        advantages[t] = following
    return advantages, advantages + values
