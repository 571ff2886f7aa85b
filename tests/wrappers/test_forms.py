"""Single-env behaviour of the four reward forms on a scripted env with known frames and progress."""

import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

import vlmreward_gym as vrg
from scripted import FrameProbeModel, ScriptedEnv, run_episode, shown_steps
from vlmreward_gym.models.registry import register_reward_model, unregister_reward_model
from vlmreward_gym.types import subsample_indices
from vlmreward_gym.wrappers import ContrastiveReward, DenseReward, EpisodicReward, StageGatedReward


def rewards(steps):
    return [r for r, *_ in steps]


def test_dense_absolute_hold_queries_every_k_and_renders_only_those_frames():
    env, model = ScriptedEnv(length=12), FrameProbeModel(scale=20.0)
    wrapped = DenseReward(env, model, "task", every=5)
    steps = run_episode(wrapped)
    assert [shown_steps(q) for q in model.queries] == [[[0]], [[0, 5]], [[0, 5, 10]], [[0, 5, 10, 12]]]
    assert env.render_calls == 4
    expected = [0.0] * 4 + [0.25] * 5 + [0.5] * 2 + [0.6]
    np.testing.assert_allclose(rewards(steps), expected)
    assert [info["reward_model"]["queried"] for *_, info in steps] == [t % 5 == 0 or t == 12 for t in range(1, 13)]
    assert [info["env_reward"] for *_, info in steps] == [10.0 + t for t in range(1, 13)]
    assert steps[-1][1] is True and steps[-1][2] is False


@pytest.mark.parametrize("fill, between", [("zero", lambda t: 0.0), ("env", lambda t: 10.0 + t)])
def test_dense_fill_modes(fill, between):
    steps = run_episode(DenseReward(ScriptedEnv(length=6), FrameProbeModel(scale=20.0), "task", every=3, fill=fill))
    expected = [between(1), between(2), 0.15, between(4), between(5), 0.3]
    np.testing.assert_allclose(rewards(steps), expected)


def test_dense_relative_is_potential_based_and_telescopes():
    gamma = 0.9
    env = DenseReward(ScriptedEnv(length=7), FrameProbeModel(scale=10.0), "task", every=2, relative=True,
                      gamma=gamma)
    r = np.array(rewards(run_episode(env)))
    # potentials held between queries at t = 0, 2, 4, 6, 7: 0, .2, .4, .6, .7
    phi = np.array([0, 0, 0.2, 0.2, 0.4, 0.4, 0.6, 0.7])
    np.testing.assert_allclose(r, gamma * phi[1:] - phi[:-1])
    discounted = sum(gamma**t * r[t] for t in range(len(r)))
    assert discounted == pytest.approx(gamma**7 * 0.7 - 0.0)


@pytest.mark.parametrize("form, kwargs, shown", [
    ("dense", {"fill": "zero"}, [[[0]], [[0, 6]]]), ("dense", {"relative": True}, [[[0]], [[0, 6]]]),
    ("contrastive", {"delta": 2}, [[[0, 6]]]),
    ("stage_gated", {"stages": ["a"], "relative": True, "success_value": 6}, [[[0, 6]]])])
def test_every_none_queries_only_at_the_episode_end_as_a_period_longer_than_it_does(form, kwargs, shown):
    """``every=None``: no query within the episode (dense still asks at reset, for its potential), only on
    the last step, with the first and last frames; a huge ``every`` keeps meaning the same."""
    kwargs = dict(kwargs)
    model_kwargs = {"success_value": kwargs.pop("success_value", 1000)}
    runs = {}
    for every in (None, 1_000_000_000):
        env, model = ScriptedEnv(length=6), FrameProbeModel(**model_kwargs)
        steps = run_episode(vrg.wrap(env, model=model, form=form, instruction="task", every=every, **kwargs))
        runs[every] = [shown_steps(q) for q in model.queries], rewards(steps), env.render_calls, steps[-1][1]
        assert [info["reward_model"]["queried"] for *_, info in steps] == [False] * 5 + [True]
    assert runs[None] == runs[1_000_000_000] and runs[None][0] == shown and runs[None][2] == 2


@pytest.mark.parametrize("form, kwargs", [("dense", {}), ("contrastive", {}), ("stage_gated", {"stages": ["a"]})])
def test_every_must_be_positive_or_none(form, kwargs):
    with pytest.raises(ValueError, match="every must be >= 1"):
        vrg.wrap(ScriptedEnv(), model="oracle", form=form, instruction="t", every=0, **kwargs)


def test_the_one_subsample_keeps_first_and_last_and_the_last_frame_alone():
    assert subsample_indices(20, 8)[[0, -1]].tolist() == [0, 19] and len(subsample_indices(20, 8)) == 8
    assert subsample_indices(3, 8).tolist() == [0, 1, 2] == subsample_indices(3, None).tolist()
    assert subsample_indices(5, 1).tolist() == [4]  # the current state, as every backend is sent it
    with pytest.raises(ValueError, match="empty clip"):
        subsample_indices(0, 2)
    with pytest.raises(ValueError, match="count"):
        subsample_indices(5, 0)


