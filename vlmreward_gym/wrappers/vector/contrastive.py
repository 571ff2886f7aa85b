"""Vector twin of :mod:`vlmreward_gym.wrappers.contrastive`."""

from vlmreward_gym.wrappers.contrastive import ContrastiveForm
from vlmreward_gym.wrappers.vector.base import LearnedRewardVectorWrapper


class ContrastiveReward(LearnedRewardVectorWrapper):
    """Vector contrastive learned reward, one model call per vector step; options as in :class:`ContrastiveForm`."""

    form_class = ContrastiveForm
