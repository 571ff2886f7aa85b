"""Vector twin of :mod:`vlmreward_gym.wrappers.stage_gated`."""

from vlmreward_gym.wrappers.stage_gated import StageGatedForm
from vlmreward_gym.wrappers.vector.base import LearnedRewardVectorWrapper


class StageGatedReward(LearnedRewardVectorWrapper):
    """Vector stage-gated learned reward, one model call per vector step; options as in :class:`StageGatedForm`."""

    form_class = StageGatedForm
