"""TD3 (Table 1) and its post-update step u(theta, X): what changes and what must not."""

import dataclasses
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from retland.agents import get_agent, td3
from retland.base.replay import Transition, sample_batch

OBS, ACT = 5, 2
ENV = SimpleNamespace(spec=SimpleNamespace(obs_dim=OBS, act_dim=ACT))  # what post_update reads


def tree_equal(a, b):
    return all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def make_replay(n, key=0):
    k = jax.random.split(jax.random.PRNGKey(key), 3)
    return Transition(
        jax.random.normal(k[0], (n, OBS)),
        jax.random.uniform(k[1], (n, ACT), minval=-1, maxval=1),
        jnp.arange(n, dtype=jnp.float32),  # reward = row index, to check which rows were sampled
        jax.random.normal(k[2], (n, OBS)),
        jnp.zeros(n),
    )


@pytest.fixture(scope="module")
def setup():
    cfg = td3.TD3Config(hidden=(32, 32), batch_size=16)
    state = td3.init(jax.random.PRNGKey(0), OBS, ACT, cfg)
    replay = make_replay(200)
    # move the state away from initialisation so the Adam moments are non-trivial
    for i in range(3):
        state = td3.update(state, replay, 0, 200, jax.random.PRNGKey(10 + i), True, cfg, ACT)
    return cfg, state, replay


def test_table1_defaults():
    c = td3.TD3Config()
    assert c.hidden == (256, 256) and c.batch_size == 256
    assert c.learning_rate == 3e-4 and c.adam_b1 == 0.9 and c.adam_b2 == 0.999 and c.adam_eps == 1.5e-4
    assert c.discount == 0.99 and c.tau == pytest.approx(1 - 0.995)
    assert (c.exploration_noise, c.policy_noise, c.noise_clip, c.policy_delay) == (0.1, 0.2, 0.5, 2)
    assert c.buffer_size == 10**6 and c.learning_starts == 10**4
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.batch_size = 1
    assert get_agent("td3") is td3


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown TD3 hyperparameter"):
        td3.TD3Config.from_dict({"lr": 1.0})
    assert td3.TD3Config.from_dict({"hidden": [8, 8]}).hidden == (8, 8)


def test_actor_step_changes_only_actor_and_its_optimizer(setup):
    cfg, state, replay = setup
    batch = sample_batch(replay, jax.random.PRNGKey(1), 0, 200, cfg.batch_size)
    new = td3.actor_step(state, batch, cfg, ACT)
    assert not tree_equal(new.actor, state.actor)
    assert not tree_equal(new.actor_opt, state.actor_opt)
    for f in ("critic", "actor_target", "critic_target", "critic_opt"):
        assert tree_equal(getattr(new, f), getattr(state, f)), f


def test_post_update_is_one_adam_step_continuing_the_checkpoint_optimizer(setup):
    cfg, state, replay = setup
    import optax

    key = jax.random.PRNGKey(3)
    theta = td3.post_update(state, key, replay, 0, 200, cfg, ENV)
    batch = sample_batch(replay, key, 0, 200, cfg.batch_size)
    actor_net = td3.DeterministicActor(cfg.hidden, ACT)
    critic_net = td3.TwinCritic(cfg.hidden)
    g = jax.grad(td3._actor_loss)(state.actor, state.critic, batch.obs, actor_net.apply, critic_net.apply)
    tx = optax.adam(3e-4, b1=0.9, b2=0.999, eps=1.5e-4)
    upd, _ = tx.update(g, state.actor_opt, state.actor)
    expected = optax.apply_updates(state.actor, upd)
    for a, b in zip(jax.tree_util.tree_leaves(theta), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    # a fresh Adam state would give a different step (the checkpoint's moments matter)
    upd0, _ = tx.update(g, tx.init(state.actor), state.actor)
    fresh = optax.apply_updates(state.actor, upd0)
    assert not tree_equal(fresh, theta)


def test_post_update_samples_differ_and_fixed_key_reproduces(setup):
    cfg, state, replay = setup
    keys = jax.random.split(jax.random.PRNGKey(7), 4)
    u = jax.vmap(lambda k: td3.post_update(state, k, replay, 0, 200, cfg, ENV))
    thetas = u(keys)
    w = np.asarray(jax.tree_util.tree_leaves(thetas)[0]).reshape(4, -1)
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.array_equal(w[i], w[j])
    again = np.asarray(jax.tree_util.tree_leaves(u(keys))[0]).reshape(4, -1)
    np.testing.assert_array_equal(w, again)


def test_minibatch_comes_from_the_buffer_window():
    replay = make_replay(1000)
    b = sample_batch(replay, jax.random.PRNGKey(0), 300, 400, 4096)
    r = np.asarray(b.reward)
    assert r.min() >= 300 and r.max() < 400 and len(np.unique(r)) > 90


def test_update_delays_actor_and_targets(setup):
    cfg, state, replay = setup
    key = jax.random.PRNGKey(5)
    no = td3.update(state, replay, 0, 200, key, False, cfg, ACT)
    assert tree_equal(no.actor, state.actor) and tree_equal(no.actor_target, state.actor_target)
    assert tree_equal(no.critic_target, state.critic_target)
    assert not tree_equal(no.critic, state.critic)
    yes = td3.update(state, replay, 0, 200, key, True, cfg, ACT)
    assert not tree_equal(yes.actor, state.actor)
    # targets: Polyak averaging with coefficient 0.995 towards the new online networks
    t0 = jax.tree_util.tree_leaves(state.critic_target)[0]
    o1 = jax.tree_util.tree_leaves(yes.critic)[0]
    t1 = jax.tree_util.tree_leaves(yes.critic_target)[0]
    np.testing.assert_allclose(np.asarray(t1), 0.995 * np.asarray(t0) + 0.005 * np.asarray(o1), rtol=1e-5, atol=1e-7)
