"""Batched twins of the reward-form wrappers for Gymnasium vector envs."""

from vlmreward_gym.wrappers.vector.base import LearnedRewardVectorWrapper
from vlmreward_gym.wrappers.vector.contrastive import ContrastiveReward
from vlmreward_gym.wrappers.vector.dense import DenseReward
from vlmreward_gym.wrappers.vector.episodic import EpisodicReward
from vlmreward_gym.wrappers.vector.stage_gated import StageGatedReward

__all__ = ["LearnedRewardVectorWrapper", "EpisodicReward", "DenseReward", "ContrastiveReward", "StageGatedReward"]
