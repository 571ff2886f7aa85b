"""The form registry, the generic wrappers taking ``form=`` and the named wrappers made from it."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

import vlmreward_gym as vrg
from scripted import FrameProbeModel, ScriptedEnv, run_episode
from vlmreward_gym.wrappers import FORMS, DenseForm, DenseReward, LearnedRewardWrapper, StageGatedReward, vector
from vlmreward_gym.wrappers.forms.base import Payment
from vlmreward_gym.wrappers.vector import LearnedRewardVectorWrapper


class HalvedForm(DenseForm):
    """Dense progress, halved: a form added by one class and one registry entry."""

    def pay(self, *args, **kwargs):
        paid = super().pay(*args, **kwargs)
        return Payment(paid.reward / 2, paid.detected_success, paid.info)


@pytest.fixture
def halved(monkeypatch):
    monkeypatch.setitem(FORMS, "halved", HalvedForm)


def rewards(env):
    return [r for r, *_ in run_episode(env)]


def test_the_named_wrappers_are_the_generic_ones_with_the_form_fixed():
    assert list(vrg.FORMS) == ["episodic", "dense", "contrastive", "stage_gated"]
    assert LearnedRewardWrapper.named("dense") is DenseReward and LearnedRewardWrapper.named("stage-gated") is \
        StageGatedReward
    assert LearnedRewardVectorWrapper.named("dense") is vector.DenseReward is not DenseReward
    assert issubclass(DenseReward, LearnedRewardWrapper) and DenseReward.form_name == "dense"
    assert "DenseForm" in DenseReward.__doc__ and "every:" in vector.DenseReward.__doc__
    generic = LearnedRewardWrapper(ScriptedEnv(length=6), FrameProbeModel(), "t", form="dense", every=2)
    assert rewards(generic) == rewards(DenseReward(ScriptedEnv(length=6), FrameProbeModel(), "t", every=2))
    assert type(vrg.wrap(ScriptedEnv(), form="stage-gated", stages=["a"], relative=True)) is StageGatedReward


def test_a_named_wrapper_takes_no_other_form():
    with pytest.raises(TypeError, match="DenseReward pays the dense form, not 'episodic'"):
        DenseReward(ScriptedEnv(), instruction="t", form="episodic")
    DenseReward(ScriptedEnv(), instruction="t", form="dense")
    with pytest.raises(ValueError, match="unknown reward form 'sparse'"):
        LearnedRewardWrapper(ScriptedEnv(), instruction="t", form="sparse")


def test_a_registered_form_is_a_form_of_every_wrapper_single_and_vector(halved):
    dense = rewards(DenseReward(ScriptedEnv(length=6), FrameProbeModel(), "t", every=2))
    single = vrg.wrap(ScriptedEnv(length=6), model=FrameProbeModel(), form="halved", instruction="t", every=2)
    assert type(single).__name__ == "HalvedReward" and rewards(single) == [r / 2 for r in dense]
    from vlmreward_gym.wrappers import HalvedReward
    from vlmreward_gym.wrappers.vector import HalvedReward as VectorHalvedReward

    assert type(single) is HalvedReward and issubclass(VectorHalvedReward, LearnedRewardVectorWrapper)
    venv = vrg.wrap(SyncVectorEnv([lambda: ScriptedEnv(length=6)] * 2), model=FrameProbeModel(), form="halved",
                    instruction="t", every=2)
    venv.reset(seed=0)
    assert type(venv) is VectorHalvedReward
    np.testing.assert_allclose(venv.step(np.zeros((2, 1), np.float32))[1], [dense[0]] * 2)
    with pytest.raises(AttributeError, match="SparseReward"):
        vector.SparseReward


@pytest.mark.parametrize("form, kwargs", [("dense", {"every": 5}), ("halved", {"relative": True})])
def test_a_wrapped_envs_spec_makes_the_same_wrapper_again(halved, form, kwargs):
    env = vrg.wrap(gym.make("vlmreward/PointReach-v0", render_mode="rgb_array"), model="oracle", form=form,
                   instruction="reach", **kwargs)
    again = gym.make(env.spec)
    assert type(again) is type(env) and again.form.name == form and again.instruction == "reach"
    generic = LearnedRewardWrapper(gym.make("vlmreward/PointReach-v0", render_mode="rgb_array"), form=form,
                                   instruction="reach", **kwargs)
    assert type(gym.make(generic.spec)) is LearnedRewardWrapper and gym.make(generic.spec).form.name == form


def test_the_vector_wrapper_records_its_constructor_args_as_the_single_one_does():
    venv = vrg.wrap(SyncVectorEnv([ScriptedEnv, ScriptedEnv]), model="oracle", instruction=["a", "b"], every=3)
    single = vrg.wrap(ScriptedEnv(), model="oracle", instruction="a", every=3)
    assert venv._saved_kwargs == {**single._saved_kwargs, "instruction": ["a", "b"]}
    generic = LearnedRewardVectorWrapper(SyncVectorEnv([ScriptedEnv]), instruction="a", form="episodic")
    assert generic._saved_kwargs["form"] == "episodic"
