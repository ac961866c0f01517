"""TD3 (Table 1) and its post-update step u(theta, X): what changes and what must not."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from retland.agents import get_agent
from retland.agents.td3 import agent as td3
from retland.base.replay import sample_batch

from helpers import ACT, ENV, assert_adam_step_from_checkpoint, make_replay, tree_equal, warmed_up


@pytest.fixture(scope="module")
def setup():
    cfg = td3.TD3Config(hidden=(32, 32), batch_size=16)
    return warmed_up(td3, cfg, lambda replay: lambda s, k: td3.update(s, replay, 0, 200, k, True, cfg, ACT))


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
    key = jax.random.PRNGKey(3)
    theta = td3.post_update(state, key, replay, 0, 200, cfg, ENV)
    batch = sample_batch(replay, key, 0, 200, cfg.batch_size)
    actor_net = td3.DeterministicActor(cfg.hidden, ACT)
    critic_net = td3.TwinCritic(cfg.hidden)
    g = jax.grad(td3._actor_loss)(state.actor, state.critic, batch.obs, actor_net.apply, critic_net.apply)
    assert_adam_step_from_checkpoint(theta, state, g)


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


# --- the losses against formulas written here, independently of the module ----------------

def _mlp(params, x, final_tanh):
    """A flax MLP (Dense layers named Dense_i inside the module's tree) applied by hand."""
    layers = sorted(params.items(), key=lambda kv: int(kv[0].split("_")[-1]))
    for i, (_, p) in enumerate(layers):
        x = x @ p["kernel"] + p["bias"]
        if i < len(layers) - 1:
            x = jax.nn.relu(x)
    return jnp.tanh(x) if final_tanh else x


def _dense_layers(tree):
    """The innermost dict of Dense_* layers of a flax parameter tree (one MLP)."""
    while not any(k.startswith("Dense_") for k in tree):
        (tree,) = tree.values() if len(tree) == 1 else (tree["params"],)
    return tree


def _actor(params, obs):
    return _mlp(_dense_layers(params["params"]), obs, final_tanh=True)


def _critics(params, obs, act):
    p = params["params"]
    x = jnp.concatenate([obs, act], -1)
    return tuple(_mlp(_dense_layers(p[k]), x, final_tanh=False)[..., 0] for k in sorted(p))


def test_hand_written_networks_match_the_modules(setup):
    cfg, state, replay = setup
    a = td3.DeterministicActor(cfg.hidden, ACT).apply(state.actor, replay.obs[:8])
    np.testing.assert_allclose(np.asarray(_actor(state.actor, replay.obs[:8])), np.asarray(a), rtol=1e-5, atol=1e-6)
    q = td3.TwinCritic(cfg.hidden).apply(state.critic, replay.obs[:8], replay.action[:8])
    for mine, theirs in zip(_critics(state.critic, replay.obs[:8], replay.action[:8]), q):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs).reshape(-1), rtol=1e-5, atol=1e-6)


def _adam(params, grads, opt_state):
    import optax

    tx = optax.adam(3e-4, b1=0.9, b2=0.999, eps=1.5e-4)
    upd, _ = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, upd)


def test_actor_loss_is_minus_mean_min_q_of_the_policy_action(setup):
    cfg, state, replay = setup
    batch = sample_batch(replay, jax.random.PRNGKey(4), 0, 200, cfg.batch_size)

    def loss(ap):
        q1, q2 = _critics(state.critic, batch.obs, _actor(ap, batch.obs))
        return -jnp.mean(jnp.minimum(q1, q2))

    new = td3.actor_step(state, batch, cfg, ACT)
    expected = _adam(state.actor, jax.grad(loss)(state.actor), state.actor_opt)
    for x, e in zip(jax.tree_util.tree_leaves(new.actor), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(e), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("terminal", [0.0, 1.0])
def test_critic_target_smoothing_clip_and_clipped_double_q(setup, terminal):
    """y = r + 0.99 (1 - d) min(Q1', Q2')(s', clip(pi'(s') + clip(0.2 eps, -0.5, 0.5), -1, 1))."""
    cfg, state, replay = setup
    batch = sample_batch(replay, jax.random.PRNGKey(6), 0, 200, 64)
    batch = batch._replace(terminal=jnp.full_like(batch.terminal, terminal))
    cfg64 = dataclasses.replace(cfg, batch_size=64)
    key = jax.random.PRNGKey(11)
    eps = np.asarray(jax.random.normal(key, batch.action.shape))
    assert (np.abs(0.2 * eps) > 0.5).any()  # the clip at 0.5 is exercised by this key
    noise = np.clip(0.2 * eps, -0.5, 0.5)
    next_a = np.clip(np.asarray(_actor(state.actor_target, batch.next_obs)) + noise, -1, 1)
    tq1, tq2 = _critics(state.critic_target, batch.next_obs, jnp.asarray(next_a))
    y = np.asarray(batch.reward) + 0.99 * (1 - terminal) * np.minimum(np.asarray(tq1), np.asarray(tq2))

    def loss(cp):
        q1, q2 = _critics(cp, batch.obs, batch.action)
        return jnp.mean((q1 - y) ** 2) + jnp.mean((q2 - y) ** 2)

    new = td3.critic_step(state, batch, key, cfg64, ACT)
    expected = _adam(state.critic, jax.grad(loss)(state.critic), state.critic_opt)
    for x, e in zip(jax.tree_util.tree_leaves(new.critic), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(e), rtol=1e-4, atol=1e-6)


def test_post_update_draws_only_the_rows_of_an_earlier_checkpoint(tiny_training):
    """At checkpoint 100 of a 200-step run the buffer is rows [0, 100): poison every later
    row with NaN; the post-update stays finite there and turns NaN at the last checkpoint."""
    from retland.jobs.sources import CheckpointSource

    src = CheckpointSource(tiny_training["paths"][0])
    state, (lo, hi) = src.checkpoint(100)
    assert (lo, hi) == (0, 100)
    obs = np.asarray(src.replay.obs).copy()
    obs[100:] = np.nan
    poisoned = src.replay._replace(obs=jnp.asarray(obs))
    keys = jax.random.split(jax.random.PRNGKey(0), 16)
    upd = jax.jit(jax.vmap(lambda k, s, lo, hi: src.agent.post_update(s, k, poisoned, lo, hi, src.cfg, src.env),
                           in_axes=(0, None, None, None)))
    early = upd(keys, state, lo, hi)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(early))
    last_state, (lo2, hi2) = src.checkpoint(200)
    assert (lo2, hi2) == (0, 200)
    late = upd(keys, last_state, lo2, hi2)
    assert any(np.isnan(np.asarray(x)).any() for x in jax.tree_util.tree_leaves(late))
