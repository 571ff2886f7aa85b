"""Bad input and bad model output raise errors that name the problem; nothing becomes a silent 0."""

import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

import vlmreward_gym as vrg
from scripted import ALL, FrameProbeModel, ScriptedEnv, run_episode, shown_steps
from vlmreward_gym.oracle import OracleProtocolError
from vlmreward_gym.types import Capability, CapabilityError, RewardInputError, RewardOutputError
from vlmreward_gym.wrappers import ResetNeeded


def test_wrong_frame_dtype_and_shape():
    with pytest.raises(RewardInputError, match="uint8"):
        run_episode(vrg.wrap(ScriptedEnv(frame_dtype=np.float32), model=FrameProbeModel(), instruction="t"))
    with pytest.raises(RewardInputError, match=r"shape \(H, W, 3\)"):
        run_episode(vrg.wrap(ScriptedEnv(frame_shape=(6, 6, 4)), model=FrameProbeModel(), instruction="t"))


def test_missing_frame_source_is_refused_at_wrap_time():
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        vrg.wrap(ScriptedEnv(render_mode=None), model=FrameProbeModel(), instruction="t")
    with pytest.raises(KeyError, match="frame_key 'camera'"):
        run_episode(vrg.wrap(ScriptedEnv(), model=FrameProbeModel(), instruction="t", frame_key="camera"))


@pytest.mark.parametrize("instruction", ["", "   ", None])
def test_empty_instruction(instruction):
    with pytest.raises(RewardInputError, match="instruction"):
        vrg.wrap(ScriptedEnv(), model="oracle", form="dense", instruction=instruction)


@pytest.mark.parametrize("form, kwargs, missing", [
    ("episodic", {}, "episode_score"), ("contrastive", {}, "compare"), ("stage_gated", {"stages": ["a"]}, "success"),
    ("dense", {"terminate_on_success": True}, "success")])
def test_capability_missing_is_an_error_at_wrap_time(form, kwargs, missing):
    model = FrameProbeModel(caps=Capability.PROGRESS)
    with pytest.raises(CapabilityError, match=missing):
        vrg.wrap(ScriptedEnv(), model=model, form=form, instruction="t", **kwargs)


@pytest.mark.parametrize("model, form, kwargs, missing", [
    ("clip", "episodic", {}, "episode_score"), ("lrm-contrastive", "dense", {}, "progress"),
    ("roboreward-4b", "contrastive", {}, "compare")])
def test_a_backend_that_cannot_serve_the_form_is_refused_before_its_weights_load(model, form, kwargs, missing):
    """Named published backends (whose weights are absent here) fail on the capability, not a missing path."""
    env = ScriptedEnv(render_mode="rgb_array")
    with pytest.raises(CapabilityError, match=missing):
        vrg.wrap(env, model=model, form=form, instruction="t", **kwargs)


@pytest.mark.parametrize("flag, message", [("nan", "non-finite progress"), ("out_of_range", r"outside \[0.0, 1.0\]")])
def test_bad_model_output_raises(flag, message):
    env = vrg.wrap(ScriptedEnv(), model=FrameProbeModel(**{flag: True}), instruction="t")
    with pytest.raises(RewardOutputError, match=message):
        run_episode(env)


def test_a_failing_model_call_propagates():
    class Broken(FrameProbeModel):
        def _predict(self, query):
            raise ConnectionError("reward server down")

    with pytest.raises(ConnectionError, match="server down"):  # dense queries at reset already
        vrg.wrap(ScriptedEnv(), model=Broken(), instruction="t", every=2).reset(seed=0)
    env = vrg.wrap(ScriptedEnv(length=3), model=Broken(), form="episodic", instruction="t")
    env.reset(seed=0)
    env.step(np.zeros(1))  # no query before the episode ends
    env.step(np.zeros(1))
    with pytest.raises(ConnectionError, match="server down"):
        env.step(np.zeros(1))


def test_missing_oracle_protocol_keys():
    with pytest.raises(OracleProtocolError, match="oracle_progress"):
        run_episode(vrg.wrap(ScriptedEnv(oracle=False), model="oracle", instruction="t"))


def test_unknown_form_and_step_before_reset():
    with pytest.raises(ValueError, match="unknown reward form 'sparse'"):
        vrg.wrap(ScriptedEnv(), model="oracle", form="sparse", instruction="t")
    with pytest.raises(ResetNeeded):
        vrg.wrap(ScriptedEnv(), model="oracle", instruction="t").step(np.zeros(1))


@pytest.mark.parametrize("kwargs, message", [
    ({"every": 0}, "every"), ({"fill": "mean"}, "fill"), ({"relative": True, "fill": "zero"}, "fill must be 'hold'"),
    ({"success_threshold": 1.5}, "threshold")])
def test_bad_form_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vrg.wrap(ScriptedEnv(), model="oracle", instruction="t", **kwargs)


def test_stage_gated_relative_needs_hold_fill():
    with pytest.raises(ValueError, match="fill must be 'hold'"):
        vrg.wrap(ScriptedEnv(), model="oracle", form="stage_gated", stages=["a"], relative=True, fill="zero")


