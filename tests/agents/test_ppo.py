"""PPO (Table 1), its pieces (GAE, clipped loss, normaliser), the training
environments saved with every checkpoint, and its post-update u(theta, X): the
authors' protocol (continue collection from the saved environments, ONE Adam step on
one minibatch of B / num_minibatches transitions) and the former full update."""

import dataclasses
import shutil
from types import SimpleNamespace
from typing import NamedTuple

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from retland.agents import get_agent
from retland.agents import ppo
from retland.agents.ppo import (agent as ppo_agent, collection as ppo_collection, losses as ppo_losses,
                                networks as ppo_networks, optim as ppo_optim, state as ppo_state, train_loop as ppo_train_loop)
from retland.training import train
from retland.base.checkpoints import CheckpointError, TrainFile

from helpers import tree_equal


class ToyState(NamedTuple):
    x: jax.Array
    obs: jax.Array
    reward: jax.Array
    done: jax.Array


class ToyEnv:
    """A tiny pure-JAX env with the BraxEnv interface (compiles in seconds): a point
    pushed by the actions, reward -|x|^2, termination when it leaves [-2.5, 2.5]^3."""

    episode_length = 5
    spec = SimpleNamespace(suite="toy", name="toy", obs_dim=3, act_dim=2, episode_length=5, backend="none")

    def reset(self, key):
        x = jax.random.normal(key, (3,))
        return ToyState(x, 3.0 * x + 1.0, jnp.zeros(()), jnp.zeros(()))

    def step(self, s, a):
        x = s.x + 0.3 * jnp.concatenate([a, a[:1]])
        return ToyState(x, 3.0 * x + 1.0, -jnp.sum(x**2), (jnp.abs(x).max() > 2.5).astype(jnp.float32))

    def reference_state(self):
        return ToyState(jnp.zeros(3), jnp.ones(3), jnp.zeros(()), jnp.zeros(()))

    obs = staticmethod(lambda s: s.obs)
    reward = staticmethod(lambda s: s.reward)
    done = staticmethod(lambda s: s.done)


TOY = ToyEnv()
TOY_CFG = ppo.PPOConfig(hidden=(8, 8), num_envs=4, unroll_length=6)


@pytest.fixture(scope="module")
def toy_state():
    """A state a few iterations into training (non-trivial Adam moments and normaliser)."""
    cfg, env = TOY_CFG, TOY
    env_state, ep_t, ep_ret = ppo_collection.fresh_envs(env, cfg, jax.random.PRNGKey(1))
    agent = jax.jit(ppo_state.init, static_argnums=(1, 2, 3))(jax.random.PRNGKey(0), 3, 2, cfg)
    c = ppo_train_loop.Carry(agent, env_state, ep_t, ep_ret, jax.random.PRNGKey(2), jnp.zeros(()), jnp.zeros((), jnp.int32))
    it = jax.jit(lambda c: ppo_train_loop.iteration(c, env, cfg))
    for _ in range(3):
        c = it(c)
    return c.agent


