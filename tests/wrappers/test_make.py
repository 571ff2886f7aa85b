"""``gym.make("vlmreward/<Task>-v1", ...)`` takes the reward keywords of ``wrap`` under the same names."""

import gymnasium as gym
import pytest

from scripted import ScriptedEnv
from vlmreward_gym.registration import reward_options, wrap_if_requested
from vlmreward_rl.envs.maniskill_tasks import MANISKILL_TASKS
from vlmreward_gym.wrappers import DenseReward, EpisodicReward

ENV_ID = "vlmreward-test/Scripted-v0"
STAGES = ("reach the goal", "stay there")


def make_scripted(**kwargs):
    """An entry point built like vlmreward_rl.envs.maniskill / vlmreward_rl.envs.robomimic ``make_env``."""
    reward = reward_options(kwargs)
    return wrap_if_requested(ScriptedEnv(**kwargs), "reach the goal", STAGES, **reward)


@pytest.fixture(scope="module", autouse=True)
def registered():
    gym.register(ENV_ID, entry_point=make_scripted)
    yield
    del gym.registry[ENV_ID]


def reward_wrapper(env):
    while not hasattr(env, "form"):
        env = env.env
    return env


def test_gym_make_takes_wraps_names():
    env = gym.make(ENV_ID, model="noisy-oracle", model_kwargs={"mae": 0.5, "seed": 3}, form="dense",
                   reward_kwargs={"every": 2}, length=4)
    wrapper = reward_wrapper(env)
    assert isinstance(wrapper, DenseReward) and wrapper.form.every == 2
    assert (wrapper.model.info.name, wrapper.model.mae, wrapper.model.seed) == ("noisy-oracle", 0.5, 3)
    assert wrapper.instruction == "reach the goal" and wrapper.env.unwrapped.length == 4


def test_older_names_are_aliases():
    wrapper = reward_wrapper(gym.make(ENV_ID, reward_model="oracle", reward_form="episodic"))
    assert isinstance(wrapper, EpisodicReward) and wrapper.model.info.name == "oracle"
    assert not hasattr(gym.make(ENV_ID), "form") and isinstance(gym.make(ENV_ID).unwrapped, ScriptedEnv)


@pytest.mark.parametrize("kwargs, message", [
    ({"model": "oracle", "reward_model": "zero"}, "both model= and reward_model="),
    ({"model": "oracle", "form": "dense", "reward_form": "episodic"}, "both form= and reward_form="),
    ({"model": "oracle", "model_kwargs": {}, "reward_kwargs": {"model_kwargs": {}}}, "model_kwargs given both"),
    ({"form": "dense", "reward_kwargs": {"every": 2}}, "form=, reward_kwargs= given without model="),
])
def test_conflicting_or_orphan_reward_options_are_refused(kwargs, message):
    with pytest.raises(TypeError, match=message):
        gym.make(ENV_ID, **kwargs)


def test_stage_gated_gets_the_tasks_stages_unless_given():
    assert reward_wrapper(gym.make(ENV_ID, model="oracle", form="stage_gated")).form.stages == list(STAGES)
    given = gym.make(ENV_ID, model="oracle", form="stage-gated", reward_kwargs={"stages": ["a"]})
    assert reward_wrapper(given).form.stages == ["a"]


def test_every_maniskill_task_has_default_stages():
    from vlmreward_rl.envs.tasks import task

    assert all(len(task(f"{name}-v1").stages) >= 2 for name in MANISKILL_TASKS)
