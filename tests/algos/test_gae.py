"""GAE against hand computations: terminated vs bootstrapped time-outs, and a sparse last-step reward."""

import numpy as np
import pytest

from vlmreward_rl.algos.common.gae import compute_gae

G, L = 0.9, 0.8  # gamma, lambda; gamma * lambda = 0.72


def column(*xs):
    return np.array(xs, np.float64)[:, None]


def test_terminated_vs_truncated_bootstrap():
    # Two envs with the same 3-step episode; env 0 terminates, env 1 times out in a state worth 10.
    rewards = np.array([[1, 1], [2, 2], [3, 3]], np.float64)
    values = np.array([[0.5, 0.5], [0.4, 0.4], [0.3, 0.3]])
    next_values = np.array([[0.4, 0.4], [0.3, 0.3], [10.0, 10.0]])
    terminated = np.array([[0, 0], [0, 0], [1, 0]], bool)
    truncated = np.array([[0, 0], [0, 0], [0, 1]], bool)
    adv, ret = compute_gae(rewards, values, next_values, terminated, truncated, G, L)
    # env 0: d2 = 3 - .3 = 2.7; d1 = 2 + .9*.3 - .4 = 1.87; d0 = 1 + .9*.4 - .5 = .86
    #        A2 = 2.7; A1 = 1.87 + .72*2.7 = 3.814; A0 = .86 + .72*3.814 = 3.60608
    # env 1: d2 = 3 + .9*10 - .3 = 11.7; A1 = 1.87 + .72*11.7 = 10.294; A0 = .86 + .72*10.294 = 8.27168
    np.testing.assert_allclose(adv[:, 0], [3.60608, 3.814, 2.7])
    np.testing.assert_allclose(adv[:, 1], [8.27168, 10.294, 11.7])
    np.testing.assert_allclose(ret, adv + values)


def test_episode_boundary_cuts_the_recursion():
    # Time-out after step 1 (final state worth 2); step 2 belongs to the next episode and pays 5.
    adv, _ = compute_gae(column(0, 0, 5), column(1, 1, 1), column(1, 2, 1), column(0, 0, 0).astype(bool),
                         column(0, 1, 0).astype(bool), G, L)
    # d2 = 5 + .9 - 1 = 4.9; d1 = .9*2 - 1 = .8 (no A2 after the boundary); d0 = -.1, A0 = -.1 + .72*.8
    np.testing.assert_allclose(adv[:, 0], [0.476, 0.8, 4.9])


@pytest.mark.parametrize("end", ["terminated", "truncated"])
def test_sparse_last_step_reward_episodic(end):
    # An episodic score of 1 paid on the last of 4 steps; the critic says 0.2 everywhere and 0.9 after the end.
    values, next_values = column(0.2, 0.2, 0.2, 0.2), column(0.2, 0.2, 0.2, 0.9)
    last = column(0, 0, 0, 1).astype(bool)
    kwargs = {"terminated": last, "truncated": ~last & False} if end == "terminated" else \
        {"terminated": ~last & False, "truncated": last}
    adv, ret = compute_gae(column(0, 0, 0, 1), values, next_values, gamma=G, lam=L, bootstrap_truncated=False,
                           **kwargs)
    # d3 = 1 - .2 = .8; d0..d2 = .9*.2 - .2 = -.02
    # A3 = .8; A2 = -.02 + .72*.8 = .556; A1 = -.02 + .72*.556 = .38032; A0 = -.02 + .72*.38032 = .2538304
    np.testing.assert_allclose(adv[:, 0], [0.2538304, 0.38032, 0.556, 0.8])
    np.testing.assert_allclose(ret[:, 0], [0.4538304, 0.58032, 0.756, 1.0])
    # lambda = 1 gives the discounted Monte-Carlo return of the single last-step reward: gamma**(3 - t).
    _, mc = compute_gae(column(0, 0, 0, 1), values, next_values, gamma=G, lam=1.0, bootstrap_truncated=False,
                        **kwargs)
    np.testing.assert_allclose(mc[:, 0], [0.729, 0.81, 0.9, 1.0])


def test_episodic_time_out_is_bootstrapped_only_when_asked():
    last = column(0, 1).astype(bool)
    args = (column(0, 1), column(0, 0), column(0, 0.7), last & False, last)
    with_bootstrap, _ = compute_gae(*args, gamma=G, lam=L, bootstrap_truncated=True)
    without, _ = compute_gae(*args, gamma=G, lam=L, bootstrap_truncated=False)
    np.testing.assert_allclose(with_bootstrap[:, 0], [0.72 * 1.63, 1.63])  # 1 + .9*.7
    np.testing.assert_allclose(without[:, 0], [0.72, 1.0])


def test_termination_is_bootstrapped_only_when_asked():
    # A success that ends the episode on step 1 in a state the critic values at 4 (ManiSkill's convention).
    last = column(0, 1).astype(bool)
    args = (column(0.5, 1.0), column(0, 0), column(0, 4.0), last, last & False)
    cut, _ = compute_gae(*args, gamma=G, lam=L)
    kept, _ = compute_gae(*args, gamma=G, lam=L, bootstrap_terminated=True)
    np.testing.assert_allclose(cut[:, 0], [0.5 + 0.72 * 1.0, 1.0])
    np.testing.assert_allclose(kept[:, 0], [0.5 + 0.72 * 4.6, 4.6])  # 1 + .9*4
    # The next episode's first step still sees none of it.
    two = compute_gae(column(1.0, 2.0), column(0, 0), column(4.0, 0), column(1, 0).astype(bool),
                      column(0, 0).astype(bool), G, L, bootstrap_terminated=True)[0]
    np.testing.assert_allclose(two[:, 0], [4.6, 2.0])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        compute_gae(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 1)), np.zeros((3, 2), bool),
                    np.zeros((3, 2), bool), G, L)
