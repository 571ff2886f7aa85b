"""The vector twins equal N single wrappers on the same seeds, in both autoreset modes."""

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import vlmreward_gym as vrg
from scripted import FrameProbeModel, ScriptedEnv, run_episode, shown_steps

N = 3
FORMS = [
    ("dense", {"every": 3}),
    ("dense", {"every": 2, "relative": True, "gamma": 0.9}),
    ("episodic", {"scale": "unit"}),
    ("contrastive", {"delta": 2, "every": 2}),
    ("stage_gated", {"stages": ["a", "b"], "patience": 1}),
]


def make_model():
    return FrameProbeModel(scale=20.0, success_value=6, num_frames=4)


def single_trace(form, kwargs, seed, episodes, frame_key):
    env = vrg.wrap(ScriptedEnv(length=5, vary=3, success_step=4), model=make_model(), form=form,
                   instruction="task", frame_key=frame_key, **kwargs)
    trace = []
    for e in range(episodes):
        trace += [(r, term, trunc) for r, term, trunc, _ in run_episode(env, seed=seed if e == 0 else None)]
    return trace


def vector_trace(form, kwargs, mode, steps, frame_key, model=None):
    venv = SyncVectorEnv([lambda: ScriptedEnv(length=5, vary=3, success_step=4) for _ in range(N)],
                         autoreset_mode=mode)
    model = model or make_model()
    venv = vrg.wrap(venv, model=model, form=form, instruction="task", frame_key=frame_key, **kwargs)
    venv.reset(seed=0)
    traces, starting, calls = [[] for _ in range(N)], np.zeros(N, bool), []
    for _ in range(steps):
        before = len(model.queries)
        _, r, term, trunc, info = venv.step(np.zeros((N, 1), np.float32))
        calls.append(len(model.queries) - before)
        for i in range(N):
            if not starting[i]:
                traces[i].append((r[i], term[i], trunc[i]))
        starting = (term | trunc) if mode == AutoresetMode.NEXT_STEP else np.zeros(N, bool)
    return traces, calls


@pytest.mark.parametrize("mode, frame_key", [(AutoresetMode.NEXT_STEP, None), (AutoresetMode.SAME_STEP, "rgb")])
@pytest.mark.parametrize("form, kwargs", FORMS)
def test_vector_twin_equals_single_wrappers(form, kwargs, mode, frame_key):
    traces, calls = vector_trace(form, kwargs, mode, steps=25, frame_key=frame_key)
    assert max(calls) == 1, "one batched model call per vector step"
    for i in range(N):
        expected = single_trace(form, kwargs, seed=i, episodes=6, frame_key=frame_key)
        got = traces[i]
        assert len(got) >= 12
        np.testing.assert_allclose([g[0] for g in got], [e[0] for e in expected[:len(got)]])
        assert [g[1:] for g in got] == [tuple(e[1:]) for e in expected[:len(got)]]


def test_vector_success_termination_resets_the_sub_env_next_step():
    kwargs = {"every": 1, "terminate_on_success": True}
    model = FrameProbeModel(scale=20.0, success_value=3)
    traces, _ = vector_trace("dense", kwargs, AutoresetMode.NEXT_STEP, steps=12, frame_key=None, model=model)
    for i in range(N):
        assert [t[1] for t in traces[i]] == [False, False, True] * 3
    # every episode after a detected success starts again from frame 0: nothing of the old one leaks
    starts = [s for q in model.queries for s in shown_steps(q) if len(s) == 1]
    assert starts and all(s == [0] for s in starts)


def test_vector_infos_keep_env_reward_and_reward_model_answers():
    venv = SyncVectorEnv([lambda: ScriptedEnv(length=4) for _ in range(2)])
    venv = vrg.wrap(venv, model="oracle", form="dense", instruction=["open", "close"], every=2)
    venv.reset(seed=0)
    _, r, _, _, info = venv.step(np.zeros((2, 1), np.float32))
    np.testing.assert_allclose(info["env_reward"], [11.0, 11.0])
    _, r, _, _, info = venv.step(np.zeros((2, 1), np.float32))
    np.testing.assert_allclose(r, [0.5, 0.5])
    assert info["reward_model"]["queried"].tolist() == [True, True]
    np.testing.assert_allclose(info["reward_model"]["progress"], [0.5, 0.5])


def test_same_step_mode_refuses_render_frames():
    venv = SyncVectorEnv([lambda: ScriptedEnv() for _ in range(2)], autoreset_mode=AutoresetMode.SAME_STEP)
    with pytest.raises(ValueError, match="frame_key"):
        vrg.wrap(venv, model=FrameProbeModel(), form="dense", instruction="task")


def test_disabled_mode_resets_only_masked_sub_envs():
    venv = SyncVectorEnv([lambda: ScriptedEnv(length=3) for _ in range(2)], autoreset_mode=AutoresetMode.DISABLED)
    model = FrameProbeModel()
    venv = vrg.wrap(venv, model=model, form="dense", instruction="task")
    venv.reset(seed=0)
    for _ in range(3):
        _, r, term, _, _ = venv.step(np.zeros((2, 1), np.float32))
    assert term.all()
    venv.reset(options={"reset_mask": np.array([True, False])})
    assert shown_steps(model.queries[-1]) == [[0]]


@pytest.mark.parametrize("mode, frame_key", [(AutoresetMode.NEXT_STEP, None), (AutoresetMode.SAME_STEP, "rgb")])
def test_success_termination_matches_single_wrappers(mode, frame_key):
    kwargs = {"every": 1, "terminate_on_success": True}
    traces, _ = vector_trace("dense", kwargs, mode, steps=20, frame_key=frame_key,
                             model=FrameProbeModel(scale=20.0, success_value=3))
    for i in range(N):
        env = vrg.wrap(ScriptedEnv(length=5, vary=3, success_step=4), model=FrameProbeModel(scale=20.0, success_value=3),
                       form="dense", instruction="task", frame_key=frame_key, **kwargs)
        expected = []
        for e in range(8):
            expected += [(r, term, trunc) for r, term, trunc, _ in run_episode(env, seed=i if e == 0 else None)]
        assert len(traces[i]) >= 10
        assert [tuple(t) for t in traces[i]] == [tuple(e) for e in expected[:len(traces[i])]]


@pytest.mark.parametrize("mode, frame_key", [(AutoresetMode.NEXT_STEP, None), (AutoresetMode.SAME_STEP, "rgb")])
def test_success_detected_at_a_time_out_terminates_like_the_single_wrapper(mode, frame_key):
    """The model detects success on the very step the env truncates: terminated=True in both, so PPO does
    not bootstrap past a step the reward model called a success."""
    kwargs = {"every": 1, "terminate_on_success": True}
    make_env = lambda: ScriptedEnv(length=4, truncate=True)  # noqa: E731
    single = run_episode(vrg.wrap(make_env(), model=FrameProbeModel(success_value=4), form="dense",
                                  instruction="task", frame_key=frame_key, **kwargs))
    assert [(term, trunc) for _, term, trunc, _ in single][-1] == (True, True)
    venv = vrg.wrap(SyncVectorEnv([make_env for _ in range(N)], autoreset_mode=mode),
                    model=FrameProbeModel(success_value=4), form="dense", instruction="task", frame_key=frame_key,
                    **kwargs)
    venv.reset(seed=0)
    ends = [venv.step(np.zeros((N, 1), np.float32))[2:4] for _ in range(4)]
    assert [(term.tolist(), trunc.tolist()) for term, trunc in ends] == [([False] * N, [False] * N)] * 3 + [
        ([True] * N, [True] * N)]
