"""Data policies' rollouts for the reward-model recipes: the per-step actor over a chunk policy, and the
``policy`` demo kind (Robomimic)."""

from __future__ import annotations

import numpy as np
import pytest

from vlmreward_rl.recipes.policy_rollouts import ChunkActor


class CountingPolicy:
    """A chunk policy whose k-th decode returns chunks filled with k + noise[0, 0, 0] (so calls are countable)."""

    noise_shape = (3, 2)

    def __init__(self):
        self.calls, self.noises = 0, []

    def sample(self, obs, noise):
        assert obs.shape == (1, 4) and noise.shape == (1, 3, 2) and noise.dtype == np.float32
        self.calls += 1
        self.noises.append(noise)
        return np.full((1, 3, 2), 0.1 * self.calls, np.float32)


def test_chunk_actor_decodes_a_chunk_every_chunk_size_steps_and_restarts_on_reset():
    policy = CountingPolicy()
    actor = ChunkActor(policy, np.random.default_rng(0), noise_scale=2.0)
    actions = [actor(np.zeros(4)) for _ in range(7)]
    assert policy.calls == 3  # steps 0-2, 3-5, 6
    np.testing.assert_allclose([a[0] for a in actions], [0.1] * 3 + [0.2] * 3 + [0.3])
    actor.reset()  # a new episode starts a new chunk
    actor(np.zeros(4))
    assert policy.calls == 4
    assert np.std(np.concatenate(policy.noises)) > 1.2  # noise_scale 2 widens N(0, I)


def test_chunk_actor_clips_to_the_action_box():
    class Wild(CountingPolicy):
        def sample(self, obs, noise):
            return np.full((1, 3, 2), 5.0, np.float32)

    assert np.all(ChunkActor(Wild(), np.random.default_rng(0))(np.zeros(4)) == 1.0)


def test_policy_kind_needs_an_act_function_and_runs_to_the_horizon():
    pytest.importorskip("robosuite", reason="needs the robomimic extra (bash scripts/install_robomimic.sh VENV)")
    from vlmreward_rl.envs.robomimic import RobomimicEnv
    from vlmreward_rl.envs.robomimic_demos import rollout

    env = RobomimicEnv("Lift", horizon=7)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="with an act function"):
        rollout(env, "policy", 0, frame_stride=2, noise=0.0, rng=rng, render=False)
    seen = []
    traj = rollout(env, "policy", 0, frame_stride=2, noise=0.0, rng=rng, render=False,
                   act=lambda obs: seen.append(obs.copy()) or np.zeros(7, np.float32))
    env.close()
    assert traj.kind == "policy" and traj.num_steps == 7 and len(seen) == 7
    np.testing.assert_allclose(traj.obs[:7], np.stack(seen))  # act sees each state before its action
    assert not traj.success[-1]


def test_chunk_actor_decodes_the_noise_its_noise_function_gives_for_the_state():
    """A DSRL actor's rollouts: the noise comes from ``noise(obs)`` (the actor's), not from N(0, I)."""
    policy, seen = CountingPolicy(), []

    def noise(obs):
        seen.append(obs.copy())
        return np.full((1, 6), 7.0, np.float32)  # flat, as a DSRL agent's act returns it

    actor = ChunkActor(policy, np.random.default_rng(0), noise=noise)
    actor(np.arange(4.0))
    assert len(seen) == 1 and seen[0].shape == (1, 4) and seen[0][0, 3] == 3.0
    np.testing.assert_array_equal(policy.noises[0], np.full((1, 3, 2), 7.0, np.float32))
