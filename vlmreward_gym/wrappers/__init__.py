"""Reward-form wrappers for single Gymnasium envs; batched twins live in :mod:`.vector`."""

from vlmreward_gym.wrappers.base import LearnedRewardWrapper, ResetNeeded
from vlmreward_gym.wrappers.contrastive import ContrastiveForm, ContrastiveReward
from vlmreward_gym.wrappers.dense import DenseForm, DenseReward
from vlmreward_gym.wrappers.episodic import EpisodicForm, EpisodicReward
from vlmreward_gym.wrappers.stage_gated import StageGatedForm, StageGatedReward

__all__ = ["LearnedRewardWrapper", "ResetNeeded", "EpisodicReward", "DenseReward", "ContrastiveReward",
           "StageGatedReward", "EpisodicForm", "DenseForm", "ContrastiveForm", "StageGatedForm"]