def test_table1_defaults():
    c = ppo.PPOConfig()
    assert (c.num_envs, c.unroll_length, c.epochs, c.num_minibatches) == (2048, 16, 4, 2)
    assert c.gae_lambda == 0.95 and c.clip_coef == 0.2 and c.vf_coef == 2.0 and c.max_grad_norm == 1.0
    assert c.learning_rate == 0.0026 and c.adam_eps == 1e-5 and (c.adam_b1, c.adam_b2) == (0.9, 0.999)
    assert c.discount == 0.99 and c.hidden == (256, 256)
    assert c.ent_coef == 0.0 and c.normalize_observations and c.normalize_advantages
    assert c.batch_size == 32768 and c.minibatch_size == 16384 and c.post_update_grad_steps == 0
    # the post-update follows the authors' protocol unless told otherwise
    assert (c.post_update_protocol, c.post_update_minibatch, c.post_update_max_grad_norm) == ("authors", "first", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.num_envs = 1
    agent = get_agent("ppo")
    assert agent is ppo_agent and agent.Config is ppo.PPOConfig and agent.UPDATE_KIND == "ppo_update"
    assert callable(agent.training_setup)


def test_config_validation_and_dict_roundtrip():
    with pytest.raises(ValueError, match="unknown PPO hyperparameter"):
        ppo.PPOConfig.from_dict({"lr": 1.0})
    with pytest.raises(ValueError, match="divisible"):
        ppo.PPOConfig(num_envs=3, unroll_length=1, num_minibatches=2)
    c = ppo.PPOConfig.from_dict({"hidden": [8, 8], "num_envs": 64})
    assert c.hidden == (8, 8) and ppo.PPOConfig.from_dict(c.to_dict()) == c
    for bad, match in (({"post_update_protocol": "fresh"}, "post_update_protocol"),
                       ({"post_update_minibatch": "all"}, "post_update_minibatch"),
                       ({"post_update_max_grad_norm": 0.0}, "post_update_max_grad_norm"),
                       ({"post_update_grad_steps": 2}, "full_update")):
        with pytest.raises(ValueError, match=match):
            ppo.PPOConfig.from_dict(bad)
    c = ppo.PPOConfig.from_dict({"post_update_protocol": "full_update", "post_update_grad_steps": 3,
                                 "post_update_max_grad_norm": 0.1})
    assert ppo.PPOConfig.from_dict(c.to_dict()) == c
    # a training file written before these fields existed: its agent_config lacks them
    old = {k: v for k, v in ppo.PPOConfig().to_dict().items() if k not in
           ("post_update_protocol", "post_update_minibatch", "post_update_max_grad_norm")}
    assert ppo.PPOConfig.from_dict(old).post_update_protocol == "authors"


def test_gae_hand_example_with_termination_and_truncation():
    # 3 steps of one env: step 1 terminates (no bootstrap, trace cut), step 2 bootstraps
    r = jnp.array([[1.0], [2.0], [3.0]])
    v = jnp.array([[0.5], [1.0], [1.5]])
    nv = jnp.array([[1.0], [9.0], [2.0]])  # 9.0 must be ignored (terminal)
    term = jnp.array([[0.0], [1.0], [0.0]])
    adv, ret = ppo_losses.gae(r, v, nv, term, term, 0.9, 0.8)
    # t=2: 3 + .9*2 - 1.5 = 3.3; t=1: 2 - 1 = 1.0 (cut); t=0: 1 + .9*1 - .5 + .72*1.0 = 2.12
    np.testing.assert_allclose(adv[:, 0], [2.12, 1.0, 3.3], rtol=1e-6)
    np.testing.assert_allclose(ret[:, 0], [2.62, 2.0, 4.8], rtol=1e-6)
    # a time limit at step 1 instead: bootstraps from V(true next obs) but still cuts the trace
    adv, _ = ppo_losses.gae(r, v, nv, jnp.zeros_like(term), term, 0.9, 0.8)
    np.testing.assert_allclose(adv[:, 0], [1.4 + 0.72 * 9.1, 2 + 0.9 * 9.0 - 1.0, 3.3], rtol=1e-6)


def test_clipped_surrogate_hand_case():
    ratio = jnp.array([0.5, 1.5, 1.0, 0.7])
    adv = jnp.array([1.0, 1.0, -1.0, -2.0])
    # max(-A r, -A clip(r, .8, 1.2)): -0.5 | -1.2 | 1.0 | 1.6
    assert float(ppo_losses.clipped_surrogate(ratio, adv, 0.2)) == pytest.approx((-0.5 - 1.2 + 1.0 + 1.6) / 4)


def test_ppo_loss_at_the_behaviour_policy():
    """Ratio 1, no entropy bonus: loss = -mean(normalised A) + vf_coef * 0.5 MSE = 2 * 0.5 MSE."""
    cfg = TOY_CFG
    st = jax.jit(ppo_state.init, static_argnums=(1, 2, 3))(jax.random.PRNGKey(0), 3, 2, cfg)
    k = jax.random.split(jax.random.PRNGKey(5), 3)
    obs, act = jax.random.normal(k[0], (10, 3)), jax.random.normal(k[1], (10, 2))
    mean, log_std = ppo_networks.GaussianActor(cfg.hidden, 2).apply(st.actor, obs)
    logp = ppo_networks.gaussian_log_prob(act, mean, log_std)
    ret = jax.random.normal(k[2], (10,))
    adv = jnp.arange(10.0)
    params = {"actor": st.actor, "critic": st.critic}
    loss, (pg, v_loss, ent) = jax.jit(lambda p, mb: ppo_losses.ppo_loss(p, mb, st.obs_norm, cfg, 2))(
        params, (obs, act, logp, adv, ret))
    v = ppo_networks.ValueNet(cfg.hidden).apply(st.critic, obs)
    assert float(pg) == pytest.approx(0.0, abs=1e-6)
    assert float(v_loss) == pytest.approx(0.5 * float(((v - ret) ** 2).mean()), rel=1e-5)
    assert float(loss) == pytest.approx(2.0 * float(v_loss), rel=1e-5)
    assert float(ent) == pytest.approx(2 * 0.5 * np.log(2 * np.pi * np.e), rel=1e-6)  # log_std = 0


def test_obs_norm_running_moments_match_numpy():
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(300, 4)).astype(np.float32)
    n = ppo_state.init_obs_norm(4)
    for part in np.split(x, 3):
        n = ppo_state.update_obs_norm(n, jnp.asarray(part))
    np.testing.assert_allclose(n.mean, x.mean(0), rtol=1e-4)
    np.testing.assert_allclose(n.var, x.var(0), rtol=1e-3)
    assert float(n.count) == pytest.approx(300.0)


