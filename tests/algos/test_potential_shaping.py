"""Potential-based rewards telescope under the algorithm's own discount: per step for PPO
(r_t = gamma P_t - P_{t-1}), per chunk for DSRL (R = gamma P_end - P_start with gamma per chunk),
the shaping gamma set from the algorithm's arguments in one place."""

import numpy as np
import pytest

from vlmreward_rl.algos import dsrl, ppo_gae
from vlmreward_rl.algos.diffusion_policy import DiffusionConfig, DiffusionPolicy
from vlmreward_rl.algos.common.envs import shaped_reward_kwargs
from vlmreward_rl.recipes.inputs import POINTREACH
from vlmreward_gym.wrappers.vector import sub_info

ENV = "vlmreward/PointReach-v0"
STAGES = ("move the red dot toward the green dot", "move the red dot onto the green dot")


def potential(rm: dict, form: str) -> float:
    """The form's potential after a step, from its ``info["reward_model"]``."""
    if form == "stage_gated":
        return min(1.0, (float(rm["stage"]) + float(rm["progress"])) / len(STAGES))
    return float(rm["progress"])


def reward_kwargs(form: str, every: int) -> dict:
    return {"relative": True, "every": every, **({"stages": list(STAGES), "threshold": 0.9, "patience": 1}
                                                 if form == "stage_gated" else {})}


@pytest.mark.parametrize("form, every", [("dense", 1), ("dense", 3), ("stage_gated", 1)])
def test_a_dsrl_chunk_pays_the_chunk_discount_times_the_end_potential_minus_the_start(form, every):
    policy = DiffusionPolicy(DiffusionConfig(obs_dim=4, act_dim=2, chunk_size=4, hidden=16))
    args = dsrl.Args(env_id=ENV, model="oracle", form=form, reward_kwargs=reward_kwargs(form, every),
                     instruction=POINTREACH, gamma=0.9, env_kwargs={"goal_radius": 0.5})
    runner = dsrl.make_runner(args, policy)
    info = runner.reset(seed=3)
    start = potential(sub_info(info, 0)["reward_model"], form)
    rng, full = np.random.default_rng(0), 0
    for _ in range(12):
        chunk = None
        while chunk is None:
            ended = runner.step(lambda envs, obs: rng.normal(size=(len(envs), 8)).astype(np.float32))
            chunk = ended[0] if ended else None
        end = potential(chunk.info["reward_model"], form)
        if chunk.steps == 4:
            assert chunk.reward == pytest.approx(0.9 * end - start, abs=1e-6)
            full += 1
        if chunk.ended:
            info = runner.reset(mask=np.array([True]))
            end = potential(sub_info(info, 0)["reward_model"], form)
        start = end
    assert full >= 6
    runner.close()


def test_ppo_pays_its_own_discount_per_step():
    args = ppo_gae.Args(env_id=ENV, model="oracle", form="dense", reward_kwargs={"relative": True},
                        instruction=POINTREACH, gamma=0.8)
    envs = ppo_gae.make_envs(args, 1)
    obs, info = envs.reset(seed=0)
    before, paid = float(info["reward_model"]["progress"][0]), []
    for _ in range(10):  # toward the goal at a third of the top speed: the progress grows every step
        obs, reward, *_, info = envs.step(np.clip(obs[:, 2:] - obs[:, :2], -0.3, 0.3).astype(np.float32))
        after = float(info["reward_model"]["progress"][0])
        paid.append((reward[0], 0.8 * after - before))
        before = after
    np.testing.assert_allclose(*zip(*paid), atol=1e-9)
    assert after > 0.1
    envs.close()


def test_the_shaping_gamma_comes_from_the_algorithm_and_a_contradicting_one_is_refused():
    assert shaped_reward_kwargs("dense", {"relative": True, "every": 2}, 0.8) == {"relative": True, "every": 2,
                                                                               "gamma": 0.8}
    assert shaped_reward_kwargs("episodic", {"scale": "unit"}, 0.8) == {"scale": "unit"}  # nothing to shape
    assert shaped_reward_kwargs("dense", {"relative": True, "gamma": 0.8}, 0.8)["gamma"] == 0.8
    with pytest.raises(ValueError, match="shaping gamma 0.99.*discount per env step is 0.8"):
        shaped_reward_kwargs("stage_gated", {"relative": True, "gamma": 0.99}, 0.8)
