"""E10 (paper A.5, Fig. 14-18): DeepMind Control tasks, stepped on the host.

The suite adapter (fixed observation order, action bounds, exact snapshots of s_I), the
host batch (worker processes step the same numbers as this process), the host rollout
(equal to a plain single-environment loop; the same parameters give the same return
twice), and the post-update job on a host-stepped training file.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from retland.base.dmc import DMC_TASKS, OBS_KEYS, DMCEnv, DMCTaskEnv
from retland.base.host import HostBatch, HostEnvError

PAPER_TASKS = ["quadruped-walk", "quadruped-run", "humanoid-stand", "humanoid-walk", "humanoid-run"]


def test_the_paper_tasks_with_their_sizes():
    assert set(PAPER_TASKS) <= set(DMC_TASKS)
    sizes = {n: (DMCEnv(n).spec.obs_dim, DMCEnv(n).spec.act_dim) for n in PAPER_TASKS}
    assert sizes == {"quadruped-walk": (78, 12), "quadruped-run": (78, 12), "humanoid-stand": (67, 21),
                     "humanoid-walk": (67, 21), "humanoid-run": (67, 21)}
    assert DMCEnv("humanoid-run").spec.suite == "dmc" and DMCEnv("humanoid-run").spec.backend == "mujoco"


@pytest.mark.parametrize("name", ["quadruped-walk", "humanoid-walk"])
def test_observation_is_the_dict_flattened_in_the_fixed_key_order(name):
    e = DMCTaskEnv(name, 3)
    obs = e.reset()
    raw = e.task.get_observation(e.physics)
    assert tuple(raw.keys()) == OBS_KEYS[DMC_TASKS[name][0]]
    want = np.concatenate([np.asarray(raw[k], np.float32).ravel() for k in OBS_KEYS[DMC_TASKS[name][0]]])
    assert obs.dtype == np.float32 and obs.shape == (e.obs_dim,)
    np.testing.assert_array_equal(obs, want)
    # the order is not the alphabetical one (a sorted flattening would differ)
    assert list(OBS_KEYS[DMC_TASKS[name][0]]) != sorted(OBS_KEYS[DMC_TASKS[name][0]])


def test_actions_reach_mujoco_as_they_are_and_mujoco_clamps_them_to_ctrlrange():
    """As the authors' DMC wrapper (eval_policy/jaxrl/wrappers/dmc_env.py): no rescaling onto
    the action spec; MuJoCo clamps each control to its ctrlrange (quadruped: lift [-1, 1.1],
    extend [-0.8, 0.8]). A lift action of 1.05 reaches the simulator as 1.05, 1.2 acts as
    1.1; an extend action of 0.9 acts as 0.8."""
    e = DMCTaskEnv("quadruped-walk", 0)
    e.reset()
    names = [e.physics.model.id2name(i, "actuator") for i in range(e.act_dim)]
    lift, extend = names.index("lift_front_left"), names.index("extend_front_left")
    np.testing.assert_allclose(e.physics.model.actuator_ctrlrange[[lift, extend]], [[-1, 1.1], [-0.8, 0.8]])
    snap = e.snapshot()

    def after(i, value):
        e.restore(snap)
        a = np.zeros(e.act_dim)
        a[i] = value
        obs = e.step(a)[0]
        return obs, e.physics.data.ctrl[i], e.physics.data.act.copy(), e.physics.data.qpos.copy()

    obs, ctrl, act, _ = after(lift, 1.05)
    assert ctrl == 1.05  # not mapped linearly (that gave 1.1525), not clipped at 1
    for i, beyond, edge, inside in ((lift, 1.2, 1.1, 1.05), (extend, 0.9, 0.8, 0.75)):
        b, e_, n = after(i, beyond), after(i, edge), after(i, inside)
        np.testing.assert_array_equal(b[0], e_[0])  # the simulator saw the clamped control
        np.testing.assert_array_equal(b[2], e_[2])
        np.testing.assert_array_equal(b[3], e_[3])
        assert not np.array_equal(n[2], e_[2])  # and a control inside the range is its own
    # a step of the filter actuator moves its activation towards the control it was given
    e.restore(snap)
    act0 = e.physics.data.act[lift]
    _, _, act, _ = after(lift, 1.05)
    _, _, act_edge, _ = after(lift, 1.1)
    assert act0 < act[lift] < act_edge[lift]


@pytest.mark.parametrize("name", ["quadruped-run", "humanoid-stand"])
def test_a_restored_snapshot_continues_bit_identically(name):
    a, b = DMCTaskEnv(name, 1), DMCTaskEnv(name, 2)
    rng = np.random.default_rng(0)
    a.reset()
    for _ in range(30):
        a.step(rng.uniform(-1, 1, a.act_dim))
    snap = a.snapshot()
    acts = rng.uniform(-1, 1, (100, a.act_dim))
    ra = [a.step(x) for x in acts] + [(a.reset(), 0.0, False)]  # the next reset draws from the same stream
    b.restore(snap)
    rb = [b.step(x) for x in acts] + [(b.reset(), 0.0, False)]
    for x, y in zip(ra, rb):
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1] == y[1]


def test_reference_state_is_the_reset_with_the_fixed_seed_and_training_resets_differ():
    env = DMCEnv("humanoid-walk")
    e = DMCTaskEnv("humanoid-walk", 0)
    np.testing.assert_array_equal(e.restore(env.reference_state()), DMCTaskEnv("humanoid-walk", 0).reset())
    assert not np.array_equal(DMCTaskEnv("humanoid-walk", 5).reset(), DMCTaskEnv("humanoid-walk", 6).reset())
    with pytest.raises(ValueError, match="snapshot has"):
        e.restore(np.zeros(3))


def test_bad_task_and_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown DMC task 'quadruped-fly'"):
        DMCEnv("quadruped-fly")
    with pytest.raises(ValueError, match="env_kwargs.humanoid-run"):
        DMCEnv("humanoid-run", env_kwargs={"n_frames": 2})


def test_worker_processes_step_the_same_numbers_as_this_process():
    env = DMCEnv("quadruped-walk")
    rng = np.random.default_rng(1)
    acts = rng.uniform(-1, 1, (20, 5, env.spec.act_dim))
    live = np.array([True, False, True, True, False])
    out = []
    for workers in (1, 2):
        with HostBatch(env.host_env_factory([3, 4, 5, 6, 7]), 5, workers) as b:
            o0 = b.reset()
            steps = [b.step(a, live, fill_obs=o0) for a in acts]
            out.append((o0, steps, b.snapshot()))
    (o1, s1, n1), (o2, s2, n2) = out
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(n1, n2)
    for (a, r, t), (b, q, u) in zip(s1, s2):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(r, q)
        np.testing.assert_array_equal(t, u)
        assert (r[~live] == 0).all() and t[~live].all()  # copies not live are not stepped
        np.testing.assert_array_equal(a[~live], o1[~live])


def _explode(i):
    raise RuntimeError(f"copy {i} cannot be built")


def test_a_failing_worker_is_a_clear_error():
    with pytest.raises(HostEnvError, match="copy 0 cannot be built"):
        HostBatch(_explode, 4, workers=2)


def _policies(env, n, seed=0):
    from retland.agents import get_agent

    agent = get_agent("td3")
    cfg = agent.Config(hidden=(32, 32))
    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    params = jax.vmap(lambda k: agent.init(k, env.spec.obs_dim, env.spec.act_dim, cfg).actor)(keys)
    return agent.make_policy(env.spec.act_dim, cfg), params


def test_host_rollout_equals_a_plain_loop_and_repeats_exactly():
    from retland.rollout import HostRollout

    env = DMCEnv("quadruped-walk", episode_length=1000)
    apply, params = _policies(env, 3)
    start = env.reference_state()
    horizon = 60
    roll = HostRollout(env, apply, horizon, batch_size=4, workers=2)
    r1, l1 = roll(params, start)
    r2, _ = roll(params, start)
    roll.close()
    np.testing.assert_array_equal(r1, r2)  # same parameters from s_I: the same return
    assert l1.tolist() == [horizon] * 3
    act = jax.jit(jax.vmap(apply))
    for i in range(3):  # one environment, one policy, a plain Python loop
        e = DMCTaskEnv("quadruped-walk", 0)
        obs = e.restore(start)
        p = jax.tree_util.tree_map(lambda x: x[i:i + 1], params)
        ret = 0.0
        for _ in range(horizon):
            a = np.asarray(act(p, jnp.asarray(obs[None])))[0]
            obs, r, _ = e.step(a)
            ret += r
        assert ret == pytest.approx(float(r1[i]), rel=1e-6, abs=1e-9)
    assert len(set(np.round(r1, 6))) == 3  # three different policies, three returns


def test_post_update_job_on_a_host_stepped_training_file(tmp_path, jax_cache):
    """E1 + E2 on DMC: TD3 trained host-stepped (two seeds, one job), then N post-update
    returns of a checkpoint, equal to the host rollouts of the updated policies."""
    from retland.agents import get_agent
    from retland.base.checkpoints import TrainFile, read_post_update
    from retland.base.envs import make_env
    from retland.jobs.sources import CheckpointSource, sample_key
    from retland.jobs.post_update import post_update_job
    from retland.rollout import HostRollout
    from retland.training import train

    agent = get_agent("td3")
    cfg = agent.Config(hidden=(16, 16), batch_size=32, learning_starts=40)
    env = make_env("quadruped-walk", "spring", episode_length=60)
    assert env.spec.backend == "mujoco"  # the Brax backend setting does not apply
    paths = [str(tmp_path / f"seed{s}.h5") for s in (0, 1)]
    attrs = {"suite": "dmc", "env": "quadruped-walk", "algo": "td3", "backend": "mujoco", "episode_length": 60,
             "total_steps": 160, "checkpoint_steps": [80, 160], "agent_config": cfg.to_dict()}
    summary = train(agent, env, cfg, [0, 1], total_steps=160, checkpoint_steps=[80, 160], out_paths=paths,
                    attrs=attrs, max_chunk=80, log=lambda m: None)
    assert len(summary["final_eval_returns"]) == 2
    with TrainFile(paths[0]) as tf:
        assert tf.checkpoint_steps == [80, 160] and tf.n_replay_rows == 160
        rows = tf.replay(0, 160)
    with TrainFile(paths[1]) as tf:
        assert not np.array_equal(rows["obs"], tf.replay(0, 160)["obs"])  # seeds differ
    assert (rows["terminal"] == 0).all()  # DMC tasks never terminate
    # episodes end by the time limit: the observation after step 60 is a fresh reset
    assert not np.array_equal(rows["next_obs"][59], rows["obs"][60])
    np.testing.assert_array_equal(rows["next_obs"][58], rows["obs"][59])

    outs = [str(tmp_path / "pu" / f"step{k}.h5") for k in (80, 160)]
    post_update_job(train_path=paths[0], seed=0, steps=[80, 160],
                    post_update={"n_samples": 5, "horizon": 30, "chunk_size": 5, "sample_seed": 0}, out_h5=outs,
                    workers=2)
    returns, lengths, a = read_post_update(outs[1])
    assert a["suite"] == "dmc" and a["backend"] == "mujoco" and a["env"] == "quadruped-walk"
    assert returns.shape == (5,) and (lengths == 30).all() and np.isfinite(returns).all()
    src = CheckpointSource(paths[0])
    state, (lo, hi) = src.checkpoint(160)
    keys = jax.random.split(sample_key(0, 0, 160), 5)
    # jitted as the estimator's updates are: op by op, float32 rounding differs in the last bits,
    # which 30 steps of the quadruped (actions passed to MuJoCo as they are) amplify past 1e-6
    params = jax.jit(jax.vmap(lambda k: agent.post_update(state, k, src.replay, lo, hi, cfg, src.env)))(keys)
    roll = HostRollout(src.env, agent.make_policy(env.spec.act_dim, cfg), 30, 5, workers=1)
    np.testing.assert_allclose(roll(params, src.env.reference_state())[0], returns, rtol=1e-6)
    roll.close()
