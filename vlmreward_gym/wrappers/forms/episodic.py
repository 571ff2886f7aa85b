"""Episodic reward: one score for the whole episode, paid on its last step."""

from __future__ import annotations

from typing import Any

from vlmreward_gym.types import Capability, subsample_indices
from vlmreward_gym.wrappers.forms.base import (ClipAnswer, ClipRequest, EpisodeRecord, Payment, RewardForm,
                                               check_period, on_period)

SCALES = ("raw", "unit", "binary")


class EpisodicForm(RewardForm):
    """Reward 0 until the episode ends (terminated or truncated), then the model's episode score
    of the whole clip, subsampled to the model's frame count with first and last frame kept.

    Args:
        scale: ``unit`` (default) the score mapped linearly from the model's ``score_range`` onto [0, 1],
            so the lowest score (and the ``zero`` control) pays 0 and rewards share the other forms'
            range; ``raw`` the model's score as is (e.g. 1-5: even the worst episode pays 1);
            ``binary`` 1.0 when the score reaches ``binary_threshold`` (default: the top score), else 0.
        frame_stride: record a frame every this many steps (first and last always recorded). The
            episode length is unknown in advance, so 1 (default) renders every step; a larger
            stride renders less, None only the first and last frames.
        binary_threshold: score at or above which ``binary`` pays 1.

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from vlmreward_gym.wrappers import EpisodicReward
        >>> env = EpisodicReward(gym.make("vlmreward/PointReach-v0", render_mode="rgb_array"), model="oracle",
        ...                      instruction="reach the green dot")
        >>> obs, info = env.reset(seed=0)
        >>> rewards, done = [], False
        >>> while not done:  # head for the dot
        ...     obs, reward, terminated, truncated, info = env.step(np.clip(10 * (obs[2:] - obs[:2]), -1, 1))
        ...     rewards.append(reward)
        ...     done = terminated or truncated
        >>> rewards  # the top score of 1-5 pays 1.0 on the last step
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
        >>> info["reward_model"]["score"]
        5.0
    """

    want = Capability.EPISODE_SCORE
    terminate_on_success = False
    pays_absolute_per_step = False  # one score, on the last step

    def __init__(self, scale: str = "unit", frame_stride: int | None = 1, binary_threshold: float | None = None):
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        self.scale, self.frame_stride = scale, check_period(frame_stride, "frame_stride")
        self.binary_threshold = binary_threshold

    sync_only = None  # nothing depends on an answer before the episode's end

    def new_state(self) -> None:
        return None

    def needs_point(self, state: None, t: int, done: bool) -> bool:
        return done or on_period(t, self.frame_stride)

    def request(self, env: int, state: None, record: EpisodeRecord, done: bool) -> ClipRequest | None:
        if not done:
            return None
        return ClipRequest(subsample_indices(len(record), self.model.info.num_frames), self.instructions[env])

    def scaled(self, score: float) -> float:
        low, high = self.model.info.score_range
        if self.scale == "unit":
            return (score - low) / (high - low)
        if self.scale == "binary":
            return float(score >= (high if self.binary_threshold is None else self.binary_threshold))
        return score

    def pay(self, state: None, record: EpisodeRecord, done: bool, answer: ClipAnswer | None,
            env_reward: float) -> Payment:
        if answer is None:
            return Payment(0.0, False, {"queried": False, "raw": {}})
        info: dict[str, Any] = {"queried": True, "score": answer.score, "raw": answer.raw}
        return Payment(self.scaled(answer.score), False, info)
