"""vlmreward_gym: learned vision-language rewards for Gymnasium environments.

    import gymnasium as gym, vlmreward_gym as vrg
    env = gym.make("vlmreward/PointReach-v0", render_mode="rgb_array")
    env = vrg.wrap(env, model="oracle", form="dense", instruction="reach the green dot", every=5)
"""

import gymnasium as gym

from vlmreward_gym.api import FORMS, wrap
from vlmreward_gym.models.base import ModelInfo, RewardModel
from vlmreward_gym.models.registry import (ENTRY_POINT_GROUP, DuplicateRewardModelError, UnknownRewardModelError,
                                           list_reward_models, make_reward_model, register_reward_model)
from vlmreward_gym.registration import register_envs
from vlmreward_gym.types import (Capability, CapabilityError, RewardInputError, RewardOutput, RewardOutputError,
                                 RewardQuery)

__version__ = "0.1.0"

register_envs()
if "vlmreward/PointReach-v0" not in gym.registry:
    gym.register("vlmreward/PointReach-v0", entry_point="vlmreward_gym.point_reach:PointReachEnv",
                 max_episode_steps=50)

__all__ = ["wrap", "FORMS", "make_reward_model", "list_reward_models", "register_reward_model", "RewardModel",
           "ModelInfo", "Capability", "RewardQuery", "RewardOutput", "RewardInputError", "RewardOutputError",
           "CapabilityError", "UnknownRewardModelError", "DuplicateRewardModelError", "ENTRY_POINT_GROUP"]