def test_dense_subsamples_to_model_frame_count_keeping_first_and_last():
    model = FrameProbeModel(num_frames=3)
    run_episode(DenseReward(ScriptedEnv(length=9), model, "task", every=1))
    assert shown_steps(model.queries[-1]) == [[0, 4, 9]]
    assert all(len(q.frames[0]) <= 3 for q in model.queries)


def test_episodic_pays_only_on_the_last_step_with_each_scale():
    model = FrameProbeModel(scale=20.0, num_frames=4)
    steps = run_episode(EpisodicReward(ScriptedEnv(length=7), model, "task", scale="raw"))
    assert rewards(steps) == [0.0] * 6 + [pytest.approx(1 + 4 * 7 / 20)]
    assert len(model.queries) == 1 and shown_steps(model.queries[0]) == [[0, 2, 5, 7]]
    unit = run_episode(EpisodicReward(ScriptedEnv(length=7), FrameProbeModel(scale=20.0), "task"))  # the default
    assert rewards(unit)[-1] == pytest.approx(7 / 20)
    binary = [rewards(run_episode(EpisodicReward(ScriptedEnv(length=L), FrameProbeModel(scale=20.0), "task",
                                                 scale="binary", binary_threshold=3.0)))[-1] for L in (7, 10)]
    assert binary == [0.0, 1.0]


@pytest.mark.parametrize("form", ["episodic", "dense", "contrastive", "stage_gated"])
def test_the_zero_control_pays_nothing_by_default(form):
    """The "no reward" control of an ablation: the lowest answer on the default scale of every form is 0."""
    kwargs = {"stages": ["task"]} if form == "stage_gated" else {}
    steps = run_episode(vrg.wrap(ScriptedEnv(length=5), model="zero", form=form, instruction="task", **kwargs))
    assert rewards(steps) == [0.0] * 5


def test_episodic_frame_stride_renders_less_and_truncation_also_pays():
    env = ScriptedEnv(length=7, truncate=True)
    steps = run_episode(EpisodicReward(env, FrameProbeModel(scale=20.0), "task", frame_stride=3, scale="raw"))
    assert env.render_calls == 4  # t = 0, 3, 6 and the last step 7
    r, term, trunc, info = steps[-1]
    assert (term, trunc) == (False, True) and r == pytest.approx(1 + 4 * 7 / 20)
    assert info["reward_model"]["score"] == pytest.approx(r)


def test_contrastive_compares_against_delta_back_with_anchor():
    model = FrameProbeModel(uses_anchor=True)
    steps = run_episode(ContrastiveReward(ScriptedEnv(length=5), model, "task", delta=2, every=2))
    assert [shown_steps(q)[0] for q in model.queries] == [[0, 0, 2], [0, 2, 4], [0, 2, 5]]  # t=3 is not recorded: latest before it
    assert rewards(steps) == [0.0, 1.0, 0.0, 1.0, 1.0]


def test_contrastive_sign_rounds_value_passes_through():
    sign = run_episode(ContrastiveReward(ScriptedEnv(length=3), FrameProbeModel(compare_scale=0.4), "task"))
    value = run_episode(ContrastiveReward(ScriptedEnv(length=3), FrameProbeModel(compare_scale=0.8), "task",
                                          output="value"))
    assert rewards(sign) == [0.0, 0.0, 0.0]
    assert rewards(value) == pytest.approx([0.8, 0.8, 0.8])


def test_stage_gated_advances_with_patience_and_terminates_on_final_success():
    model = FrameProbeModel(scale=20.0, success_value=3)
    env = StageGatedReward(ScriptedEnv(length=20), model, stages=["reach", "grasp"], threshold=0.65, patience=2)
    steps = run_episode(env)
    assert len(steps) == 6 and steps[-1][1] is True  # ended by detected success, not the env
    assert [q.instructions[0] for q in model.queries] == ["reach"] * 4 + ["grasp"] * 2
    assert shown_steps(model.queries[4]) == [[4, 5]]  # the second stage's clip starts where it began
    np.testing.assert_allclose(rewards(steps), [1 / 40, 2 / 40, 3 / 40, 0.5, (1 + 5 / 20) / 2, 1.0])
    assert [info["reward_model"]["stage"] for *_, info in steps] == [0, 0, 0, 1, 1, 2]


