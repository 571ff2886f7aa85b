"""Async and deferred scoring: late rewards arrive as relabels that reproduce the sync rewards exactly."""

import threading
import time

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import vlmreward_gym as vrg
from scripted import FrameProbeModel, ScriptedEnv, run_episode
from vlmreward_gym.wrappers.scoring import RewardDeliveryError

FORMS = [("dense", {"every": 2}), ("dense", {"every": 1, "relative": True, "gamma": 0.9}),
         ("episodic", {}), ("contrastive", {"delta": 2, "every": 2})]


class SlowProbe(FrameProbeModel):
    """Answers like the probe, after ``delay`` seconds, from a worker thread; counts calls."""

    def __init__(self, delay=0.01, fail_after=None, **kwargs):
        super().__init__(scale=20.0, **kwargs)
        self.delay, self.fail_after, self.calls, self.threads = delay, fail_after, 0, set()

    def _predict(self, query):
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if self.fail_after is not None and self.calls > self.fail_after:
            raise ConnectionError("GPU worker lost")
        return super()._predict(query)


class GatedProbe(FrameProbeModel):
    """Answers like the probe once ``gate`` is set (so every answer of a run comes late); a query whose
    clip ends at step ``fail_at`` fails."""

    def __init__(self, fail_at):
        super().__init__(scale=20.0)
        self.gate, self.fail_at = threading.Event(), fail_at

    def _predict(self, query):
        self.gate.wait(timeout=60)  # a guard against a hang, not a timing: the test sets the gate
        if any(clip[-1, 0, 0, 0] == self.fail_at for clip in query.frames):
            raise ConnectionError("GPU worker lost")
        return super()._predict(query)


def relabelled(venv, steps, n):
    """Run ``steps`` vector steps; return {(env, k): reward of the env's k-th step} after applying relabels,
    which find their pending step by the ``(env, episode, step)`` ids of its info."""
    venv.reset(seed=0)
    rewards, pending, taken, pending_seen = {}, {}, np.zeros(n, int), 0

    def apply(relabels):
        for late in relabels:
            rewards[pending.pop((late.env, late.episode, late.step))] = late.reward

    for _ in range(steps):
        _, r, _, _, info = venv.step(np.zeros((n, 1), np.float32))
        rm = info["reward_model"]
        for i in np.flatnonzero(rm["step"] > 0):  # not a reset step
            rewards[(i, taken[i])] = r[i]
            assert np.isnan(r[i]) == bool(rm["pending"][i])
            if rm["pending"][i]:
                pending[(i, int(rm["episode"][i]), int(rm["step"][i]))] = (i, taken[i])
                pending_seen += 1
            taken[i] += 1
        apply(venv.pop_relabels())
    apply(venv.flush())
    assert not pending, "every pending step gets its relabel"
    return rewards, pending_seen


def make_venv(n, model, form, kwargs, scoring, **options):
    envs = SyncVectorEnv([lambda: ScriptedEnv(length=5, vary=3) for _ in range(n)], autoreset_mode=AutoresetMode.NEXT_STEP)
    return vrg.wrap(envs, model=model, form=form, instruction="task", scoring=scoring,
                    scoring_options=options or None, **kwargs)


@pytest.mark.parametrize("form, kwargs", FORMS)
@pytest.mark.parametrize("scoring, options", [("async", {"workers": 2, "max_pending": 4}), ("deferred", {"max_batch": 7})])
def test_late_rewards_equal_sync_rewards(form, kwargs, scoring, options):
    sync, _ = relabelled(make_venv(3, SlowProbe(delay=0), form, kwargs, "sync"), 20, 3)
    model = SlowProbe(delay=0.002)
    late, pending = relabelled(make_venv(3, model, form, kwargs, scoring, **options), 20, 3)
    assert pending > 0, "some answers must have come late"
    assert late.keys() == sync.keys()
    assert not any(np.isnan(v) for v in late.values())
    np.testing.assert_allclose([late[k] for k in sorted(sync)], [sync[k] for k in sorted(sync)])
    if scoring == "async":
        assert any(name.startswith("vlmreward-scoring") for name in model.threads)