def test_query_validation_names_the_problem():
    frames = [np.zeros((2, 4, 4, 3), np.uint8)]
    with pytest.raises(RewardInputError, match="2 instructions"):
        vrg.RewardQuery(instructions=["a", "b"], want=Capability.PROGRESS, frames=frames)
    with pytest.raises(RewardInputError, match=r"oracle_progress\[0\] has shape"):
        vrg.RewardQuery(instructions=["a"], want=Capability.PROGRESS, frames=frames, oracle_progress=[np.zeros(3)])
    with pytest.raises(RewardInputError, match="needs frames"):
        FrameProbeModel()(vrg.RewardQuery(instructions=["a"], want=ALL, oracle_progress=[np.zeros(2)]))
    with pytest.raises(CapabilityError, match="compare"):
        FrameProbeModel(caps=Capability.PROGRESS)(vrg.RewardQuery(["a"], Capability.COMPARE, frames=frames))


def test_point_reach_env_passes_gymnasium_checker():
    from gymnasium.utils.env_checker import check_env
    check_env(gym.make("vlmreward/PointReach-v0", render_mode="rgb_array").unwrapped)


class RenderFailsOnce(ScriptedEnv):
    """``render()`` raises once, after ``fail_at`` steps."""

    def __init__(self, fail_at, **kwargs):
        super().__init__(**kwargs)
        self.fail_at, self.failed = fail_at, False

    def render(self):
        if self.t == self.fail_at and not self.failed:
            self.failed = True
            raise RuntimeError("renderer lost its context")
        return super().render()


def test_a_caught_render_error_keeps_the_episode_record_aligned():
    model = FrameProbeModel()
    env = vrg.wrap(RenderFailsOnce(fail_at=3, length=6), model=model, form="dense", instruction="t")
    env.reset(seed=0)
    for _ in range(2):
        env.step(np.zeros(1))
    with pytest.raises(RuntimeError, match="renderer"):
        env.step(np.zeros(1))
    for _ in range(3):  # the caller caught it and goes on: the failed step has no point, later ones are right
        _, reward, *_ = env.step(np.zeros(1))
    assert shown_steps(model.queries[-1]) == [[0, 1, 2, 4, 5, 6]] and reward == pytest.approx(6 / 20)


def test_frames_that_change_size_mid_episode_are_refused_clearly():
    class Grows(ScriptedEnv):
        def _frame(self):
            return np.full((8, 8, 3) if self.t >= 2 else self.frame_shape, self.t, np.uint8)

    with pytest.raises(RewardInputError, match=r"shape \(8, 8, 3\).*\(6, 6, 3\).*one size"):
        run_episode(vrg.wrap(Grows(length=5), model=FrameProbeModel(), form="dense", instruction="t"))


def trap_warnings(make_and_run):
    """The warnings about absolute per-step rewards that ``make_and_run()`` emits."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_and_run()
    return [str(w.message) for w in caught if w.category is UserWarning and "absolute value every step" in str(w.message)]


@pytest.mark.parametrize("form, kwargs, warns", [
    ("dense", {"terminate_on_success": True}, True), ("dense", {"terminate_on_success": True, "relative": True}, False),
    ("stage_gated", {"stages": ["a"]}, True), ("stage_gated", {"stages": ["a"], "relative": True}, False),
    ("stage_gated", {"stages": ["a"], "terminate_on_success": False}, False),
    ("contrastive", {"terminate_on_success": True}, False), ("episodic", {}, False)])
def test_absolute_per_step_reward_with_success_termination_warns(form, kwargs, warns):
    caught = trap_warnings(lambda: vrg.wrap(ScriptedEnv(), model="oracle", form=form, instruction="t", **kwargs))
    assert len(caught) == warns
    if warns:
        assert "terminate_on_success=True" in caught[0] and "relative=True" in caught[0]


@pytest.mark.parametrize("vector", [False, True])
@pytest.mark.parametrize("relative, success_step, warns", [(False, 3, True), (True, 3, False), (False, None, False)])
def test_absolute_reward_on_an_env_that_terminates_at_success_warns_once(vector, relative, success_step, warns):
    """The env's own termination at success (info["success"]) springs the same trap; a termination without
    success does not."""
    def make():
        return ScriptedEnv(length=3, success_step=success_step)

    def run():
        env = vrg.wrap(SyncVectorEnv([make, make]) if vector else make(), model="oracle", form="dense",
                       instruction="t", relative=relative)
        env.reset(seed=0)
        for _ in range(8):  # two episodes and more
            env.step(np.zeros((2, 1) if vector else 1, np.float32))

    caught = trap_warnings(run)
    assert len(caught) == warns
    if warns:
        assert "the env terminated at success" in caught[0]


def test_stage_gated_without_stages_says_how_to_pass_them():
    with pytest.raises(ValueError, match=r"stage_gated.*pass stages=\["):
        vrg.wrap(ScriptedEnv(), model="oracle", form="stage_gated", instruction="t")


@pytest.mark.parametrize("vector", [False, True])
def test_a_misspelt_form_option_names_the_close_match_and_the_options(vector):
    env = SyncVectorEnv([ScriptedEnv, ScriptedEnv]) if vector else ScriptedEnv()
    with pytest.raises(TypeError, match=r"(?s)'evry'.*dense reward form.*did you mean 'every'.*frame_stride.*scoring"):
        vrg.wrap(env, model="oracle", instruction="t", evry=5)


@pytest.mark.parametrize("model", ["noisy-oracle", "oracle"])
def test_model_options_passed_flat_point_to_model_kwargs(model):
    kwarg = {"noisy-oracle": {"mae": 0.5}, "oracle": {"tolerance": 0.01}}[model]
    with pytest.raises(TypeError, match=rf"{list(kwarg)[0]}.*reward model '{model}'.*model_kwargs={re.escape(str(kwarg))}"):
        vrg.wrap(ScriptedEnv(), model=model, instruction="t", **kwarg)
