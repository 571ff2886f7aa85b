"""Wrap the built-in PointReach env with a learned-reward model and watch the rewards."""

import gymnasium as gym
import numpy as np

import vlmreward_gym as vrg

env = gym.make("vlmreward/PointReach-v0", render_mode="rgb_array")
env = vrg.wrap(env, model="noisy-oracle", model_kwargs={"mae": 0.5, "seed": 0}, form="dense",
               instruction="move the red dot onto the green dot", every=5)
obs, info = env.reset(seed=0)
done = False
while not done:
    obs, reward, terminated, truncated, info = env.step(np.clip((obs[2:] - obs[:2]) * 10, -1, 1))
    done = terminated or truncated
    print(f"learned {reward:+.3f}  simulator {info['env_reward']:+.3f}  queried {info['reward_model']['queried']}")
print("success:", info["success"])
