"""Dense reward: the model's progress on the clip so far, every ``every`` steps (or only at the episode's end)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlmreward_gym.types import Capability, subsample_indices
from vlmreward_gym.wrappers.forms.base import (ClipAnswer, ClipRequest, DetectionState, EpisodeRecord, Payment,
                                               RewardForm, SuccessDetector, check_fill, check_period, detection_info,
                                               fill_reward, on_period, shaping_reward, success_termination)


@dataclass
class _DenseState(DetectionState):
    potential: float = 0.0  # latest progress answer: the held value, and the potential of relative mode


class DenseForm(RewardForm):
    """Progress every ``every`` steps (and on the episode's last step) on the clip so far.

    Absolute mode pays the latest progress in [0, 1] on query steps and ``fill`` between them
    (``hold`` the last value, ``zero``, or ``env``: the simulator's reward). ``relative=True`` pays
    the potential-based change ``gamma * progress_new - progress_old``, with the potential held
    between queries and set by a query at reset, so the discounted return telescopes to
    ``gamma**T * progress_T - progress_0``. Absolute progress on episodes that end at success (by
    ``terminate_on_success`` or the env's own rule) warns: a policy may learn to stall short of
    success (see :class:`~vlmreward_gym.wrappers.engine.SuccessTrap`); prefer ``relative=True`` there.

    Args:
        every: query period in env steps (>= 1), or None to query only on the episode's last step
            (and, as always, at reset).
        relative: pay the change in progress instead of progress.
        gamma: discount of the potential-based shaping (relative mode).
        fill: reward between queries in absolute mode: ``hold`` | ``zero`` | ``env``.
        frame_stride: record a frame every this many steps for the clip (default ``every``; None
            records the first and last frames only); first and last frames are always recorded.
        terminate_on_success: end the episode (``terminated=True``) once success is detected.
        success_threshold, success_patience: success = probability >= threshold on this many
            consecutive queries.

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from vlmreward_gym.wrappers import DenseReward
        >>> env = DenseReward(gym.make("vlmreward/PointReach-v0", render_mode="rgb_array"), model="oracle",
        ...                   instruction="reach the green dot", every=5, relative=True)
        >>> obs, info = env.reset(seed=0)
        >>> for _ in range(5):  # head for the dot; the model is asked at reset and every 5 steps
        ...     obs, reward, terminated, truncated, info = env.step(np.clip(10 * (obs[2:] - obs[:2]), -1, 1))
        >>> info["reward_model"]["queried"], round(info["reward_model"]["progress"], 2)
        (True, 0.51)
        >>> round(reward, 2)  # 0.99 * 0.51 - 0.0: the change of the potential
        0.5
    """

    def __init__(self, every: int | None = 1, relative: bool = False, gamma: float = 0.99, fill: str = "hold",
                 frame_stride: int | None = None, terminate_on_success: bool = False,
                 success_threshold: float = 0.5, success_patience: int = 1):
        self.every, self.relative, self.gamma = check_period(every), bool(relative), float(gamma)
        self.fill = check_fill(fill)
        if self.relative and self.fill != "hold":
            raise ValueError("relative=True holds the potential between queries; fill must be 'hold'")
        self.frame_stride = check_period(frame_stride or every, "frame_stride")
        self.terminate_on_success = bool(terminate_on_success)
        self.detector = SuccessDetector(success_threshold, success_patience)
        self.want = Capability.PROGRESS | (Capability.SUCCESS if terminate_on_success else Capability.NONE)

    @property
    def sync_only(self) -> str | None:
        return success_termination(self.terminate_on_success)

    @property
    def pays_absolute_per_step(self) -> bool:
        return not self.relative

    def new_state(self) -> _DenseState:
        return _DenseState()

    def needs_point(self, state: _DenseState, t: int, done: bool) -> bool:
        return done or on_period(t, self.every) or on_period(t, self.frame_stride)

    def request(self, env: int, state: _DenseState, record: EpisodeRecord, done: bool) -> ClipRequest | None:
        if not (done or on_period(record.t, self.every)):
            return None
        return ClipRequest(subsample_indices(len(record), self.model.info.num_frames), self.instructions[env])

    def start(self, state: _DenseState, record: EpisodeRecord, answer: ClipAnswer | None) -> dict[str, Any]:
        """The reset-time answer sets the potential only: like the other forms, success detection counts the
        answers after actions, so a success shown by the first frame cannot end an episode early."""
        state.potential = float(answer.progress[-1])
        return self._info(state, answer)

    def pay(self, state: _DenseState, record: EpisodeRecord, done: bool, answer: ClipAnswer | None,
            env_reward: float) -> Payment:
        if answer is None:
            reward = shaping_reward(self.gamma, state.potential) if self.relative else fill_reward(
                self.fill, state.potential, env_reward)
        else:
            progress = float(answer.progress[-1])
            reward = shaping_reward(self.gamma, state.potential, progress) if self.relative else progress
            state.potential = progress
            self.detector.observe(state, answer.success)
        return Payment(reward, self.terminate_on_success and state.detected, self._info(state, answer))

    def _info(self, state: _DenseState, answer: ClipAnswer | None) -> dict[str, Any]:
        return {"queried": answer is not None, "progress": state.potential, **detection_info(state),
                "raw": answer.raw if answer else {}}
