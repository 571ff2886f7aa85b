"""SB3 PPO and SAC train a few hundred steps on a learned-reward PointReach; the callback logs fidelity."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.env_checker import check_env

import vlmreward_gym as vrg
from vlmreward_rl.algos.common.envs import make_env
from vlmreward_rl.algos.sb3 import RewardFidelityCallback, make_sb3_vec_env, wrap_for_sb3

INSTRUCTION = "move the red dot onto the green dot"


def test_wrapped_env_passes_sb3_checks_and_keeps_the_env_reward():
    env = make_env("vlmreward/PointReach-v0", model="oracle", form="dense", instruction=INSTRUCTION)
    check_env(env, warn=True)
    vec = make_sb3_vec_env("vlmreward/PointReach-v0", 2, model="oracle", form="dense", instruction=INSTRUCTION)
    vec.reset()
    _, rewards, _, infos = vec.step(np.zeros((2, 2), np.float32))
    for reward, info in zip(rewards, infos):
        assert reward == pytest.approx(info["reward_model"]["progress"])  # absolute dense: paid = progress
        assert info["env_reward"] < 0 <= reward  # PointReach's own reward is -distance
        assert info["is_success"] == info["success"]


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_sb3_trains_on_learned_reward(tmp_path, algo):
    env = make_sb3_vec_env("vlmreward/PointReach-v0", 2, model="noisy-oracle", form="dense", instruction=INSTRUCTION,
                           model_kwargs={"mae": 0.5}, seed=0)
    callback = RewardFidelityCallback(log_every=100)
    if algo == "ppo":
        agent = PPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=2, seed=0, tensorboard_log=str(tmp_path))
    else:
        agent = SAC("MlpPolicy", env, learning_starts=100, batch_size=64, seed=0, tensorboard_log=str(tmp_path))
    agent.learn(300, callback=callback, tb_log_name=f"PointReach-v0__sb3-{algo}__noisy-oracle-dense__s0")
    assert agent.num_timesteps >= 300
    last = callback.last
    assert last["charts/episodes"] >= 2  # 50-step episodes
    assert 0.0 <= last["reward/mean"] <= 1.0  # the learned (absolute progress) reward, not -distance
    assert last["charts/episodic_env_return"] < 0
    assert 0.0 < last["reward/progress_pearson"] <= 1.0  # noisy progress still tracks the oracle's
    # SB3's Monitor saw the learned return, the same the callback computed from the rewards
    monitor_returns = [ep["r"] for ep in agent.ep_info_buffer]
    assert min(monitor_returns) >= 0.0
    assert any(p.is_dir() for p in tmp_path.iterdir())


def test_wrap_for_sb3_on_a_user_built_env():
    env = wrap_for_sb3(vrg.wrap(gym.make("vlmreward/PointReach-v0"), model="oracle", form="episodic",
                                instruction=INSTRUCTION, scale="unit"))
    env.reset(seed=0)
    total, info = 0.0, {}
    for _ in range(50):
        _, reward, terminated, truncated, info = env.step(np.zeros(2, np.float32))
        total += reward
        if terminated or truncated:
            break
    assert truncated and "episode" in info and info["episode"]["r"] == pytest.approx(total)
    assert info["is_success"] is False


@pytest.mark.parametrize("scoring", ["async", "deferred"])
def test_late_scoring_is_refused_with_a_clear_message(scoring):
    """SB3 would store the NaN of a pending reward ("found nan in rewards", then a torch error)."""
    with pytest.raises(ValueError, match=f"scoring='{scoring}'.*use scoring='sync'"):
        make_sb3_vec_env("vlmreward/PointReach-v0", 1, model="oracle", form="dense", instruction=INSTRUCTION,
                         reward_kwargs={"scoring": scoring})
    env = vrg.wrap(gym.make("vlmreward/PointReach-v0"), model="oracle", form="dense",
                   instruction=INSTRUCTION, scoring=scoring)
    with pytest.raises(ValueError, match="use scoring='sync'"):
        wrap_for_sb3(env)
    env.close()
    wrap_for_sb3(vrg.wrap(gym.make("vlmreward/PointReach-v0"), model="oracle", form="dense",
                          instruction=INSTRUCTION, scoring="sync")).close()
