"""One reward model per run, shared by its training and evaluation envs, with one batched model call per
env step for all sub-envs (PPO, DSRL, success-filtered BC)."""

import pytest
import torch

import vlmreward_gym as vrg
from vlmreward_rl.algos import dsrl, filtered_bc, ppo_gae
from vlmreward_rl.algos.diffusion_policy import BCTraining, DiffusionConfig, DiffusionPolicy
from vlmreward_rl.recipes.inputs import POINTREACH, pointreach_demos
from vlmreward_gym.models.control import OracleRewardModel
from vlmreward_gym.models.registry import unregister_reward_model

ENV = "vlmreward/PointReach-v0"


class CountingOracle(OracleRewardModel):
    """The oracle, counting its constructions and the clips of each call."""

    built: list["CountingOracle"] = []
    calls: list[int] = []

    def __init__(self) -> None:
        super().__init__()
        CountingOracle.built.append(self)

    def _predict(self, query):
        CountingOracle.calls.append(query.batch_size)
        return super()._predict(query)


@pytest.fixture
def counting():
    CountingOracle.built, CountingOracle.calls = [], []
    vrg.register_reward_model("counting-oracle", CountingOracle, origin="tests")
    yield CountingOracle
    unregister_reward_model("counting-oracle")


def test_ppo_builds_one_model_for_training_and_evaluation(tmp_path, counting):
    ppo_gae.train(ppo_gae.Args(env_id=ENV, model="counting-oracle", instruction=POINTREACH, num_envs=2, num_steps=8,
                               total_timesteps=16, num_eval_envs=2, eval_episodes=2, hidden=8, run_dir=str(tmp_path),
                               tensorboard=False, progress_bar=False))
    assert len(counting.built) == 1 and max(counting.calls) == 2


def test_dsrl_builds_one_model_and_asks_it_once_per_env_step_for_all_envs(tmp_path, counting):
    policy = DiffusionPolicy(DiffusionConfig(obs_dim=4, act_dim=2, chunk_size=4, hidden=16))
    args = dsrl.Args(env_id=ENV, model="counting-oracle", form="dense", instruction=POINTREACH, num_envs=3,
                     total_timesteps=48, learning_starts=24, hidden=16, utd=1, noise_critic_updates=1, batch_size=8,
                     eval_episodes=1, eval_every=0, log_every=48, run_dir=str(tmp_path), tensorboard=False,
                     progress_bar=False)
    result = dsrl.train(args, policy)
    assert len(counting.built) == 1
    assert counting.calls.count(3) >= result.global_step // args.num_envs  # each env step: one call, three clips


def test_filtered_bc_builds_one_judge_and_batches_its_queries(tmp_path, counting):
    demos = pointreach_demos(tmp_path / "demos", episodes=3)
    args = filtered_bc.Args(env_id=ENV, instruction=POINTREACH, demos=str(demos), kinds=("noisy",),
                            model="counting-oracle", form="episodic", rounds=1, rollouts=4, num_envs=4,
                            eval_episodes=2, run_dir=str(tmp_path / "runs"), tensorboard=False,
                            bc=BCTraining(steps=10, hidden=16, batch_size=16))
    torch.manual_seed(0)
    filtered_bc.train(args)
    assert len(counting.built) == 1
    assert max(counting.calls) > 1 and sum(counting.calls) == args.rollouts  # the ends judged together


def test_the_sb3_adapter_builds_one_model_for_its_envs(counting):
    from vlmreward_rl.algos.sb3 import make_sb3_vec_env

    envs = make_sb3_vec_env(ENV, 3, model="counting-oracle", form="dense", instruction=POINTREACH)
    assert len(counting.built) == 1
    envs.close()
