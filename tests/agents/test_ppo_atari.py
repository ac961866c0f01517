"""PPO with discrete actions and the Nature CNN on Atari (paper A.6): the categorical
distribution and the CNN behind the one PPO implementation, host-stepped training
(``training.onpolicy.HostOnPolicyLoop``: deterministic, resumable after SIGKILL to identical files,
checkpoints holding the training environments' snapshots) and the authors' Atari
post-update (``ppo_agent.host_update`` through ``rollout.HostUpdateEstimator``) with greedy
evaluation."""

import os
import signal
import subprocess
import sys
import time

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from retland.agents import runs_in
from retland.agents import ppo
from retland.agents.ppo import (agent as ppo_agent, collection as ppo_collection, config as ppo_config,
                                losses as ppo_losses, networks as ppo_networks, state as ppo_state, train_loop as ppo_train_loop)
from retland.analyses.post_update import make_estimator
from retland.analyses.source import Source
from retland.base.atari import SNAPSHOT_SIZE, AtariEnv
from retland.base.checkpoints import CheckpointError, TrainFile
from retland.base.host import HostBatch
from retland.rollout import HostRollout, host_collect
from retland.training import train

from helpers import assert_same_training_files, datasets, tree_equal

GAME = "breakout"
EP_LEN = 60
# a tiny run of the Atari protocol's network and losses (CleanRL's ppo_atari settings but sizes)
CFG = ppo.PPOConfig(actions="discrete", torso="nature_cnn", normalize_observations=False, num_envs=2,
                    unroll_length=8, num_minibatches=2, epochs=2, learning_rate=2.5e-4, clip_coef=0.1,
                    vf_coef=0.5, ent_coef=0.01, max_grad_norm=0.5, clip_value_loss=True, anneal_lr_steps=96,
                    post_update_protocol="authors_atari")
STEPS, CKS = 96, [32, 96]


@pytest.fixture(scope="module")
def env():
    return AtariEnv(GAME, episode_length=EP_LEN)


def attrs(cfg=CFG):
    return {"suite": "atari", "env": GAME, "algo": "ppo", "backend": "ale", "episode_length": EP_LEN,
            "agent_config": cfg.to_dict()}


def test_atari_suite_is_registered_and_ppo_runs_in_it():
    from retland.base import envs

    assert envs.suite_of("breakout") == "atari" and envs.SUITES["atari"] is AtariEnv
    assert set(["qbert", "mspacman", "breakout", "seaquest"]) <= set(envs.known_envs())
    e = envs.make_env("pong", episode_length=10)
    assert isinstance(e, AtariEnv) and e.spec.backend == "ale" and e.host_stepped
    assert runs_in("ppo", "breakout") and runs_in("ppo", "hopper")
    assert not runs_in("td3", "breakout") and not runs_in("sac", "qbert")


# --- the distribution and the torso --------------------------------------------------

def test_categorical_log_prob_entropy_and_mode():
    logits = jnp.array([[0.0, 1.0, -1.0], [2.0, 2.0, 0.0]])
    p = np.exp(np.asarray(logits)) / np.exp(np.asarray(logits)).sum(-1, keepdims=True)
    a = jnp.array([1, 2])
    np.testing.assert_allclose(ppo_networks.Categorical.log_prob(logits, a), np.log(p[[0, 1], [1, 2]]), rtol=1e-6)
    np.testing.assert_allclose(ppo_networks.Categorical.entropy(logits), -(p * np.log(p)).sum(-1), rtol=1e-6)
    assert ppo_networks.Categorical.mode(logits).tolist() == [1, 0]
    draws = jax.vmap(lambda k: ppo_networks.Categorical.sample(logits[0], k))(jax.random.split(jax.random.PRNGKey(0), 4000))
    np.testing.assert_allclose(np.bincount(np.asarray(draws), minlength=3) / 4000, p[0], atol=0.03)


