"""Vector twin of :mod:`vlmreward_gym.wrappers.dense`."""

from vlmreward_gym.wrappers.dense import DenseForm
from vlmreward_gym.wrappers.vector.base import LearnedRewardVectorWrapper


class DenseReward(LearnedRewardVectorWrapper):
    """Vector dense learned reward, one model call per vector step; options as in :class:`DenseForm`."""

    form_class = DenseForm
