"""Multi-stage, success-gated reward: sub-task instructions in order, advanced by detected success."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from vlmreward_gym.types import Capability, subsample_indices
from vlmreward_gym.wrappers.forms.base import (ClipAnswer, ClipRequest, DetectionState, EpisodeRecord, Payment,
                                               RewardForm, SuccessDetector, check_fill, check_period, detection_info,
                                               fill_reward, on_period, shaping_reward)


@dataclass
class _StageState(DetectionState):  # detected: every stage done; streak: of the current stage
    stage: int = 0  # stages completed so far
    stage_start: int = 0  # step at which the current stage began
    progress: float = 0.0  # progress within the current stage


class StageGatedForm(RewardForm):
    """Reward ``(stages done + progress in the current stage) / number of stages``, or with
    ``relative=True`` its potential-based change ``gamma * new - old`` (0 at reset; held between
    queries, so the discounted return telescopes to ``gamma**T * value_T``; finishing a stage pays
    the jump to the next stage's floor once instead of a plateau every step).

    Every ``every`` steps the model scores the clip since the current stage began against that
    stage's instruction. Its success probability at or above ``threshold`` on ``patience``
    consecutive queries advances the stage (Robometer-style multi-stage RL with the reward model
    as the success detector). Completing the last stage pays 1.0 from then on and, with
    ``terminate_on_success``, ends the episode; the absolute reward then warns (a policy may learn to
    stall short of the last stage, see :class:`~vlmreward_gym.wrappers.engine.SuccessTrap`): prefer
    ``relative=True``. Needs ``scoring="sync"``: each query asks about the stage the last answers reached.

    Args:
        stages: the sub-task instructions in order (at least one).
        threshold, patience: the success detector (defaults 0.65 and 2).
        every: query period in env steps, or None to query only on the episode's last step;
            frame_stride: frame recording period (default ``every``).
        fill: reward between queries: ``hold`` (default) | ``zero`` | ``env``.
        terminate_on_success: end the episode at final success (default True).
        relative: pay the change of the stage reward instead of the reward (``fill`` must be ``hold``).
        gamma: discount of the potential-based shaping (relative mode).

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from vlmreward_gym.wrappers import StageGatedReward
        >>> env = StageGatedReward(gym.make("vlmreward/PointReach-v0", render_mode="rgb_array"), model="oracle",
        ...                        stages=["approach the green dot", "touch it"], every=2, relative=True)
        >>> obs, info = env.reset(seed=0)
        >>> for _ in range(2):  # head for the dot; the model is asked every 2 steps
        ...     obs, reward, terminated, truncated, info = env.step(np.clip(10 * (obs[2:] - obs[:2]), -1, 1))
        >>> info["reward_model"]["stage"], round(info["reward_model"]["progress"], 2)  # within the first stage
        (0, 0.22)
        >>> round(reward, 2)  # 0.99 * (0 + 0.22) / 2 stages - 0.0
        0.11
    """

    want = Capability.PROGRESS | Capability.SUCCESS

    def __init__(self, stages: Sequence[str] | None = None, threshold: float = 0.65, patience: int = 2,
                 every: int | None = 1, frame_stride: int | None = None, fill: str = "hold",
                 terminate_on_success: bool = True, relative: bool = False, gamma: float = 0.99):
        if stages is None:
            raise ValueError("the stage_gated reward form needs its sub-task instructions in order: pass "
                             "stages=[...], e.g. stages=['reach the red cube', 'grasp it', 'lift it'] (the "
                             "vlmreward/<Task>-v1 envs give their task's stages by default)")
        stages = [stages] if isinstance(stages, str) else list(stages)
        if not stages or any(not isinstance(s, str) or not s.strip() for s in stages):
            raise ValueError(f"stages must be a non-empty list of non-empty instructions, got {stages!r}")
        self.stages, self.every, self.fill = stages, check_period(every), check_fill(fill)
        self.relative, self.gamma = bool(relative), float(gamma)
        if self.relative and self.fill != "hold":
            raise ValueError("relative=True holds the potential between queries; fill must be 'hold'")
        self.frame_stride = check_period(frame_stride or every, "frame_stride")
        self.detector = SuccessDetector(threshold, patience)
        self.terminate_on_success = bool(terminate_on_success)

    sync_only = "asks each query about the stage its previous answers reached"

    def default_instruction(self) -> str:
        return " then ".join(self.stages)

    @property
    def pays_absolute_per_step(self) -> bool:
        return not self.relative

    def new_state(self) -> _StageState:
        return _StageState()

    def needs_point(self, state: _StageState, t: int, done: bool) -> bool:
        return done or on_period(t, self.every) or on_period(t, self.frame_stride)

    def request(self, env: int, state: _StageState, record: EpisodeRecord, done: bool) -> ClipRequest | None:
        if record.t < 1 or state.stage >= len(self.stages) or not (done or on_period(record.t, self.every)):
            return None
        first = record.latest_at_or_before(state.stage_start)
        points = list(range(first, len(record)))
        keep = subsample_indices(len(points), self.model.info.num_frames)
        return ClipRequest([points[k] for k in keep], self.stages[state.stage])

    def reward_of(self, state: _StageState) -> float:
        return min(1.0, (state.stage + state.progress) / len(self.stages))

    def pay(self, state: _StageState, record: EpisodeRecord, done: bool, answer: ClipAnswer | None,
            env_reward: float) -> Payment:
        held = self.reward_of(state)  # the value of the last query: the potential of relative mode
        if answer is None:
            reward = shaping_reward(self.gamma, held) if self.relative else fill_reward(self.fill, held, env_reward)
        else:
            state.success_prob = answer.success
            state.progress = float(answer.progress[-1])
            state.streak = self.detector.update(state.streak, answer.success)
            if self.detector.reached(state.streak):
                state.stage, state.streak, state.progress, state.stage_start = state.stage + 1, 0, 0.0, record.t
            value = self.reward_of(state)
            reward = shaping_reward(self.gamma, held, value) if self.relative else value
        state.detected = state.stage >= len(self.stages)
        info: dict[str, Any] = {"queried": answer is not None, "stage": state.stage, "progress": state.progress,
                                **detection_info(state), "raw": answer.raw if answer else {}}
        return Payment(reward, self.terminate_on_success and state.detected, info)
