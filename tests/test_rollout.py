"""Rollouts: reward stops at termination, lengths count live steps, blow-ups stay visible."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from retland.rollout import chunked, make_batched_rollout, pad_to


class S(NamedTuple):
    obs: jax.Array
    reward: jax.Array
    done: jax.Array


class LineEnv:
    """x_{t+1} = x_t + a, reward a, terminates once x > 5."""

    @staticmethod
    def obs(s):
        return s.obs

    @staticmethod
    def reward(s):
        return s.reward

    @staticmethod
    def done(s):
        return s.done

    @staticmethod
    def step(s, a):
        x = s.obs + a
        return S(x, a[0], (x[0] > 5.0).astype(jnp.float32))


def const_policy(w, obs):
    return jnp.reshape(w, (1,))


START = S(jnp.zeros(1), jnp.zeros(()), jnp.zeros(()))


def test_reward_stops_accumulating_at_termination():
    roll = make_batched_rollout(LineEnv(), const_policy, horizon=10)
    ret, length = roll(jnp.array([1.0, 0.1, 2.0]), START)
    # w=1: x = 1..6, terminates at step 6 (x=6>5) -> 6 rewards of 1; w=0.1 never terminates in 10
    # steps -> 10 * 0.1; w=2: x=2,4,6 -> terminates at step 3 -> 3 rewards of 2.
    np.testing.assert_allclose(np.asarray(ret), [6.0, 1.0, 6.0], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(length), [6, 10, 3])


def test_nonfinite_return_is_not_hidden():
    roll = make_batched_rollout(LineEnv(), const_policy, horizon=5)
    ret, _ = roll(jnp.array([jnp.nan, 0.5]), START)
    assert np.isnan(np.asarray(ret)[0]) and np.asarray(ret)[1] == pytest.approx(2.5)


def test_record_rewards_and_chunks():
    roll = make_batched_rollout(LineEnv(), const_policy, horizon=4, record_rewards=True)
    _, _, rewards = roll(jnp.array([2.0]), START)
    np.testing.assert_allclose(np.asarray(rewards)[0], [2.0, 2.0, 2.0, 0.0])
    assert list(chunked(5, 2)) == [(0, 2), (2, 4), (4, 5)]
    with pytest.raises(ValueError, match="chunk"):
        list(chunked(5, 0))
    x = pad_to(jnp.arange(3.0), 5)
    np.testing.assert_array_equal(np.asarray(x), [0, 1, 2, 2, 2])


def test_early_exit_rollout_equals_masked_scan_on_brax(jax_cache):
    """The return-only rollout stops stepping at termination; it must give exactly the
    returns and lengths of the full-horizon masked scan (record_rewards=True) on a real
    Brax task, for a batch whose episodes end at different times."""
    from retland.base.envs import make_env

    env = make_env("hopper", "spring", episode_length=1000)

    def policy(w, obs):
        return jnp.tanh(w @ obs)

    ws = 0.3 * jax.random.normal(jax.random.PRNGKey(0), (6, env.spec.act_dim, env.spec.obs_dim))
    start = env.reference_state()
    fast = make_batched_rollout(env, policy, horizon=300)
    full = make_batched_rollout(env, policy, horizon=300, record_rewards=True)
    r1, l1 = fast(ws, start)
    r2, l2, rewards = full(ws, start)
    np.testing.assert_array_equal(np.asarray(l1), np.asarray(l2))
    np.testing.assert_allclose(np.asarray(r1), np.asarray(r2), rtol=1e-6, atol=1e-5)
    assert len(set(np.asarray(l1).tolist())) > 1, "the batch should end at different times"
    np.testing.assert_allclose(np.asarray(rewards).sum(1), np.asarray(r2), rtol=1e-5, atol=1e-4)
