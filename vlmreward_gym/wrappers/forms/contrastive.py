"""Contrastive reward: is the current frame closer to done than the frame ``delta`` steps back?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vlmreward_gym.types import Capability
from vlmreward_gym.wrappers.forms.base import (ClipAnswer, ClipRequest, DetectionState, EpisodeRecord, Payment,
                                               RewardForm, SuccessDetector, check_fill, check_period, detection_info,
                                               fill_reward, on_period, success_termination)

OUTPUTS = ("sign", "value")


@dataclass
class _ContrastiveState(DetectionState):
    last: float = 0.0


class ContrastiveForm(RewardForm):
    """Every ``every`` steps (and on the last step), the model compares the current frame with
    the frame ``delta`` steps earlier (the latest recorded one at or before it), sending the
    episode's first frame as an anchor when the model uses one (``ModelInfo.uses_anchor``):
    the clip is ``[first, reference, current]`` or ``[reference, current]``.

    Args:
        delta: how far back the reference frame is, in env steps (>= 1).
        every: query period in env steps (>= 1), or None to query only on the episode's last step.
        output: ``sign`` pays -1 / 0 / +1 (the model's value rounded), ``value`` pays the model's
            value in [-1, 1] (its expected judgement, for models that give probabilities).
        fill: reward between queries: ``zero`` (default) | ``hold`` | ``env``.
        terminate_on_success, success_threshold, success_patience: as in the dense form.

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from vlmreward_gym.wrappers import ContrastiveReward
        >>> env = ContrastiveReward(gym.make("vlmreward/PointReach-v0", render_mode="rgb_array"), model="oracle",
        ...                         instruction="reach the green dot", delta=1)
        >>> obs, info = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(np.clip(10 * (obs[2:] - obs[:2]), -1, 1))
        >>> reward  # closer to done than a step ago
        1.0
    """

    pays_absolute_per_step = False  # a comparison of two frames, not a level

    def __init__(self, delta: int = 1, every: int | None = 1, output: str = "sign", fill: str = "zero",
                 terminate_on_success: bool = False, success_threshold: float = 0.5, success_patience: int = 1):
        if delta < 1 or (every is not None and every < 1):
            raise ValueError(f"delta and every must be >= 1, got delta={delta}, every={every}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.delta, self.every, self.output, self.fill = int(delta), check_period(every), output, check_fill(fill)
        self.terminate_on_success = bool(terminate_on_success)
        self.detector = SuccessDetector(success_threshold, success_patience)
        self.want = Capability.COMPARE | (Capability.SUCCESS if terminate_on_success else Capability.NONE)

    @property
    def sync_only(self) -> str | None:
        return success_termination(self.terminate_on_success)

    def new_state(self) -> _ContrastiveState:
        return _ContrastiveState()

    def needs_point(self, state: _ContrastiveState, t: int, done: bool) -> bool:
        return done or on_period(t, self.every) or on_period(t + self.delta, self.every)

    def request(self, env: int, state: _ContrastiveState, record: EpisodeRecord, done: bool) -> ClipRequest | None:
        t = record.t
        if t < 1 or not (done or on_period(t, self.every)):
            return None
        reference, current = record.latest_at_or_before(max(0, t - self.delta)), len(record) - 1
        points = [reference, current]
        if self.model.info.uses_anchor:
            points.insert(0, 0)
        return ClipRequest(points, self.instructions[env])

    def pay(self, state: _ContrastiveState, record: EpisodeRecord, done: bool, answer: ClipAnswer | None,
            env_reward: float) -> Payment:
        if answer is None:
            reward = fill_reward(self.fill, state.last, env_reward)
        else:
            reward = float(np.round(answer.comparison)) if self.output == "sign" else answer.comparison
            state.last = reward
            self.detector.observe(state, answer.success)
        info: dict[str, Any] = {"queried": answer is not None, "comparison": state.last,
                                **detection_info(state), "raw": answer.raw if answer else {}}
        return Payment(reward, self.terminate_on_success and state.detected, info)
