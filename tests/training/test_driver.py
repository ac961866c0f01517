"""The training driver and the post-update estimator on a tiny real Brax run."""

import json
import os

import jax
import numpy as np
import pytest

from retland.base.checkpoints import TrainFile
from retland.training import choose_chunk, train


def test_choose_chunk():
    # paper schedule: gcd(50k, 150k, ..., 1M) = 50k -> largest divisor <= 5000 is 5000
    assert choose_chunk(1_000_000, [50_000 + 100_000 * i for i in range(10)], 5000) == 5000
    assert choose_chunk(1200, [600, 1200], 1000) == 600
    assert choose_chunk(1000, [300], 1000) == 100
    assert choose_chunk(7, [7], 5) == 1


def test_training_file_contract(tiny_training):
    p = tiny_training["paths"][0]
    with TrainFile(p) as tf:
        a = tf.attrs
        assert a["format"] == "retland.train/1" and a["seed"] == 0 and a["backend"] == "spring"
        assert tf.checkpoint_steps == [100, 200]
        assert tf.n_replay_rows == 200  # one row per environment step, stored once
        lc = tf.learning_curve()
        np.testing.assert_array_equal(lc["step"], [100, 200])
        assert np.all(np.isfinite(lc["return"])) and np.all(lc["length"] >= 1)
        ck = tf.f["checkpoints"]["step100"].attrs
        assert (ck["replay_lo"], ck["replay_hi"]) == (0, 100)
        assert ck["n_updates"] == 100 - 60 + 1
        for g in ("actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt"):
            assert g in tf.f["checkpoints"]["step200"], g
        assert json.loads(a["agent_config"])["hidden"] == [16, 16]
        rep = tf.replay(0, 200)
        assert rep["obs"].shape == (200, 11) and rep["action"].shape == (200, 3)
        assert np.all(np.abs(rep["action"]) <= 1.0)
        # terminal transitions are true terminations: next_obs of row i == obs of row i+1 unless the
        # episode ended (terminated or hit the 50-step time limit)
        cont = np.all(np.isclose(rep["next_obs"][:-1], rep["obs"][1:]), axis=1)
        assert cont.mean() > 0.8
        assert np.all(cont[rep["terminal"][:-1] > 0] == False)  # noqa: E712
    # the two seeds really differ
    with TrainFile(tiny_training["paths"][1]) as tf1, TrainFile(p) as tf0:
        assert not np.array_equal(tf0.replay(0, 200)["action"], tf1.replay(0, 200)["action"])


def test_training_is_deterministic(tiny_training, tmp_path):
    """Same config (same seed set, so the same vmapped batch) -> bit-identical files on CPU."""
    t = tiny_training
    path = str(tmp_path / "again.h5")
    train(t["agent"], t["env"], t["cfg"], [0, 1], total_steps=200, checkpoint_steps=[100, 200],
          out_paths=[path, str(tmp_path / "s1.h5")], attrs=t["attrs"], max_chunk=100, log=lambda m: None)
    with TrainFile(path) as a, TrainFile(t["paths"][0]) as b:
        np.testing.assert_array_equal(a.replay(0, 200)["obs"], b.replay(0, 200)["obs"])
        np.testing.assert_array_equal(a.learning_curve()["return"], b.learning_curve()["return"])
        wa = a.f["checkpoints/step200/actor/params/MLP_0/Dense_0/kernel"][()]
        wb = b.f["checkpoints/step200/actor/params/MLP_0/Dense_0/kernel"][()]
        np.testing.assert_array_equal(wa, wb)


def test_killed_training_leaves_no_file(tiny_training, tmp_path):
    t = tiny_training
    path = str(tmp_path / "killed.h5")

    def die(msg):
        if "step 100/" in msg:
            raise KeyboardInterrupt("SIGINT")

    with pytest.raises(KeyboardInterrupt):
        train(t["agent"], t["env"], t["cfg"], [0], total_steps=200, checkpoint_steps=[100, 200], out_paths=[path],
              attrs=t["attrs"], max_chunk=100, log=die)
    assert os.listdir(tmp_path) == []