def test_policy_is_clipped_mean_on_normalised_obs(toy_state):
    cfg = TOY_CFG
    obs = jnp.array([[10.0, -3.0, 2.0]])
    a = ppo_agent.make_policy(2, cfg)(ppo_state.policy_params(toy_state), obs)
    n = toy_state.obs_norm
    z = jnp.clip((obs - n.mean) / jnp.sqrt(n.var + 1e-8), -10, 10)
    mean, _ = ppo_networks.GaussianActor(cfg.hidden, 2).apply(toy_state.actor, z)
    np.testing.assert_allclose(a, jnp.clip(mean, -1, 1), rtol=1e-6)


def test_collect_handles_termination_and_time_limit(toy_state):
    cfg = TOY_CFG
    env_state, ep_t, ep_ret = ppo_collection.fresh_envs(TOY, cfg, jax.random.PRNGKey(3))
    _, ep_t2, _, b, fin = jax.jit(lambda s, t, r, k: ppo_collection.collect(toy_state, TOY, cfg, s, t, r, k))(
        env_state, ep_t, ep_ret, jax.random.PRNGKey(4))
    assert b.obs.shape == (6, 4, 3) and b.action.shape == (6, 4, 2) and b.logp.shape == (6, 4)
    end, term = np.asarray(b.end), np.asarray(b.term)
    assert (end >= term).all() and end[:5].any(0).all()  # episode_length 5: all ended by step 5
    assert (end > term).any()  # some ended at the time limit without terminating
    assert np.isfinite(np.asarray(fin)).sum() == end.sum()
    # after an end the next observation is a fresh reset, not the step's next_obs
    t, e = np.argwhere(end[:-1] > 0)[0]
    assert not np.allclose(b.obs[t + 1, e], b.next_obs[t, e])


