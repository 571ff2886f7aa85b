"""Control backends for ablations: ``zero``, ``oracle`` and ``noisy-oracle``.

They read no pixels (``needs_frames=False``), so wrapping an env with them renders nothing.
``oracle`` answers from the privileged progress and success the env exposes through the
oracle protocol (:mod:`vlmreward_gym.oracle`); it is the upper bound of a reward-model study.
``noisy-oracle`` degrades it to a chosen mean absolute error on the 1-5 rubric scale, the
accuracy dial of RoboReward's accuracy-vs-RL study.
"""

from __future__ import annotations

import hashlib

import numpy as np

from vlmreward_gym.models.base import ModelCard, ModelInfo, RewardModel
from vlmreward_gym.types import Capability, RewardOutput, RewardQuery

ALL = Capability.PROGRESS | Capability.SUCCESS | Capability.COMPARE | Capability.EPISODE_SCORE
RUBRIC_RANGE = (1.0, 5.0)


def rubric_score(progress: np.ndarray, success: np.ndarray) -> np.ndarray:
    """Map progress in [0, 1] and success flags to the RoboReward 1-5 end-state rubric.

    5 = success; otherwise 1 (no progress) .. 4 (near completion) by ``1 + round(3 * progress)``.
    """
    progress = np.asarray(progress, dtype=np.float64)
    return np.where(np.asarray(success, bool), 5.0, 1.0 + np.round(3.0 * np.minimum(progress, 1.0)))


def compare_progress(before: np.ndarray, after: np.ndarray, tolerance: float) -> np.ndarray:
    """-1, 0 or +1: whether ``after`` is behind, level with (within ``tolerance``) or ahead of ``before``."""
    diff = np.asarray(after, np.float64) - np.asarray(before, np.float64)
    return np.where(np.abs(diff) <= tolerance, 0.0, np.sign(diff))


class ZeroRewardModel(RewardModel):
    """Answers everything with the lowest value: progress 0, success 0, comparison 0, the lowest score."""

    card = ModelCard(ALL, "control: the lowest answer to everything (a reward that teaches nothing)", needs_frames=False)

    def __init__(self) -> None:
        self.info = ModelInfo(name="zero", capabilities=ALL, needs_frames=False, score_range=RUBRIC_RANGE)

    def _predict(self, query: RewardQuery) -> RewardOutput:
        B = query.batch_size
        return RewardOutput(progress=tuple(np.zeros(n) for n in query.lengths), success=np.zeros(B),
                            comparison=np.zeros(B), score=np.full(B, RUBRIC_RANGE[0]))


class OracleRewardModel(RewardModel):
    """The simulator's own privileged progress and success, in the reward-model contract.

    Args:
        tolerance: progress differences at most this large compare as 0 ("no change").
    """

    card = ModelCard(ALL, "control: the simulator's privileged progress and success (the upper bound)",
                     needs_frames=False, needs_oracle=True)

    def __init__(self, tolerance: float = 1e-3) -> None:
        self.tolerance = float(tolerance)
        self.info = ModelInfo(name="oracle", capabilities=ALL, needs_frames=False, needs_oracle=True,
                              score_range=RUBRIC_RANGE)

    def _clean(self, query: RewardQuery) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return ([np.asarray(p, np.float64) for p in query.oracle_progress],
                [np.asarray(s, bool) for s in query.oracle_success])

    def _predict(self, query: RewardQuery) -> RewardOutput:
        progress, success = self._clean(query)
        return self._output(progress, success)

    def _output(self, progress: list[np.ndarray], success: list[np.ndarray]) -> RewardOutput:
        last_p = np.array([p[-1] for p in progress])
        last_s = np.array([s[-1] for s in success])
        before = np.array([p[-2] if len(p) > 1 else p[-1] for p in progress])
        return RewardOutput(progress=tuple(progress), success=last_s.astype(np.float64),
                            comparison=compare_progress(before, last_p, self.tolerance),
                            score=rubric_score(last_p, last_s))


class NoisyOracleRewardModel(OracleRewardModel):
    """The oracle with errors of a chosen mean absolute size ``mae`` on the 1-5 rubric scale.

    Every answer is perturbed on the 1-5 scale: the episode score directly, progress through
    ``score = 1 + 4 * progress`` (so progress errors average ``mae / 4``), the success probability
    as ``clip(noisy_score - 4, 0, 1)`` of the last frame's noisy rubric score. Each error has a
    magnitude drawn uniformly with mean ``mae`` (at most 2) and a random sign, flipped where it
    would leave [1, 5], so the mean absolute error is exactly ``mae`` in expectation for any
    true value. The noise is a deterministic function of ``seed`` and the clip's content, so the
    model is reproducible and answers a clip the same way whatever it is batched with.

    Args:
        mae: target mean absolute error on the 1-5 scale, in [0, 2].
        seed: noise seed.
        tolerance: as for :class:`OracleRewardModel`.
    """

    MAX_MAE = 2.0
    card = ModelCard(ALL, "control: the oracle with errors of mean absolute size mae (required) on the 1-5 scale",
                     needs_frames=False, needs_oracle=True)

    def __init__(self, mae: float, seed: int = 0, tolerance: float = 1e-3) -> None:
        super().__init__(tolerance)
        if not 0.0 <= float(mae) <= self.MAX_MAE:
            raise ValueError(f"noisy-oracle mae must be in [0, {self.MAX_MAE}] on the 1-5 scale, got {mae}")
        self.mae, self.seed = float(mae), int(seed)
        self.info = ModelInfo(name="noisy-oracle", capabilities=ALL, needs_frames=False, needs_oracle=True,
                              score_range=RUBRIC_RANGE)

    def perturb(self, scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Add errors of mean absolute size ``mae`` to 1-5 ``scores``, staying inside [1, 5]."""
        scores = np.asarray(scores, np.float64)
        low, high = max(0.0, 2 * self.mae - 2.0), min(2.0, 2 * self.mae)
        magnitude = rng.uniform(low, high, size=scores.shape)
        sign = rng.choice([-1.0, 1.0], size=scores.shape)
        outside = (scores + sign * magnitude > 5.0) | (scores + sign * magnitude < 1.0)
        sign = np.where(outside, -sign, sign)
        return np.clip(scores + sign * magnitude, *RUBRIC_RANGE)

    def _rng(self, instruction: str, progress: np.ndarray, success: np.ndarray) -> np.random.Generator:
        digest = hashlib.blake2b(digest_size=8)
        for part in (instruction.encode(), progress.tobytes(), success.tobytes()):
            digest.update(part)
        return np.random.default_rng([self.seed, int.from_bytes(digest.digest(), "little")])

    def _predict(self, query: RewardQuery) -> RewardOutput:
        progress, success = self._clean(query)
        noisy_progress, scores, success_prob = [], [], []
        for text, p, s in zip(query.instructions, progress, success):
            rng = self._rng(text, p, s)
            noisy_progress.append((self.perturb(1.0 + 4.0 * p, rng) - 1.0) / 4.0)
            noisy_score = self.perturb(rubric_score(p[-1], s[-1]), rng)
            scores.append(noisy_score)
            success_prob.append(np.clip(noisy_score - 4.0, 0.0, 1.0))
        before = np.array([p[-2] if len(p) > 1 else p[-1] for p in noisy_progress])
        after = np.array([p[-1] for p in noisy_progress])
        return RewardOutput(progress=tuple(noisy_progress), success=np.array(success_prob, np.float64),
                            comparison=compare_progress(before, after, self.tolerance),
                            score=np.array(scores, np.float64))
