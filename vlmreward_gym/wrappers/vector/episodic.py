"""Vector twin of :mod:`vlmreward_gym.wrappers.episodic`."""

from vlmreward_gym.wrappers.episodic import EpisodicForm
from vlmreward_gym.wrappers.vector.base import LearnedRewardVectorWrapper


class EpisodicReward(LearnedRewardVectorWrapper):
    """Vector episodic learned reward, one model call per vector step; options as in :class:`EpisodicForm`."""

    form_class = EpisodicForm