def test_config_refuses_mismatched_network_choices(env):
    with pytest.raises(ValueError, match="needs actions 'discrete'"):
        ppo.PPOConfig(torso="nature_cnn", normalize_observations=False)
    with pytest.raises(ValueError, match="normalize_observations: false"):
        ppo.PPOConfig(actions="discrete", torso="nature_cnn")
    with pytest.raises(ValueError, match="actions must be"):
        ppo.PPOConfig(actions="box")
    with pytest.raises(ValueError, match="has discrete actions: PPO needs actions: discrete"):
        ppo_config.check_env(env, ppo.PPOConfig())


def test_nature_cnn_shapes_init_and_greedy_policy(env):
    n_act = env.spec.act_dim
    st = ppo_state.init(jax.random.PRNGKey(0), env.spec.obs_dim, n_act, CFG)
    shapes = jax.tree_util.tree_map(jnp.shape, st.actor)
    conv = shapes["torso"]["params"]
    assert [conv[f"Conv_{i}"]["kernel"] for i in range(3)] == [(8, 8, 4, 32), (4, 4, 32, 64), (3, 3, 64, 64)]
    assert conv["Dense_0"]["kernel"] == (7 * 7 * 64, 512)
    assert shapes["head"]["params"]["kernel"] == (512, n_act)
    assert jax.tree_util.tree_map(jnp.shape, st.critic)["params"]["kernel"] == (512, 1)
    # policy head at orthogonal 0.01: near-uniform initial policy
    frames = jax.random.randint(jax.random.PRNGKey(1), (5, 84, 84, 4), 0, 256).astype(jnp.uint8)
    net = ppo_networks.nets(CFG, n_act)
    logits = net.actor(st.actor, frames)
    assert logits.shape == (5, n_act) and float(jnp.abs(logits).max()) < 0.1
    # flat or shaped observations, uint8 or float: the same numbers
    np.testing.assert_allclose(net.actor(st.actor, frames.reshape(5, -1).astype(jnp.float32)), logits, rtol=1e-5)
    greedy = ppo_agent.make_policy(n_act, CFG)(ppo_state.policy_params(st), frames)
    assert greedy.dtype == jnp.int32 and greedy.tolist() == jnp.argmax(logits, -1).tolist()


def test_discrete_loss_at_the_behaviour_policy_and_clipped_value_loss(env):
    n_act = env.spec.act_dim
    st = ppo_state.init(jax.random.PRNGKey(0), env.spec.obs_dim, n_act, CFG)
    k = jax.random.split(jax.random.PRNGKey(3), 3)
    obs = jax.random.randint(k[0], (6, 84, 84, 4), 0, 256).astype(jnp.uint8)
    act, logp = ppo_collection.sample_actions(st, obs, k[1], CFG, n_act)
    net = ppo_networks.nets(CFG, n_act)
    v = net.value(st.actor, st.critic, obs)
    ret = v + jnp.array([0.0, 0.05, -0.05, 1.0, -1.0, 0.3])  # beyond clip_coef 0.1 for the last three
    params = {"actor": st.actor, "critic": st.critic}
    mb = (obs, act, logp, jnp.arange(6.0), ret, v)
    _, (pg, v_loss, ent) = ppo_losses.ppo_loss(params, mb, st.obs_norm, CFG, n_act)
    assert float(pg) == pytest.approx(0.0, abs=1e-6)  # ratio 1, normalised advantages
    # at V = V_old the clipped term equals the unclipped one
    assert float(v_loss) == pytest.approx(0.5 * float(((v - ret) ** 2).mean()), rel=1e-5)
    assert float(ent) == pytest.approx(np.log(n_act), rel=1e-3)  # near-uniform policy


# --- host-stepped training ---------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory, jax_cache, env):
    """The same seed trained twice (two files each), and the post-update estimator's inputs."""
    d = tmp_path_factory.mktemp("ppo_atari")
    out = []
    for name in ("a", "b"):
        p = str(d / f"{name}.h5")
        train(ppo_agent, env, CFG, [3], total_steps=STEPS, checkpoint_steps=CKS, out_paths=[p], attrs=attrs(), max_chunk=32,
              log=lambda m: None)
        out.append(p)
    return out


def read_checkpoint(path, step, env):
    template = jax.eval_shape(lambda k: ppo_state.init(k, env.spec.obs_dim, env.spec.act_dim, CFG), jax.random.PRNGKey(0))
    with TrainFile(path) as tf:
        return tf.checkpoint(step, template)[0]