K1, K2 = jax.random.PRNGKey(11), jax.random.PRNGKey(12)
TOY_STEPS, TOY_CKS = 240, [48, 240]  # B = 24: checkpoints after iterations 2 and 10


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, jax_cache):
    """Two toy seeds trained by ``training.train`` (checkpoints after iterations 2 and 10)."""
    d = tmp_path_factory.mktemp("ppo_toy")
    paths = [str(d / f"ref{s}.h5") for s in (0, 1)]
    train(ppo_agent, TOY, TOY_CFG, [0, 1], total_steps=TOY_STEPS, checkpoint_steps=TOY_CKS, out_paths=paths,
          attrs={"algo": "ppo"}, max_chunk=48, log=lambda m: None)
    return paths


def toy_template(cfg=TOY_CFG):
    return jax.eval_shape(lambda k: ppo_state.init(k, 3, 2, cfg), jax.random.PRNGKey(0))


def read_toy_checkpoint(path, step):
    with TrainFile(path) as tf:
        return tf.checkpoint(step, toy_template())[0]


def saved_toy_envs(path, step):
    """The saved environments read with h5py alone, in the toy's structure."""
    with h5py.File(path) as f:
        g = f[f"checkpoints/step{step}/env_state"]
        return ToyState(*(jnp.asarray(g["state"][n][()]) for n in ToyState._fields)), \
            jnp.asarray(g["ep_t"][()]), jnp.asarray(g["ep_ret"][()])


def test_checkpoints_hold_the_training_carrys_environments(toy_run):
    """env_state/ of checkpoint step{K} = the training carry's environments (simulator
    states, episode step counters and returns) after the checkpoint's iteration, per seed."""
    cfg, env = TOY_CFG, TOY
    setup = ppo_train_loop.training_setup(env, cfg, [0, 1], TOY_STEPS, TOY_CKS, 48, lambda m: None)
    carry = setup.carry
    by_hand = {}
    for it in range(2, 11, 2):  # the chunks training.train runs for PPO (learning curve every 2 iterations)
        carry, _ = setup.loop.advance(carry, it - 2, it)
        by_hand[it] = jax.tree_util.tree_map(np.asarray, carry)
    for j, path in enumerate(toy_run):
        for step, it in zip(TOY_CKS, (2, 10)):
            c = jax.tree_util.tree_map(lambda x: x[j], by_hand[it])
            env_state, ep_t, ep_ret = saved_toy_envs(path, step)
            for name, a, b in zip(ToyState._fields, env_state, c.env_state):
                np.testing.assert_array_equal(a, b, err_msg=f"seed {j} step {step} state/{name}")
            np.testing.assert_array_equal(ep_t, c.ep_t)
            np.testing.assert_array_equal(ep_ret, c.ep_ret)
            assert ep_t.dtype == jnp.int32 and env_state.x.shape == (cfg.num_envs, 3)
            st = read_toy_checkpoint(path, step)
            assert tree_equal(st.actor, c.agent.actor) and tree_equal(st.opt, c.agent.opt)
            # read back through the agent template and rebuilt for collect
            restored = ppo_collection.saved_envs(st, env, cfg)
            assert tree_equal(restored, (c.env_state, c.ep_t, c.ep_ret))
    assert (np.asarray(by_hand[10].ep_t) > 0).any()  # mid-episode environments were saved
    with TrainFile(toy_run[0]) as tf:
        assert set(tf.f["checkpoints/step48"]) == {"actor", "critic", "opt", "obs_norm", "env_state"}


