"""Older home of :class:`~vlmreward_gym.wrappers.LearnedRewardWrapper`, kept as an alias for callers that
import it from here (``tests/algos/test_dsrl_late_rewards.py``); new code imports it from
:mod:`vlmreward_gym.wrappers`."""

from vlmreward_gym.wrappers.single import LearnedRewardWrapper

__all__ = ["LearnedRewardWrapper"]
