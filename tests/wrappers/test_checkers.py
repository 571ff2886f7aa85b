"""Wrapped envs pass Gymnasium's and SB3's env checkers in every form; vector twins repeat a seeded run exactly."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import vlmreward_gym as vrg
from scripted import FrameProbeModel, ScriptedEnv

FORMS = [
    ("dense", {}),
    ("dense", {"every": 3, "relative": True}),
    ("dense", {"every": 2, "terminate_on_success": True}),
    ("episodic", {}),
    ("contrastive", {"delta": 2}),
    ("stage_gated", {"stages": ["a", "b"]}),
    ("stage_gated", {"stages": ["a"], "every": 2}),
]

ENVS = {  # name: (make the env, the reward model); Pendulum has neither frames nor the oracle protocol
    "Pendulum-v1/zero": (lambda: gym.make("Pendulum-v1"), lambda: "zero"),  # renders with pygame: not installed
    "PointReach-v0/oracle": (lambda: gym.make("vlmreward/PointReach-v0", render_mode="rgb_array"), lambda: "oracle"),
    "scripted/frame-model": (lambda: ScriptedEnv(length=20), lambda: FrameProbeModel(success_value=1)),
}


def wrapped(env_name, form, kwargs):
    make_env, model = ENVS[env_name]
    return vrg.wrap(make_env(), model=model(), form=form, instruction="task", **kwargs)


@pytest.mark.filterwarnings("ignore")  # the checker's advice (it prefers unwrapped envs, float32 spaces, ...)
@pytest.mark.parametrize("env_name", ENVS)
@pytest.mark.parametrize("form, kwargs", FORMS)
def test_gymnasium_env_checker_passes(env_name, form, kwargs):
    check_env(wrapped(env_name, form, kwargs), skip_render_check=env_name.startswith("Pendulum"))


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("env_name", ENVS)
@pytest.mark.parametrize("form, kwargs", FORMS)
def test_sb3_env_checker_passes(env_name, form, kwargs):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    sb3_check_env(wrapped(env_name, form, kwargs))


def seeded_run(env, steps, actions):
    """Everything a seeded reset and ``steps`` steps return."""
    out = [env.reset(seed=123)]
    for _ in range(steps):
        out.append(env.step(actions))
    return out


@pytest.mark.parametrize("form, kwargs", FORMS)
def test_single_env_repeats_a_seeded_run_across_episodes(form, kwargs):
    env = vrg.wrap(ScriptedEnv(length=4, vary=3, success_step=3), model=FrameProbeModel(success_value=3),
                   form=form, instruction="task", **kwargs)
    runs = []
    for _ in range(2):
        run = seeded_run(env, 3, np.zeros(1, np.float32))
        run.append(env.reset())  # the next (unseeded) episode starts the same way after the same seed
        runs.append(run)
    assert data_equivalence(runs[0], runs[1], exact=True)


@pytest.mark.parametrize("mode, frame_key", [(AutoresetMode.NEXT_STEP, None), (AutoresetMode.SAME_STEP, "rgb")])
@pytest.mark.parametrize("form, kwargs", FORMS)
def test_vector_env_repeats_a_seeded_run(form, kwargs, mode, frame_key):
    """Gymnasium has no checker for vector envs; what applies of it: the same seed and actions give the
    same observations, rewards, ends and infos, across autoresets (episodes of 4 to 6 steps)."""
    venv = SyncVectorEnv([lambda: ScriptedEnv(length=4, vary=3, success_step=3) for _ in range(3)],
                         autoreset_mode=mode)
    venv = vrg.wrap(venv, model=FrameProbeModel(success_value=3), form=form, instruction="task",
                    frame_key=frame_key, **kwargs)
    first, second = (seeded_run(venv, 14, np.zeros((3, 1), np.float32)) for _ in range(2))
    assert data_equivalence(first, second, exact=True)