def test_post_update_job_outputs(tiny_training, tmp_path):
    from retland.base.checkpoints import read_post_update
    from retland.jobs.post_update import post_update_job

    outs = [str(tmp_path / "step100.h5"), str(tmp_path / "step200.h5")]
    post_update_job(train_path=tiny_training["paths"][0], seed=0, steps=[100, 200],
                    post_update={"n_samples": 12, "horizon": 30, "chunk_size": 5, "sample_seed": 0}, out_h5=outs)
    r, l, a = read_post_update(outs[1])
    assert r.shape == (12,) and np.all(np.isfinite(r)) and np.all((l >= 1) & (l <= 30))
    assert a["update_kind"] == "td3_actor_step" and a["learning_rate"] == 3e-4
    assert a["n_samples"] == 12 and a["horizon"] == 30 and a["backend"] == "spring" and a["step"] == 200
    assert len(np.unique(r)) > 1  # independent updates give different returns
    prov = json.loads(a["provenance"])
    assert {"versions", "git_commit", "jax_platform"} <= set(prov)
    # same key -> same numbers (chunking does not matter either)
    outs2 = [str(tmp_path / "b100.h5"), str(tmp_path / "b200.h5")]
    post_update_job(train_path=tiny_training["paths"][0], seed=0, steps=[100, 200],
                    post_update={"n_samples": 12, "horizon": 30, "chunk_size": 12, "sample_seed": 0}, out_h5=outs2)
    np.testing.assert_array_equal(read_post_update(outs2[1])[0], r)


def test_estimator_reproduces_single_rollouts(tiny_training):
    """Each post-update return equals a plain rollout of the updated parameters."""
    from retland.analyses.post_update import make_estimator
    from retland.jobs.sources import CheckpointSource
    from retland.rollout import make_rollout

    src = CheckpointSource(tiny_training["paths"][0])
    state, (lo, hi) = src.checkpoint(200)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    est = make_estimator(src, 40)
    ref = src.env.reference_state()
    r, _ = est(keys, state, src.replay, lo, hi, ref)
    roll = jax.jit(make_rollout(src.env, src.agent.make_policy(src.env.spec.act_dim, src.cfg), 40))
    for i in range(3):
        theta = src.agent.post_update(state, keys[i], src.replay, lo, hi, src.cfg, src.env)
        assert float(roll(theta, ref)[0]) == pytest.approx(float(r[i]), rel=1e-5)


def test_post_update_bits_do_not_depend_on_the_chunk_size(tiny_training):
    """On the CPU each sample's update is computed as if alone (rollout.map_updates): the same
    key gives the same updated parameters and return bit for bit whether 2, 4 or 6 samples
    share a call (post_update.chunk_size), and the parameters are the plain jitted update's.
    (A chunk of one sample is a program without the batch dimension, whose last bits may
    differ: docs/configuration.md.)"""
    from helpers import tree_equal

    from retland.analyses.post_update import make_estimator
    from retland.jobs.sources import CheckpointSource

    src = CheckpointSource(tiny_training["paths"][0])
    state, (lo, hi) = src.checkpoint(200)
    keys = jax.random.split(jax.random.PRNGKey(3), 6)
    est = make_estimator(src, 30)
    ref = src.env.reference_state()
    r6 = np.asarray(est(keys, state, src.replay, lo, hi, ref)[0])
    r4 = np.asarray(est(keys[2:], state, src.replay, lo, hi, ref)[0])
    np.testing.assert_array_equal(r6[2:], r4)
    np.testing.assert_array_equal(r6[4:], np.asarray(est(keys[4:], state, src.replay, lo, hi, ref)[0]))
    p6 = est.updates(keys, state, src.replay, lo, hi)
    one = jax.jit(lambda k: src.agent.post_update(state, k, src.replay, lo, hi, src.cfg, src.env))(keys[4])
    assert tree_equal(jax.tree_util.tree_map(lambda x: x[4], p6), one)


def test_offpolicy_chunk_compiles_once(tiny_training):
    """The chunk's carry keeps its types from chunk to chunk (brax types some state fields
    weakly), so a training job compiles its chunk once, not again at the second chunk."""
    from retland.base.envs import make_env

    agent, cfg = tiny_training["agent"], tiny_training["cfg"]
    setup = agent.training_setup(make_env("hopper", "spring", episode_length=50), cfg, [0, 1], 40, [40], 20,
                                 lambda m: None)
    carry, _ = setup.loop.advance(setup.carry, 0, 20)
    setup.loop.advance(carry, 20, 40)
    assert setup.loop.chunk_fn._cache_size() == 1