def test_same_seed_gives_identical_files_with_the_training_envs_in_checkpoints(runs, env):
    a, b = datasets(runs[0]), datasets(runs[1])
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    for s in CKS:
        snaps = a[f"checkpoints/step{s}/env_state/state"]
        assert snaps.shape == (CFG.num_envs, SNAPSHOT_SIZE)
        assert a[f"checkpoints/step{s}/env_state/ep_t"].shape == (CFG.num_envs,)
    assert not np.array_equal(a["checkpoints/step32/env_state/state"], a["checkpoints/step96/env_state/state"])
    with h5py.File(runs[0]) as f:
        assert f["checkpoints/step96"].attrs["iterations"] == STEPS // CFG.batch_size
        assert f["checkpoints/step96"].attrs["n_updates"] == 6 * CFG.epochs * CFG.num_minibatches
    st = read_checkpoint(runs[0], 96, env)
    assert int(st.opt[1][0].count) == 6 * CFG.epochs * CFG.num_minibatches  # Adam state saved


RESUME_SCRIPT = r"""
import sys
from retland.runtime import setup_jax
setup_jax(sys.argv[2])
from retland.base.atari import AtariEnv
from retland.training import train
from test_ppo_atari import CFG, STEPS, CKS, EP_LEN, GAME, attrs, ppo_agent
out = sys.argv[1]
env = AtariEnv(GAME, episode_length=EP_LEN)
s = train(ppo_agent, env, CFG, [0, 1], total_steps=STEPS, checkpoint_steps=CKS,
          out_paths=[f"{out}/seed0.h5", f"{out}/seed1.h5"], attrs=attrs(), max_chunk=16,
          log=lambda m: print(m, flush=True), resume_every=0.0)
print("RESUMED_FROM", s["resumed_from"], flush=True)
"""


@pytest.mark.slow
def test_killed_training_resumes_to_identical_files(tmp_path, jax_cache):
    import retland

    # the child imports this checkout's package, this test module's settings and tests/helpers.py
    here = os.path.dirname(os.path.abspath(__file__))
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(retland.__file__)))
    child_env = {**os.environ, "PYTHONPATH": os.pathsep.join([pkg_root, here, os.path.dirname(here)])}
    cache = str(tmp_path / "cache")
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    ref.mkdir()
    killed.mkdir()
    argv = [sys.executable, "-c", RESUME_SCRIPT]
    p = subprocess.run(argv + [str(ref), cache], capture_output=True, text=True, timeout=600, env=child_env)
    assert p.returncode == 0, p.stderr[-3000:]

    proc = subprocess.Popen(argv + [str(killed), cache], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=child_env)
    deadline = time.time() + 400
    for line in proc.stdout:  # SIGKILL (no clean-up) once iteration 3 of 6 is logged
        if "iteration 3/6" in line or time.time() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not os.path.exists(killed / "seed0.h5")
    assert os.path.exists(killed / ".seed0.h5.resume.h5")

    p = subprocess.run(argv + [str(killed), cache], capture_output=True, text=True, timeout=600, env=child_env)
    assert p.returncode == 0, p.stderr[-3000:]
    resumed = int(p.stdout.split("RESUMED_FROM")[1].split()[0])
    assert 3 * CFG.batch_size <= resumed < STEPS
    assert sorted(os.listdir(killed)) == ["seed0.h5", "seed1.h5"]
    assert_same_training_files(ref, killed)


# --- the post-update and greedy evaluation -------------------------------------------

def test_greedy_evaluation_never_samples(runs, env):
    st = read_checkpoint(runs[0], 96, env)
    params = jax.tree_util.tree_map(lambda x: jnp.stack([x, x, x]), ppo_state.policy_params(st))
    rollout = HostRollout(env, ppo_agent.make_policy(env.spec.act_dim, CFG), 200, 3)
    r1, l1 = rollout(params, env.reference_state())
    r2, l2 = rollout(params, env.reference_state())
    rollout.close()
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_array_equal(l1, l2)
    assert len(set(r1.tolist())) == 1 and len(set(l1.tolist())) == 1  # same params, same return