def one_adam_step_by_hand(st, batch, rows, max_grad_norm, cfg=TOY_CFG, opt=None):
    """Independent u: GAE of the batch with the checkpoint's value net, the minibatch
    ``rows`` of the time-major flattened batch, the PPO loss gradient, one optax Adam step
    continuing the checkpoint's optimizer state (or ``opt``)."""
    nobs = lambda o: ppo_state.normalize(st.obs_norm, o, cfg)  # noqa: E731
    value = ppo_networks.ValueNet(cfg.hidden).apply(st.critic, nobs(batch.obs))
    next_value = ppo_networks.ValueNet(cfg.hidden).apply(st.critic, nobs(batch.next_obs))
    adv, ret = ppo_losses.gae(batch.reward, value, next_value, batch.term, batch.end, cfg.discount, cfg.gae_lambda)
    flat = [x.reshape((-1,) + x.shape[2:]) for x in (batch.obs, batch.action, batch.logp, adv, ret)]
    mb = tuple(x[rows] for x in flat)
    params = {"actor": st.actor, "critic": st.critic}
    grads = jax.grad(lambda p: ppo_losses.ppo_loss(p, mb, st.obs_norm, cfg, 2)[0])(params)
    tx = optax.chain(optax.clip_by_global_norm(max_grad_norm),
                     optax.adam(cfg.learning_rate, b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps))
    updates, new_opt = tx.update(grads, st.opt if opt is None else opt, params)
    return optax.apply_updates(params, updates), new_opt


def adam_count(opt):
    return int(opt[1][0].count)


def assert_params_close(a, b):
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-5, atol=1e-7), a, b)