def test_deferred_batches_clips_into_few_calls():
    model = SlowProbe(delay=0)
    venv = make_venv(4, model, "dense", {"every": 1}, "deferred", max_batch=64)
    relabelled(venv, 30, 4)
    clips = 4 * 30
    assert model.calls <= -(-clips // 64) + 1


def test_single_env_async_returns_nan_then_relabels():
    env = vrg.wrap(ScriptedEnv(length=6), model=SlowProbe(delay=0.05), form="dense", instruction="task", every=3,
                   scoring="async")
    steps = run_episode(env)
    pending = [info["reward_model"]["pending"] for *_, info in steps]
    assert any(pending)
    assert all(np.isnan(r) == p for (r, *_), p in zip(steps, pending))
    late = {(x.episode, x.step): x.reward for x in env.pop_relabels() + env.flush()}
    sync = run_episode(vrg.wrap(ScriptedEnv(length=6), model=SlowProbe(delay=0), form="dense", instruction="task",
                                every=3))
    got = [late[(info["reward_model"]["episode"], info["reward_model"]["step"])] if info["reward_model"]["pending"]
           else r for r, *_, info in steps]
    np.testing.assert_allclose(got, [r for r, *_ in sync])
    env.close()


def test_a_failed_late_query_is_reported_with_its_step():
    env = vrg.wrap(ScriptedEnv(length=8), model=SlowProbe(delay=0, fail_after=0), form="dense", instruction="task",
                   every=2, scoring="deferred")
    run_episode(env)
    with pytest.raises(RewardDeliveryError, match=r"env 0, episode 1, step \d+ failed: ConnectionError"):
        env.flush()


def test_a_failed_late_query_does_not_drop_the_rewards_that_arrived():
    """Episode 1 of both sub-envs fails at step 4 (and steps 5-8 cannot be paid without it); every other
    reward is delivered: steps 1-3 and the next episode's, and the error names every step left without one."""
    model = GatedProbe(fail_at=4)
    venv = SyncVectorEnv([lambda: ScriptedEnv(length=8) for _ in range(2)])
    venv = vrg.wrap(venv, model=model, form="dense", instruction="task", every=2, scoring="async",
                    scoring_options={"max_pending": 16})
    venv.reset(seed=0)
    for _ in range(12):  # episode 1: 8 steps, the reset step, episode 2: 3 steps
        _, r, _, _, info = venv.step(np.zeros((2, 1), np.float32))
        assert np.isnan(r).all() or (info["reward_model"]["step"] == 0).all()
    model.gate.set()
    pattern = (r"(?s)env 0, episode 1, step 4 failed: ConnectionError.*env 1, episode 1, step 4 failed.*"
               r"env 0, episode 1, steps 5-8.*env 1, episode 1, steps 5-8")
    with pytest.raises(RewardDeliveryError, match=pattern):
        venv.flush()
    sync = [r for r, *_ in run_episode(vrg.wrap(ScriptedEnv(length=8), model=FrameProbeModel(scale=20.0),
                                                form="dense", instruction="task", every=2))]
    late = {(x.env, x.episode, x.step): x.reward for x in venv.pop_relabels()}
    assert late == {(i, e, t): sync[t - 1] for i in range(2) for e, steps in ((1, (1, 2, 3)), (2, (1, 2, 3)))
                    for t in steps}
    venv.close()


@pytest.mark.parametrize("scoring", ["async", "deferred"])
def test_close_with_rewards_pending_warns_and_names_failures(scoring):
    model = GatedProbe(fail_at=4)
    env = vrg.wrap(ScriptedEnv(length=6), model=model, form="dense", instruction="task", every=2, scoring=scoring)
    run_episode(env)
    model.gate.set()
    message = (r"6 rewards.*: 3 arrived.*step 4 failed: ConnectionError.*steps 5-6.*Call flush\(\)"
               if scoring == "async" else r"6 rewards.*: 6 were never answered.*Call flush\(\)")
    with pytest.warns(RuntimeWarning, match=message):
        env.close()


@pytest.mark.parametrize("scoring", ["async", "deferred"])
@pytest.mark.parametrize("form, kwargs, reason", [
    ("stage_gated", {"stages": ["a"]}, "stage"), ("stage_gated", {"stages": ["a", "b"], "terminate_on_success": False}, "stage"),
    ("dense", {"terminate_on_success": True}, "terminate_on_success"),
    ("contrastive", {"terminate_on_success": True}, "terminate_on_success")])
def test_forms_that_need_answers_at_once_refuse_late_scoring(form, kwargs, reason, scoring):
    """A stage gate picks the next query's instruction from the last answer, with or without success
    termination: late answers would ask the wrong stages, so it is refused."""
    with pytest.raises(ValueError, match=f"(?s){reason}.*use scoring='sync'"):
        vrg.wrap(ScriptedEnv(), model="oracle", form=form, instruction="t", scoring=scoring, **kwargs)


def test_unknown_scoring_mode():
    with pytest.raises(ValueError, match="scoring must be one of"):
        vrg.wrap(ScriptedEnv(), model="oracle", instruction="t", scoring="later")