def test_host_collection_continues_the_saved_training_envs(runs, env):
    """The post-update's data start where training left its environments: the first
    observations are the saved snapshots' observations and the first actions are drawn."""
    st = read_checkpoint(runs[0], 96, env)
    snaps, ep_t, ep_ret = ppo_collection.saved_host_envs(st, CFG)
    batch = HostBatch(env.host_env_factory([0] * CFG.num_envs), CFG.num_envs)
    obs0 = batch.restore(snaps)
    sample = jax.jit(ppo_train_loop.host_fns(CFG, env.spec.act_dim)[0])
    cur = {"key": jax.random.PRNGKey(0)}

    def policy(o):
        cur["key"], env_action, action, logp = sample(st, cur["key"], jnp.asarray(o))
        return env_action, action, logp

    _, data, _ = host_collect(batch, policy, obs0, ep_t, ep_ret, CFG.unroll_length, EP_LEN)
    np.testing.assert_array_equal(data.obs[0], obs0)
    assert data.obs.shape == (CFG.unroll_length, CFG.num_envs, 84, 84, 4) and data.obs.dtype == np.uint8
    np.testing.assert_array_equal(data.obs[1:], data.next_obs[:-1] * (1 - data.end[:-1, :, None, None, None])
                                  + data.obs[1:] * data.end[:-1, :, None, None, None])
    assert (np.asarray(data.logp) < 0).all()


@pytest.fixture(scope="module")
def estimator(env):
    est = make_estimator(Source(ppo_agent, env, CFG), 200, chunk_size=3)
    yield est
    est.close()


def test_post_update_changes_policy_and_keys_give_different_updates(runs, env, estimator):
    st = read_checkpoint(runs[0], 96, env)
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    p1 = estimator.update_params(keys, st)
    p2 = estimator.update_params(keys, st)
    assert tree_equal(p1, p2)  # the saved envs are restored for every call: same key, same update
    theta = ppo_state.policy_params(st)
    one = [jax.tree_util.tree_map(lambda x, i=i: x[i], p1) for i in range(3)]
    for p in one:
        assert not tree_equal(p["actor"], theta["actor"])
        assert tree_equal(p["obs_norm"], theta["obs_norm"])
    assert not tree_equal(one[0]["actor"], one[1]["actor"]) and not tree_equal(one[1]["actor"], one[2]["actor"])
    r, lengths = estimator(keys, st, None, 0, 0, env.reference_state())
    assert r.shape == (3,) and lengths.shape == (3,) and (lengths >= 1).all()


def test_authors_atari_update_is_a_full_ppo_update_continuing_adam(runs, env):
    st = read_checkpoint(runs[0], 96, env)
    T, N = CFG.unroll_length, CFG.num_envs
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    obs = jax.random.randint(k[0], (T, N, 84, 84, 4), 0, 256).astype(jnp.uint8)
    action, logp = ppo_collection.sample_actions(st, obs, k[1], CFG, env.spec.act_dim)
    z = jnp.zeros((T, N))
    batch = ppo_losses.Batch(obs, action, logp, jax.random.normal(k[2], (T, N)), z, z, obs)
    new = jax.jit(lambda s, b: ppo_agent.update_from_saved(s, b, jax.random.PRNGKey(1), CFG, env.spec.act_dim))(st, batch)
    assert int(new.opt[1][0].count) == int(st.opt[1][0].count) + CFG.epochs * CFG.num_minibatches


def test_full_update_protocol_is_refused_on_host_suites(env):
    cfg = ppo.PPOConfig(actions="discrete", torso="nature_cnn", normalize_observations=False,
                        post_update_protocol="full_update")
    with pytest.raises(ValueError, match="no host-stepped version"):
        ppo_agent.host_update(cfg, env)
    st = ppo_state.init(jax.random.PRNGKey(0), env.spec.obs_dim, env.spec.act_dim, CFG)
    with pytest.raises(CheckpointError, match="no saved training environments"):
        ppo_collection.saved_host_envs(st, CFG)
    with pytest.raises(ValueError, match="use host_update"):
        ppo_agent.post_update(st, jax.random.PRNGKey(0), None, 0, 0, CFG, env)