def test_stage_gated_relative_pays_the_change_and_telescopes():
    """Same run as above in relative mode: each step pays gamma * value_new - value_old of the absolute
    form's values, so the discounted return is gamma**T times the final value (1.0 at final success)."""
    gamma = 0.9
    model = FrameProbeModel(scale=20.0, success_value=3)
    env = StageGatedReward(ScriptedEnv(length=20), model, stages=["reach", "grasp"], threshold=0.65, patience=2,
                           relative=True, gamma=gamma)
    r = np.array(rewards(run_episode(env)))
    value = np.array([0.0, 1 / 40, 2 / 40, 3 / 40, 0.5, (1 + 5 / 20) / 2, 1.0])
    np.testing.assert_allclose(r, gamma * value[1:] - value[:-1])
    assert sum(gamma**t * x for t, x in enumerate(r)) == pytest.approx(gamma**6 * 1.0)
    # between queries the potential is held: (gamma - 1) * value
    held = np.array(rewards(run_episode(StageGatedReward(ScriptedEnv(length=4), FrameProbeModel(scale=20.0),
                                                         stages=["a"], every=2, relative=True, gamma=gamma))))
    np.testing.assert_allclose(held, [(gamma - 1) * 0.0, gamma * 2 / 20, (gamma - 1) * 2 / 20, gamma * 4 / 20 - 2 / 20])


def test_success_termination_in_dense_form():
    steps = run_episode(DenseReward(ScriptedEnv(length=10), FrameProbeModel(success_value=4), "task", every=2,
                                    terminate_on_success=True))
    assert len(steps) == 4 and steps[-1][1] is True and steps[-1][3]["reward_model"]["success"]


@pytest.mark.parametrize("form, kwargs", [("dense", {}), ("contrastive", {}), ("stage_gated", {"stages": ["a"]})])
@pytest.mark.parametrize("every, patience, ends_at", [(3, 1, 3), (1, 2, 2)])
def test_success_detection_counts_only_answers_after_actions(form, kwargs, every, patience, ends_at):
    """Success shows from the first frame on: every form ends the episode on its first ``patience`` queries
    after actions; the dense form's reset-time answer (its potential) does not count toward detection."""
    model = FrameProbeModel(success_value=0)
    options = {"threshold": 0.5, "patience": patience} if form == "stage_gated" else {
        "terminate_on_success": True, "success_patience": patience}
    steps = run_episode(vrg.wrap(ScriptedEnv(length=10), model=model, form=form, instruction="task", every=every,
                                 **options, **kwargs))
    assert len(steps) == ends_at and steps[-1][1] is True


def test_nothing_leaks_across_reset():
    env, model = ScriptedEnv(length=6), FrameProbeModel()
    wrapped = DenseReward(env, model, "task", every=3)
    first, second = run_episode(wrapped), run_episode(wrapped)
    assert rewards(first) == rewards(second)
    assert [shown_steps(q) for q in model.queries[3:]] == [[[0]], [[0, 3]], [[0, 3, 6]]]


def test_frames_from_an_observation_key_render_nothing():
    env = ScriptedEnv(length=4, render_mode=None)
    model = FrameProbeModel()
    run_episode(DenseReward(env, model, "task", frame_key="rgb"))
    assert env.render_calls == 0 and shown_steps(model.queries[-1]) == [[0, 1, 2, 3, 4]]


@pytest.mark.parametrize("form, kwargs", [("dense", {}), ("episodic", {}), ("contrastive", {}),
                                          ("stage_gated", {"stages": ["a"]})])
def test_control_models_render_nothing(form, kwargs):
    for name in ("zero", "oracle"):
        env = ScriptedEnv(length=5, success_step=5)
        run_episode(vrg.wrap(env, model=name, form=form, instruction="task", **kwargs))
        assert env.render_calls == 0


def test_wrap_on_point_reach_oracle_dense_rises_to_success():
    import gymnasium as gym
    env = vrg.wrap(gym.make("vlmreward/PointReach-v0"), model="oracle", form="dense", instruction="reach", every=5)
    obs, _ = env.reset(seed=3)
    progress = []
    for _ in range(50):
        obs, r, term, trunc, info = env.step(np.clip((obs[2:] - obs[:2]) * 10, -1, 1))
        progress.append(info["oracle_progress"])
        if term or trunc:
            break
    assert term and info["success"] and r == 1.0
    assert np.all(np.diff(progress) >= 0)


class ClosingProbe(FrameProbeModel):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.closes = 0

    def close(self):
        self.closes += 1


@pytest.fixture
def made_by_name():
    """The models the registry builds for the name ``closing-probe``."""
    made = []
    register_reward_model("closing-probe", lambda **kwargs: made.append(ClosingProbe(**kwargs)) or made[-1])
    yield made
    unregister_reward_model("closing-probe")


@pytest.mark.parametrize("vector", [False, True])
def test_a_model_built_from_a_name_is_closed_with_the_wrapper(made_by_name, vector):
    """The wrapper owns (and closes, once) a model it built; a model passed in is the caller's to close."""
    make_env = (lambda: SyncVectorEnv([ScriptedEnv, ScriptedEnv])) if vector else ScriptedEnv
    given = ClosingProbe()
    by_name = vrg.wrap(make_env(), model="closing-probe", model_kwargs={"scale": 10.0}, instruction="t")
    by_object = vrg.wrap(make_env(), model=given, instruction="t")
    by_name.close()
    by_name.close()
    by_object.close()
    assert [m.closes for m in made_by_name] == [1] and given.closes == 0
