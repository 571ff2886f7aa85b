"""Learned-reward wrappers: one generic wrapper per env kind, taking ``form=``, and named ones per form.

- :mod:`.forms`: each reward form's pure logic, and the registry :data:`FORMS` (name -> form class).
- :class:`LearnedRewardWrapper` (:mod:`.single`) for a Gymnasium env and
  :class:`~.vector.LearnedRewardVectorWrapper` (:mod:`.vector`) for a vector env, batching one model
  call per vector step; ``EpisodicReward``, ``DenseReward``, ... here and in :mod:`.vector` are them
  with the form fixed (``LearnedRewardWrapper.named("dense")``).
- :mod:`.engine` records episodes and batches queries; :mod:`.scoring` runs them now or later;
  :mod:`.common` is what both wrappers share.
"""

from vlmreward_gym.wrappers.forms import FORMS, ContrastiveForm, DenseForm, EpisodicForm, StageGatedForm
from vlmreward_gym.wrappers.scoring import Relabel, RewardDeliveryError
from vlmreward_gym.wrappers.single import (ContrastiveReward, DenseReward, EpisodicReward, LearnedRewardWrapper,
                                           ResetNeeded, StageGatedReward)

__all__ = ["LearnedRewardWrapper", "ResetNeeded", "EpisodicReward", "DenseReward", "ContrastiveReward",
           "StageGatedReward", "EpisodicForm", "DenseForm", "ContrastiveForm", "StageGatedForm", "FORMS", "Relabel",
           "RewardDeliveryError"]

__getattr__ = LearnedRewardWrapper.module_getattr(__name__)  # the named wrapper of any registered form
