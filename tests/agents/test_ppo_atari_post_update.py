"""The authors' Atari post-update (paper A.6, Fig. 20-21; eval_policy/experiments/
atari_policy_variance.py and utils.py): a fresh Adam at the checkpoint's learning rate without
gradient clipping (``post_update_optimizer``), and one pool of environments per job whose
joint collection gives every sample its own slice (``post_update_data``)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from retland.agents import ppo
from retland.agents.ppo import (agent as ppo_agent, collection as ppo_collection, losses as ppo_losses,
                                state as ppo_state)
from retland.analyses.post_update import make_estimator
from retland.analyses.source import Source
from retland.base.atari import AtariEnv

from helpers import tree_equal

GAME = "pong"
# CleanRL's Atari settings at a tiny size; lr annealed over 10 iterations of B = 16
BASE = dict(actions="discrete", torso="nature_cnn", normalize_observations=False, num_envs=2, unroll_length=8,
            num_minibatches=2, epochs=2, learning_rate=2.5e-4, clip_coef=0.1, vf_coef=0.5, ent_coef=0.01,
            max_grad_norm=0.5, clip_value_loss=True, anneal_lr_steps=160, post_update_protocol="authors_atari",
            cnn_channels=(4, 8, 8), cnn_dense=16)


def cfg(**changes):
    return ppo.PPOConfig(**{**BASE, **changes})


@pytest.fixture(scope="module")
def env():
    return AtariEnv(GAME, episode_length=50)


def _batch(key, env, st, c):
    k = jax.random.split(key, 3)
    T, N = c.unroll_length, c.num_envs
    obs = jax.random.randint(k[0], (T, N, 84, 84, 4), 0, 256).astype(jnp.uint8)
    action, logp = ppo_collection.sample_actions(st, obs, k[1], c, env.spec.act_dim)
    z = jnp.zeros((T, N))
    return ppo_losses.Batch(obs, action, logp, jax.random.normal(k[2], (T, N)), z, z, obs)


@pytest.fixture(scope="module")
def trained(env, jax_cache):
    """A checkpoint-like state whose Adam moments are not zero: 3 PPO iterations (12 Adam steps)."""
    c = cfg()
    st = ppo_state.init(jax.random.PRNGKey(0), env.spec.obs_dim, env.spec.act_dim, c)
    update = jax.jit(lambda s, b, k: ppo_losses.ppo_update(s, b, k, c, env.spec.act_dim))
    for i in range(3):
        st = update(st, _batch(jax.random.PRNGKey(10 + i), env, st, c), jax.random.PRNGKey(20 + i))
    assert int(st.opt[1][0].count) == 12
    return st


def _close(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-8)


def test_fresh_adam_post_update_carries_no_adam_state(env, trained):
    """utils.py init_ensemble_optim (l. 273-288) copies no Adam moment and the clip is
    commented out (l. 194): the update is optax.adam from its init at the checkpoint's
    learning rate (its last iteration's, 2.5e-4 x (1 - 2 x 16 / 160)), whatever the
    checkpoint's moments; the continued (clipped) Adam gives another update."""
    act_dim = env.spec.act_dim
    fresh, cont = cfg(post_update_optimizer="fresh_adam_no_clip"), cfg()
    batch, key = _batch(jax.random.PRNGKey(5), env, trained, cont), jax.random.PRNGKey(6)
    update = jax.jit(lambda s, c: ppo_agent.update_from_saved(s, batch, key, c, act_dim), static_argnums=1)
    new_fresh, new_cont = update(trained, fresh), update(trained, cont)
    assert not tree_equal(new_fresh.actor, new_cont.actor)
    tx = optax.adam(2.5e-4 * (1 - 2 * 16 / 160), b1=0.9, b2=0.999, eps=1e-5)
    params = {"actor": trained.actor, "critic": trained.critic}
    want = jax.jit(lambda s: ppo_losses.ppo_epochs(s, ppo_losses.advantages(s, batch, fresh, act_dim), key, fresh,
                                                   act_dim, tx, tx.init(params)))(trained)
    _close((new_fresh.actor, new_fresh.critic), (want.actor, want.critic))
    assert int(new_fresh.opt[0].count) == fresh.epochs * fresh.num_minibatches  # counted from 0
    # other moments in the checkpoint: the same fresh update, another continued one
    other = trained._replace(opt=jax.tree_util.tree_map(
        lambda x: x * 3 if jnp.issubdtype(x.dtype, jnp.floating) else x, trained.opt))
    assert tree_equal(update(other, fresh).actor, new_fresh.actor)
    assert not tree_equal(update(other, cont).actor, new_cont.actor)


def test_the_authors_choices_are_the_atari_defaults_and_need_their_protocol():
    d = ppo.SUITE_DEFAULTS["atari"]
    assert (d["post_update_optimizer"], d["post_update_data"]) == ("fresh_adam_no_clip", "pool")
    assert (ppo.PPOConfig().post_update_optimizer, ppo.PPOConfig().post_update_data) == ("continue", "saved_envs")
    with pytest.raises(ValueError, match="post_update_data='pool'.*authors_atari"):
        ppo.PPOConfig(post_update_data="pool")
    with pytest.raises(ValueError, match="post_update_optimizer must be one of"):
        cfg(post_update_optimizer="adamw")


def test_pool_gives_every_sample_its_own_slice_of_one_joint_collection(env, trained):
    """atari_policy_variance.py l. 250-331: one pool of chunk x num_envs environments, reset
    once (up to 30 random no-ops per copy), continued from call to call, one joint collection
    whose time-major rows are cut into one slice of B per sample. No saved environments are
    needed (``trained`` has none)."""
    c = cfg(post_update_optimizer="fresh_adam_no_clip", post_update_data="pool")
    est = make_estimator(Source(ppo_agent, env, c), 20, chunk_size=3, pool_seed=11)
    seen = {"data": [], "rows": []}
    advantages, learn_rows = est.advantages, est.learn_rows
    est.advantages = lambda s, d: seen["data"].append(d) or advantages(s, d)
    est.learn_rows = lambda s, k, rows: seen["rows"].append(rows) or learn_rows(s, k, rows)
    try:
        keys = jax.random.split(jax.random.PRNGKey(1), 3)
        p1 = est.update_params(keys, trained)
        pool_after = np.array(est.pool[0])
        frames = [e.ale.getEpisodeFrameNumber() for e in est.batch._local.envs]
        p2 = est.update_params(keys, trained)
        (d1, d2), obs_rows = seen["data"], np.asarray(seen["rows"][0][0])
        T, N, B = c.unroll_length, 3 * c.num_envs, c.batch_size
        assert np.asarray(d1.obs).shape[:2] == (T, N) and obs_rows.shape[:2] == (3, B)
        joint = np.asarray(d1.obs).reshape((T * N,) + d1.obs.shape[2:])
        for i in range(3):  # sample i: rows [i B, (i + 1) B) of the joint collection
            np.testing.assert_array_equal(obs_rows[i], joint[i * B:(i + 1) * B])
        for i in range(3):
            for j in range(i):
                assert not np.array_equal(obs_rows[i], obs_rows[j])
        assert len(set(frames)) > 1  # the copies' resets drew their own no-op counts
        np.testing.assert_array_equal(np.asarray(d2.obs[0]), pool_after)  # continued, not reset or restored
        assert not tree_equal(p1["actor"], p2["actor"])  # so the same keys give other updates
        r, lengths = est(keys, trained, None, 0, 0, env.reference_state())
        assert r.shape == (3,) and (lengths >= 1).all()
    finally:
        est.close()
