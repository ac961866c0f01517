"""SAC (Table 1) and its post-update step u(theta, X): what changes and what must not."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from retland.agents import get_agent
from retland.agents.sac import agent as sac
from retland.base.replay import sample_batch

import helpers
from helpers import ACT, ENV, OBS, assert_adam_step_from_checkpoint, make_replay, tree_equal, warmed_up


@pytest.fixture(scope="module")
def setup():
    cfg = sac.SACConfig(hidden=(32, 32), batch_size=16)
    return warmed_up(sac, cfg, lambda replay: jax.jit(lambda s, k: sac.update(s, replay, 0, 200, k, cfg, ACT)))


def test_table1_defaults():
    c = sac.SACConfig()
    assert c.hidden == (256, 256) and c.batch_size == 256
    assert c.learning_rate == 3e-4 and c.adam_b1 == 0.9 and c.adam_b2 == 0.999 and c.adam_eps == 1.5e-4
    assert c.discount == 0.99 and c.tau == pytest.approx(1 - 0.995)
    assert c.init_temperature == 1.0
    assert c.buffer_size == 10**6 and c.learning_starts == 10**4
    # the paper's code: target_entropy null -> jaxrl SACLearner uses -action_dim / 2
    assert c.target_entropy is None and c.entropy_target(3) == -1.5
    assert sac.SACConfig(target_entropy=-3.0).entropy_target(3) == -3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.batch_size = 1
    assert get_agent("sac") is sac
    assert sac.Config is sac.SACConfig and sac.UPDATE_KIND == "sac_actor_step"


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown SAC hyperparameter"):
        sac.SACConfig.from_dict({"lr": 1.0})
    c = sac.SACConfig.from_dict({"hidden": [8, 8]})
    assert c.hidden == (8, 8)
    # JSON round trip (agent_config attribute of training files)
    assert sac.SACConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_init_state():
    cfg = sac.SACConfig(hidden=(8, 8))
    s = sac.init(jax.random.PRNGKey(0), OBS, ACT, cfg)
    assert float(s.log_alpha) == 0.0  # initial temperature 1
    assert tree_equal(s.critic, s.critic_target)
    mean, log_std = sac.GaussianTanhActor(cfg.hidden, ACT).apply(s.actor, jnp.ones((4, OBS)) * 100.0)
    assert mean.shape == (4, ACT)
    assert np.all(np.asarray(log_std) >= sac.LOG_STD_MIN) and np.all(np.asarray(log_std) <= sac.LOG_STD_MAX)
    # the deterministic policy is tanh(mean)
    pi = sac.make_policy(ACT, cfg)
    np.testing.assert_allclose(np.asarray(pi(s.actor, jnp.ones((4, OBS)) * 100.0)), np.tanh(np.asarray(mean)), rtol=1e-6)


def test_log_prob_matches_change_of_variables():
    mean = jnp.array([[0.3, -1.2], [2.0, 0.1]])
    log_std = jnp.array([[-0.5, 0.2], [0.0, -1.0]])
    a, logp = sac.sample_action(mean, log_std, jax.random.PRNGKey(0))
    u = np.arctanh(np.asarray(a, np.float64))
    m, s = np.asarray(mean, np.float64), np.exp(np.asarray(log_std, np.float64))
    ref = (-0.5 * ((u - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi) - np.log(1 - np.tanh(u) ** 2)).sum(-1)
    np.testing.assert_allclose(np.asarray(logp), ref, rtol=1e-3, atol=1e-3)


def test_actor_step_changes_only_actor_and_its_optimizer(setup):
    cfg, state, replay = setup
    batch = sample_batch(replay, jax.random.PRNGKey(1), 0, 200, cfg.batch_size)
    new, entropy = sac.actor_step(state, batch, jax.random.PRNGKey(2), cfg, ACT)
    assert np.isfinite(float(entropy))
    assert not tree_equal(new.actor, state.actor)
    assert not tree_equal(new.actor_opt, state.actor_opt)
    for f in ("critic", "critic_target", "log_alpha", "critic_opt", "temp_opt"):
        assert tree_equal(getattr(new, f), getattr(state, f)), f


def test_post_update_is_one_adam_step_continuing_the_checkpoint_optimizer(setup):
    cfg, state, replay = setup
    key = jax.random.PRNGKey(3)
    theta = sac.post_update(state, key, replay, 0, 200, cfg, ENV)
    # only the actor params come back, with the actor's structure
    assert jax.tree_util.tree_structure(theta) == jax.tree_util.tree_structure(state.actor)
    assert not tree_equal(theta, state.actor)
    kb, ka = jax.random.split(key)
    batch = sample_batch(replay, kb, 0, 200, cfg.batch_size)
    actor_net, critic_net = sac.GaussianTanhActor(cfg.hidden, ACT), sac.TwinCritic(cfg.hidden)
    alpha = jnp.exp(state.log_alpha)
    g, _ = jax.grad(sac._actor_loss, has_aux=True)(
        state.actor, state.critic, alpha, batch.obs, ka, actor_net.apply, critic_net.apply)
    assert_adam_step_from_checkpoint(theta, state, g)


def test_post_update_samples_differ_and_fixed_key_reproduces(setup):
    cfg, state, replay = setup
    keys = jax.random.split(jax.random.PRNGKey(7), 4)
    u = jax.jit(jax.vmap(lambda k: sac.post_update(state, k, replay, 0, 200, cfg, ENV)))
    thetas = u(keys)
    w = np.asarray(jax.tree_util.tree_leaves(thetas)[0]).reshape(4, -1)
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.array_equal(w[i], w[j])
    again = np.asarray(jax.tree_util.tree_leaves(u(keys))[0]).reshape(4, -1)
    np.testing.assert_array_equal(w, again)
    # unbatched call == its row of the vmapped call
    single = sac.post_update(state, keys[0], replay, 0, 200, cfg, ENV)
    np.testing.assert_allclose(np.asarray(jax.tree_util.tree_leaves(single)[0]).reshape(-1), w[0], rtol=1e-6, atol=1e-7)
    # same minibatch, different reparameterisation noise -> a different update too
    batch = sample_batch(replay, keys[0], 0, 200, cfg.batch_size)
    a1 = sac.actor_step(state, batch, jax.random.PRNGKey(1), cfg, ACT)[0].actor
    a2 = sac.actor_step(state, batch, jax.random.PRNGKey(2), cfg, ACT)[0].actor
    assert not tree_equal(a1, a2)


def test_post_update_minibatch_comes_from_the_buffer_window(setup):
    """Only rows [lo, hi) matter: changing rows outside the window leaves u unchanged."""
    cfg, state, replay = setup
    key = jax.random.PRNGKey(11)
    lo, hi = 50, 80
    theta = sac.post_update(state, key, replay, lo, hi, cfg, ENV)
    outside = np.r_[0:lo, hi:200]
    junk = replay._replace(obs=replay.obs.at[outside].set(1e3), action=replay.action.at[outside].set(0.0))
    assert tree_equal(theta, sac.post_update(state, key, junk, lo, hi, cfg, ENV))
    inside = replay._replace(obs=replay.obs.at[lo:hi].add(1.0))
    assert not tree_equal(theta, sac.post_update(state, key, inside, lo, hi, cfg, ENV))
    b = sample_batch(make_replay(1000), jax.random.PRNGKey(0), 300, 400, 4096)
    r = np.asarray(b.reward)
    assert r.min() >= 300 and r.max() < 400 and len(np.unique(r)) > 90


def test_temperature_moves_towards_the_target_entropy(setup):
    cfg, state, _ = setup
    # a fresh temperature optimizer: the first Adam step moves against the gradient's sign
    # (a warmed-up one may keep its momentum for a step)
    state = state._replace(temp_opt=sac.optimizer(cfg).init(state.log_alpha))
    target = cfg.entropy_target(ACT)
    down = sac.temperature_step(state, jnp.float32(target + 5.0), cfg, ACT)  # entropy above target
    up = sac.temperature_step(state, jnp.float32(target - 5.0), cfg, ACT)  # entropy below target
    assert float(down.log_alpha) < float(state.log_alpha) < float(up.log_alpha)
    for f in ("actor", "critic", "critic_target", "actor_opt", "critic_opt"):
        assert tree_equal(getattr(down, f), getattr(state, f)), f
    # through a full update: a very low target means the policy's entropy is above it
    low = dataclasses.replace(cfg, target_entropy=-100.0)
    high = dataclasses.replace(cfg, target_entropy=100.0)
    replay = make_replay(200)
    k = jax.random.PRNGKey(4)
    assert float(sac.update(state, replay, 0, 200, k, low, ACT).log_alpha) < float(state.log_alpha)
    assert float(sac.update(state, replay, 0, 200, k, high, ACT).log_alpha) > float(state.log_alpha)


def test_update_changes_everything_and_target_is_ema(setup):
    cfg, state, replay = setup
    new = sac.update(state, replay, 0, 200, jax.random.PRNGKey(5), cfg, ACT)
    for f in sac.SACState._fields:
        assert not tree_equal(getattr(new, f), getattr(state, f)), f
    # critic target: Polyak averaging with coefficient 0.995 towards the new critics, every update
    for t0, o1, t1 in zip(jax.tree_util.tree_leaves(state.critic_target), jax.tree_util.tree_leaves(new.critic),
                          jax.tree_util.tree_leaves(new.critic_target)):
        np.testing.assert_allclose(np.asarray(t1), 0.995 * np.asarray(t0) + 0.005 * np.asarray(o1),
                                   rtol=1e-5, atol=1e-7)


def test_critic_target_is_soft_and_clipped_double_q(setup):
    """The critic step regresses both Qs on r + gamma (1 - d) (min Q' - alpha log pi)."""
    cfg, state, replay = setup
    batch = sample_batch(replay, jax.random.PRNGKey(6), 0, 200, cfg.batch_size)
    key = jax.random.PRNGKey(8)
    new = sac.critic_step(state, batch, key, cfg, ACT)
    actor_net, critic_net = sac.GaussianTanhActor(cfg.hidden, ACT), sac.TwinCritic(cfg.hidden)
    mean, log_std = actor_net.apply(state.actor, batch.next_obs)
    a, logp = sac.sample_action(mean, log_std, key)
    tq1, tq2 = critic_net.apply(state.critic_target, batch.next_obs, a)
    y = batch.reward + 0.99 * (1 - batch.terminal) * (jnp.minimum(tq1, tq2) - jnp.exp(state.log_alpha) * logp)

    def loss(cp):
        q1, q2 = critic_net.apply(cp, batch.obs, batch.action)
        return ((q1 - y) ** 2 + (q2 - y) ** 2).mean()

    tx = optax.adam(3e-4, b1=0.9, b2=0.999, eps=1.5e-4)
    upd, _ = tx.update(jax.grad(loss)(state.critic), state.critic_opt, state.critic)
    expected = optax.apply_updates(state.critic, upd)
    for x, e in zip(jax.tree_util.tree_leaves(new.critic), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(e), rtol=1e-5, atol=1e-7)
    for f in ("actor", "critic_target", "log_alpha", "actor_opt", "temp_opt"):
        assert tree_equal(getattr(new, f), getattr(state, f)), f


# --- a tiny real training run on Brax hopper ------------------------------------------

CHECKPOINT_GROUPS = ("actor", "critic", "critic_target", "log_alpha", "actor_opt", "critic_opt", "temp_opt")


def _train(d, name):
    return helpers.tiny_offpolicy_run(d, "sac", name)


@pytest.fixture(scope="module")
def sac_training(tmp_path_factory, jax_cache):
    d = tmp_path_factory.mktemp("sac_train")
    return _train(d, "seed"), _train(d, "again")


def test_sac_training_file(sac_training):
    from retland.base.checkpoints import TrainFile

    t, _ = sac_training
    assert len(t["summary"]["final_eval_returns"]) == 2
    with TrainFile(t["paths"][0]) as tf:
        assert tf.attrs["algo"] == "sac" and tf.checkpoint_steps == [100, 200]
        assert tf.n_replay_rows == 200
        for step in (100, 200):
            g = tf.f["checkpoints"][f"step{step}"]
            for name in CHECKPOINT_GROUPS:
                assert name in g, (step, name)
            assert g.attrs["n_updates"] == step - 60 + 1
        ck = tf.f["checkpoints"]["step200"]
        assert ck["log_alpha"].shape == ()
        assert float(ck["log_alpha"][()]) != 0.0  # the temperature was learned
        a = tf.f["checkpoints/step100/actor/params/MLP_0/Dense_0/kernel"][()]
        b = tf.f["checkpoints/step200/actor/params/MLP_0/Dense_0/kernel"][()]
        assert not np.array_equal(a, b)
        rep = tf.replay(0, 200)
        assert rep["action"].shape == (200, 3) and np.all(np.abs(rep["action"]) <= 1.0)
        assert np.all(np.isfinite(tf.learning_curve()["return"]))
    with TrainFile(t["paths"][1]) as tf1, TrainFile(t["paths"][0]) as tf0:
        assert not np.array_equal(tf0.replay(0, 200)["action"], tf1.replay(0, 200)["action"])


def _datasets(group):
    out = {}
    group.visititems(lambda k, v: out.__setitem__(k, v[()]) if hasattr(v, "shape") else None)
    return out


def test_sac_training_is_deterministic(sac_training):
    from retland.base.checkpoints import TrainFile

    t, again = sac_training
    for p, q in zip(t["paths"], again["paths"]):
        with TrainFile(p) as a, TrainFile(q) as b:
            np.testing.assert_array_equal(a.replay(0, 200)["action"], b.replay(0, 200)["action"])
            np.testing.assert_array_equal(a.learning_curve()["return"], b.learning_curve()["return"])
            for step in (100, 200):
                da, db = _datasets(a.f[f"checkpoints/step{step}"]), _datasets(b.f[f"checkpoints/step{step}"])
                assert sorted(da) == sorted(db) and len(da) > 20
                for k in da:
                    np.testing.assert_array_equal(da[k], db[k], err_msg=k)

def test_sac_checkpoint_loads_and_post_updates(sac_training):
    """The checkpoint reads back into the agent state and u(theta, X) runs on it."""
    from retland.jobs.sources import CheckpointSource

    t, _ = sac_training
    src = CheckpointSource(t["paths"][0])
    state, (lo, hi) = src.checkpoint(200)
    assert (lo, hi) == (0, 200)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    thetas = jax.jit(jax.vmap(lambda k: src.agent.post_update(state, k, src.replay, lo, hi, src.cfg, src.env)))(keys)
    w = np.asarray(jax.tree_util.tree_leaves(thetas)[0])
    assert np.all(np.isfinite(w)) and not np.array_equal(w[0], w[1])


def test_post_update_uses_the_checkpoint_temperature_far_from_one(setup):
    """u(theta, X) with alpha = 0.05: the actor loss mean(alpha log pi(a|s) - min Q(s, a)) is
    written here by hand (tanh-Gaussian log-density by the change of variables); the same
    step with alpha = 1 is measurably different, so using the wrong temperature fails."""
    cfg, state, replay = setup
    state = state._replace(log_alpha=jnp.asarray(np.log(0.05), jnp.float32))
    key = jax.random.PRNGKey(21)
    kb, ka = jax.random.split(key)
    batch = sample_batch(replay, kb, 0, 200, cfg.batch_size)
    actor_net, critic_net = sac.GaussianTanhActor(cfg.hidden, ACT), sac.TwinCritic(cfg.hidden)
    eps = jax.random.normal(ka, (cfg.batch_size, ACT))

    def loss(ap, alpha):
        mean, log_std = actor_net.apply(ap, batch.obs)
        u = mean + jnp.exp(log_std) * eps
        a = jnp.tanh(u)
        gauss = -0.5 * eps**2 - log_std - 0.5 * np.log(2 * np.pi)
        logp = (gauss - jnp.log(1 - a**2 + 1e-12)).sum(-1)
        q1, q2 = critic_net.apply(state.critic, batch.obs, a)
        return jnp.mean(alpha * logp - jnp.minimum(q1, q2))

    tx = optax.adam(3e-4, b1=0.9, b2=0.999, eps=1.5e-4)

    def step(alpha):
        upd, _ = tx.update(jax.grad(loss)(state.actor, alpha), state.actor_opt, state.actor)
        return optax.apply_updates(state.actor, upd)

    theta = sac.post_update(state, key, replay, 0, 200, cfg, ENV)
    for a, b in zip(jax.tree_util.tree_leaves(theta), jax.tree_util.tree_leaves(step(0.05))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=2e-7)
    wrong = step(1.0)
    assert max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
               for a, b in zip(jax.tree_util.tree_leaves(theta), jax.tree_util.tree_leaves(wrong))) > 1e-5