def params_differ(a, b):
    return any(not np.allclose(x, y, rtol=1e-4, atol=1e-6)
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


@pytest.mark.parametrize("minibatch,max_norm", [("first", None), ("random", None), ("first", 0.1)])
def test_post_update_is_one_adam_step_on_a_minibatch_from_the_saved_envs(toy_run, minibatch, max_norm):
    cfg = dataclasses.replace(TOY_CFG, post_update_minibatch=minibatch, post_update_max_grad_norm=max_norm)
    env, path, step = TOY, toy_run[1], 48
    st = read_toy_checkpoint(path, step)
    new = jax.jit(lambda s, k: ppo_agent.post_update_state(s, k, cfg, env))(st, K1)
    theta = jax.jit(lambda s, k: ppo_agent.post_update(s, k, None, 0, 0, cfg, env))(st, K1)

    # by hand: continue from the saved environments with split(K1)[0], the checkpoint's policy
    k_col, k_mb = jax.random.split(K1)
    batch = jax.jit(lambda *a: ppo_collection.collect(st, env, cfg, *a)[3])(*saved_toy_envs(path, step), k_col)
    B, n = cfg.batch_size, cfg.minibatch_size
    assert batch.obs.shape == (cfg.unroll_length, cfg.num_envs, 3) and n == B // cfg.num_minibatches == 12
    rows = jax.random.permutation(k_mb, B)[:n] if minibatch == "random" else np.arange(n)
    norm = cfg.max_grad_norm if max_norm is None else max_norm
    params, opt = jax.jit(one_adam_step_by_hand, static_argnums=(3,))(st, batch, rows, norm)
    assert_params_close({"actor": new.actor, "critic": new.critic}, params)
    assert_params_close(new.opt, opt)  # the checkpoint's Adam state, advanced by one step
    assert adam_count(new.opt) == adam_count(st.opt) + 1 == 2 * cfg.epochs * cfg.num_minibatches + 1
    assert_params_close(theta, {"actor": params["actor"], "obs_norm": st.obs_norm})
    assert tree_equal(theta["obs_norm"], st.obs_norm) and tree_equal(new.env_state, st.env_state)

    # the comparison has power: other minibatches, a fresh Adam state, another clip and
    # data collected from fresh resets each give another update
    step_by_hand = jax.jit(one_adam_step_by_hand, static_argnums=(3,))
    others = [step_by_hand(st, batch, np.arange(B), norm)[0],  # the whole batch
              step_by_hand(st, batch, np.arange(n, B), norm)[0],  # the other half
              one_adam_step_by_hand(st, batch, rows, norm, opt=ppo_optim.optimizer(cfg).init(params))[0]]
    fresh = ppo_collection.collect(st, env, cfg, *ppo_collection.fresh_envs(env, cfg, K2), k_col)[3]
    others.append(step_by_hand(st, fresh, rows, norm)[0])
    if minibatch == "first":
        others.append(step_by_hand(st, batch, jax.random.permutation(k_mb, B)[:n], norm)[0])
    if max_norm is not None:
        others.append(step_by_hand(st, batch, rows, cfg.max_grad_norm)[0])
    for i, o in enumerate(others):
        assert params_differ(o, params), i


@pytest.fixture(scope="module")
def toy_post(toy_run):
    """post_update of checkpoint step240 vmapped over keys [K1, K1, K2], as the estimator calls it."""
    st = read_toy_checkpoint(toy_run[0], 240)
    return st, jax.jit(jax.vmap(lambda k: ppo_agent.post_update(st, k, None, 0, 0, TOY_CFG, TOY)))(
        jnp.stack([K1, K1, K2]))


def test_post_update_same_key_reproduces_different_keys_differ(toy_post):
    st, out = toy_post
    row = lambda i: jax.tree_util.tree_map(lambda x: x[i], out)  # noqa: E731
    assert tree_equal(row(0), row(1))  # same key -> identical
    assert not tree_equal(row(0)["actor"], row(2)["actor"])  # different key -> different params
    assert params_differ(row(0)["actor"], row(2)["actor"])
    # the vmapped estimator's u equals the unbatched one
    one = jax.jit(lambda k: ppo_agent.post_update(st, k, None, 0, 0, TOY_CFG, TOY))(K2)
    assert_params_close(one, row(2))


def test_post_update_changes_policy_not_normaliser(toy_post):
    st, out = toy_post
    for i in range(3):
        theta = jax.tree_util.tree_map(lambda x: x[i], out)
        assert tree_equal(theta["obs_norm"], st.obs_norm)
        assert not tree_equal(theta["actor"], st.actor)


def test_checkpoint_without_saved_envs_is_refused_by_name(toy_run, tmp_path):
    """A training file from before env_state/ was saved: its policies still load, the
    authors' post-update raises, naming the file and the missing group."""
    old = str(tmp_path / "old.h5")
    shutil.copy(toy_run[0], old)
    with h5py.File(old, "a") as f:
        del f["checkpoints/step48/env_state"]
    st = read_toy_checkpoint(old, 48)
    assert not st.env_state.arrays
    assert tree_equal(ppo_state.policy_params(st), ppo_state.policy_params(read_toy_checkpoint(toy_run[0], 48)))
    with pytest.raises(CheckpointError, match=r"old\.h5: group /checkpoints/step48/env_state is missing"):
        ppo_agent.post_update(st, K1, None, 0, 0, TOY_CFG, TOY)
    with pytest.raises(CheckpointError, match="not read from a checkpoint"):  # a live training state
        ppo_agent.post_update(ppo_state.init(K1, 3, 2, TOY_CFG), K1, None, 0, 0, TOY_CFG, TOY)


def test_full_update_protocol_keeps_the_former_post_update(toy_state):
    """post_update_protocol 'full_update': fresh resets drawn with the key, then one full
    PPO update (epochs x minibatches Adam steps; the first k with post_update_grad_steps)."""
    cfg, env = dataclasses.replace(TOY_CFG, post_update_protocol="full_update"), TOY
    cfg1 = dataclasses.replace(cfg, post_update_grad_steps=1)
    post = jax.jit(lambda k: (ppo_agent.post_update_state(toy_state, k, cfg, env),
                              ppo_agent.post_update_state(toy_state, k, cfg1, env)))
    (full, first), (full2, _) = post(K1), post(K2)
    assert not tree_equal(full.actor, full2.actor)

    @jax.jit
    def by_hand(key):
        k_reset, k_col, k_upd = jax.random.split(key, 3)
        bt = ppo_collection.collect(toy_state, env, cfg, *ppo_collection.fresh_envs(env, cfg, k_reset), k_col)[3]
        return ppo_losses.ppo_update(toy_state, bt, k_upd, cfg, 2), ppo_losses.ppo_update(toy_state, bt, k_upd, cfg, 2, 1)

    new, one = by_hand(K1)
    assert_params_close(ppo_state.policy_params(new), ppo_state.policy_params(full))
    assert_params_close(ppo_state.policy_params(one), ppo_state.policy_params(first))
    assert adam_count(full.opt) - adam_count(toy_state.opt) == cfg.epochs * cfg.num_minibatches
    assert adam_count(first.opt) - adam_count(toy_state.opt) == 1
    assert not tree_equal(first.actor, full.actor)


def test_checkpoint_rounding_schedule():
    # paper: B = 32768, 60M steps, checkpoints every 6M
    n, ck, bounds = ppo_train_loop.schedule(60_000_000, [6_000_000 * i for i in range(1, 11)], 32768, 30)
    assert n == 1831 and ck[6_000_000] == 183 and ck[60_000_000] == 1831
    assert ppo_train_loop.iterations_for(16384, 32768) == 1 and ppo_train_loop.iterations_for(16383, 32768) == 1
    assert ppo_train_loop.iterations_for(49152, 32768) == 2 and ppo_train_loop.iterations_for(49151, 32768) == 1
    assert set(ck.values()) <= set(bounds) and bounds[-1] == n and bounds[0] == 30


def test_toy_training_resumes_bit_identically(toy_run, tmp_path):
    cfg, env = TOY_CFG, TOY
    kw = dict(total_steps=TOY_STEPS, checkpoint_steps=TOY_CKS, attrs={"algo": "ppo"}, max_chunk=48, resume_every=0.0)
    ref = toy_run
    out = [str(tmp_path / f"res{s}.h5") for s in (0, 1)]

    def die(msg):
        if "iteration 6/" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(ppo_agent, env, cfg, [0, 1], out_paths=out, log=die, **kw)
    s = train(ppo_agent, env, cfg, [0, 1], out_paths=out, log=lambda m: None, **kw)
    assert s["resumed_from"] == 6 * cfg.batch_size
    for a, b in zip(ref, out):
        with TrainFile(a) as fa, TrainFile(b) as fb:
            assert fa.checkpoint_steps == fb.checkpoint_steps == [48, 240]
            for k, v in fa.learning_curve().items():
                np.testing.assert_array_equal(v, fb.learning_curve()[k])
            for name in ("step48", "step240"):  # agent and saved environments
                ga, gb = fa.f["checkpoints"][name], fb.f["checkpoints"][name]
                assert "env_state/state/x" in gb
                ga.visititems(lambda n, o: np.testing.assert_array_equal(o[()], gb[n][()])
                              if isinstance(o, h5py.Dataset) else None)


# --- a tiny real run on Brax hopper --------------------------------------------------

@pytest.fixture(scope="module")
def hopper_runs(tmp_path_factory, jax_cache):
    from retland.base.envs import make_env

    cfg = ppo.PPOConfig(hidden=(16, 16), num_envs=8, unroll_length=8)  # B = 64
    env = make_env("hopper", "spring", episode_length=50)
    attrs = {"suite": "brax", "env": "hopper", "algo": "ppo", "backend": "spring", "episode_length": 50,
             "total_steps": 320, "checkpoint_steps": [128, 300], "agent_config": cfg.to_dict()}
    runs = []
    for r in range(2):
        d = tmp_path_factory.mktemp(f"ppo_hopper{r}")
        paths = [str(d / f"seed{s}.h5") for s in (0, 1)]
        summary = train(ppo_agent, env, cfg, [0, 1], total_steps=320, checkpoint_steps=[128, 300], out_paths=paths,
                        attrs=attrs, max_chunk=128, log=lambda m: None)
        runs.append((paths, summary))
    return cfg, env, runs


def test_hopper_training_files(hopper_runs):
    cfg, env, runs = hopper_runs
    paths, summary = runs[0]
    assert len(summary["final_eval_returns"]) == 2 and summary["resumed_from"] == 0
    spec = env.spec
    tmpl = jax.eval_shape(lambda k: ppo_state.init(k, spec.obs_dim, spec.act_dim, cfg), jax.random.PRNGKey(0))
    for p in paths:
        with TrainFile(p) as tf:
            assert tf.checkpoint_steps == [128, 300] and tf.n_replay_rows == 0
            lc = tf.learning_curve()
            np.testing.assert_array_equal(lc["step"], [128, 256, 320])  # 300 -> 5 iterations = 320 steps
            assert np.isfinite(lc["return"]).all() and (lc["length"] >= 1).all()
            g = tf.f["checkpoints"]["step300"]
            assert set(g) == {"actor", "critic", "opt", "obs_norm", "env_state"}
            assert g["env_state/ep_t"].shape == (cfg.num_envs,) and (g["env_state/ep_t"][()] < 50).all()
            assert g["env_state/state/obs"].shape == (cfg.num_envs, spec.obs_dim)
            assert (g.attrs["env_steps"], g.attrs["iterations"], g.attrs["n_updates"]) == (320, 5, 40)
            assert (g.attrs["replay_lo"], g.attrs["replay_hi"]) == (0, 0)
            state, _ = tf.checkpoint(300, tmpl)
            assert float(state.obs_norm.count) == pytest.approx(320 + 1e-4)
            assert "log_std" in state.actor["params"]
            early, _ = tf.checkpoint(128, tmpl)
            assert float(early.obs_norm.count) == pytest.approx(128 + 1e-4)
            assert not tree_equal(early.actor, state.actor)
    with TrainFile(paths[0]) as a, TrainFile(paths[1]) as b:  # seeds differ
        assert not np.array_equal(a.f["checkpoints/step300/actor/params/Dense_0/kernel"][()],
                                  b.f["checkpoints/step300/actor/params/Dense_0/kernel"][()])


def test_hopper_training_is_deterministic(hopper_runs):
    _, _, runs = hopper_runs
    for a, b in zip(runs[0][0], runs[1][0]):
        with h5py.File(a) as fa, h5py.File(b) as fb:
            names = []
            fa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            assert any(n.startswith("checkpoints/step300/opt") for n in names)
            for n in names:
                np.testing.assert_array_equal(fa[n][()], fb[n][()], err_msg=n)


def test_hopper_post_update_continues_the_saved_brax_states(hopper_runs):
    """On a real Brax state (pipeline state, info and metrics dicts): the saved
    environments rebuild into the structure training carries, and the estimator's
    vmapped post-update runs from them (one Adam step, same key reproduces)."""
    cfg, env, runs = hopper_runs
    spec = env.spec
    tmpl = jax.eval_shape(lambda k: ppo_state.init(k, spec.obs_dim, spec.act_dim, cfg), jax.random.PRNGKey(0))
    with TrainFile(runs[0][0][0]) as tf:
        st, _ = tf.checkpoint(128, tmpl)
        stored_obs = tf.f["checkpoints/step128/env_state/state/obs"][()]
    env_state, ep_t, ep_ret = ppo_collection.saved_envs(st, env, cfg)
    fresh = jax.eval_shape(lambda k: ppo_collection.fresh_envs(env, cfg, k), jax.random.PRNGKey(0))
    assert jax.tree_util.tree_structure(env_state) == jax.tree_util.tree_structure(fresh[0])
    np.testing.assert_array_equal(env.obs(env_state), stored_obs)
    post = jax.jit(jax.vmap(lambda k: ppo_agent.post_update_state(st, k, cfg, env)))
    out = post(jnp.stack([K1, K1, K2]))
    row = lambda i: jax.tree_util.tree_map(lambda x: x[i], out)  # noqa: E731
    assert tree_equal(row(0).actor, row(1).actor) and not tree_equal(row(0).actor, row(2).actor)
    assert adam_count(row(0).opt) == adam_count(st.opt) + 1
    assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(row(2).actor))
