"""E8 (paper Sec. 4.2, Algorithm 1): the acceptance test, the rejection's exact rollback, the
learner counter (actor every second step), start policies resolvable at Algorithm 1's N, the
fresh final estimates (no winner's curse) and the claim (c) decision."""

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from retland import stats as S
from retland.analyses import rejection as R

from helpers import rejection_log


def test_cvar_comparison_uses_the_design_definition(monkeypatch):
    # alpha 0.25, 10 returns: docs/design.md CVaR = q + mean(min(R - q, 0)) / alpha with q the
    # linear quantile. cur: q = 40, CVaR = 40 - 9 / 0.25 = 4; prop: CVaR = 7. The variant
    # "mean of the returns <= q" ranks them the other way (10 vs 7): the decision flips.
    cur = np.array([0.0, 10.0, 20.0] + [100.0] * 7)
    prop = np.array([7.0] * 4 + [100.0] * 6)
    assert S.cvar(cur, 0.25) == pytest.approx(4.0) and S.cvar(prop, 0.25) == pytest.approx(7.0)
    assert cur[cur <= np.quantile(cur, 0.25)].mean() > prop[prop <= np.quantile(prop, 0.25)].mean()
    assert R.cvar_accept(cur, prop, 0.25, 0.0) is True
    assert R.cvar_accept(prop, cur, 0.25, 0.0) is False
    # delta: accept iff CVaR' >= (1 - delta) CVaR; worse = 0.8 cur has CVaR 3.2 = 0.8 * 4
    worse = 0.8 * cur
    assert not R.cvar_accept(cur, worse, 0.25, 0.0)
    assert not R.cvar_accept(cur, worse, 0.25, 0.19)
    assert R.cvar_accept(cur, worse, 0.25, 0.21)
    # the comparison calls stats.cvar with the configured level
    calls = []

    def spy(r, alpha):
        calls.append(alpha)
        return float(np.mean(r))

    monkeypatch.setattr(S, "cvar", spy)
    assert R.cvar_accept(cur, worse, 0.1, 0.0) is False
    assert calls == [0.1, 0.1]


def test_start_policies_are_noisy_and_seeded():
    t = pd.DataFrame({"env": "hopper", "algo": "td3", "seed": [0, 0, 1, 1, 2], "step": [1, 2, 1, 2, 1],
                      "mean": [100.0, 200, 300, -5, 50], "std": 1.0, "ltp": [0.1, 0.0, 0.2, 0.3, np.nan]})
    s = R.select_start_policies(t, "hopper", "td3", 2, seed=0)
    assert set(zip(s.seed, s.step)) == {(0, 1), (1, 1)} and s.noisy.all()
    s3 = R.select_start_policies(t, "hopper", "td3", 4, seed=0)
    assert len(s3) == 4 and s3.noisy.sum() == 2 and (2, 1) not in set(zip(s3.seed, s3.step))
    pd.testing.assert_frame_equal(s3, R.select_start_policies(t, "hopper", "td3", 4, seed=0))


def _leaves(x):
    import jax

    return [np.asarray(v) for v in jax.tree_util.tree_leaves(x)]


def _identical(x, y):
    lx, ly = _leaves(x), _leaves(y)
    return len(lx) == len(ly) and all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(lx, ly))


def test_rejected_step_restores_networks_optimizer_and_buffer(tiny_training):
    import jax

    from retland.analyses.post_update import make_estimator, post_update_returns
    from retland.jobs.sources import CheckpointSource

    src = CheckpointSource(tiny_training["paths"][0])
    state, (lo, hi) = src.checkpoint(100)
    env = src.env
    start_state = env.reference_state()
    est = make_estimator(src, 20)

    def estimate(st, buf, key):
        return post_update_returns(src, st, key, replay=buf.data, lo=buf.lo, hi=buf.hi, n_samples=4, horizon=20,
                                   chunk_size=4, start_state=start_state, log=lambda m: None, estimator=est)[0]

    propose = R.make_propose(src)
    buf = R.working_buffer(src.replay, lo, hi, 3)
    carry = R.start_carry(state, buf, env.reset(jax.random.PRNGKey(5)))
    pre_agent = jax.tree_util.tree_map(np.array, carry.agent)
    pre_buffer = jax.tree_util.tree_map(np.array, carry.buffer)
    key = jax.random.PRNGKey(7)

    held, acc, r_cur, r_new = R.algorithm1_step(carry, key, propose, estimate, lambda a, b: False)
    assert acc is False and r_cur.shape == (4,) and r_new.shape == (4,)
    assert _identical(held.agent, pre_agent) and _identical(held.buffer, pre_buffer)
    assert int(held.buffer.hi) == hi and int(held.ep_t) == 1  # the behaviour env moved on
    assert int(held.step) == 1  # the learner counter is restored with the agent

    taken, acc, _, _ = R.algorithm1_step(carry, key, propose, estimate, lambda a, b: True)
    assert acc is True and int(taken.buffer.hi) == hi + 1 and int(taken.step) == 2
    # learner step 1 (the first proposal from a checkpoint): critic only, as the authors'
    # fresh SimpleDDPGLearner (step 1, update_target = step % 2 == 0)
    for name in ("critic", "critic_opt"):
        assert not _identical(getattr(taken.agent, name), getattr(carry.agent, name)), name
    for name in ("actor", "actor_opt", "actor_target", "critic_target"):
        assert _identical(getattr(taken.agent, name), getattr(carry.agent, name)), name
    # learner step 2: actor, its optimizer and both targets too
    second, acc, _, _ = R.algorithm1_step(taken, jax.random.PRNGKey(8), propose, estimate, lambda a, b: True)
    assert int(second.step) == 3
    for name in ("actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt"):
        assert not _identical(getattr(second.agent, name), getattr(taken.agent, name)), name
    # the new transition sits at row hi, rows before it are untouched
    assert not np.array_equal(np.asarray(taken.buffer.data.obs[hi]), np.asarray(pre_buffer.data.obs[hi]))
    assert np.array_equal(np.asarray(taken.buffer.data.obs[:hi]), pre_buffer.data.obs[:hi])
    # the baseline step with the same key makes exactly the same proposal
    base, _ = R.td3_step(carry, key, propose, estimate)
    assert _identical(base.agent, taken.agent) and _identical(base.buffer, taken.buffer)

    rows = R.run_start_policy(carry, key, 2, propose, estimate, 0.1, 0.0, log=lambda m: None)
    df = pd.DataFrame(rows)
    assert len(df) == 2 * 3 + 2 and set(df.method) == {"rejection", "td3"}
    assert df[df.iteration == 0].drop(columns="method").drop_duplicates().shape[0] == 1
    it = R.iteration_log(df)
    assert it[it.method == "td3"].accepted.all()
    assert list(R.final_estimates(df).method) == ["rejection", "td3"]
    assert {"purd_mean", "purd_ltp", "purd_cvar_0.1", "final"} <= set(df.columns)


# ---------------------------------------------------------------------------------------
# learner counter: critic every proposal, actor and targets every second learner step
# ---------------------------------------------------------------------------------------
def test_td3_full_update_updates_the_actor_every_second_learner_step():
    """The authors' SimpleDDPGLearner (improve_ltp/jaxrl/agents/ddpg/simple_ddpg_learner.py
    l. 248, l. 57-78, target_update_period 2): odd counters update the critic only, even
    counters the critic, the actor and both targets. Works with a traced counter."""
    import jax

    from helpers import ACT, OBS, make_replay
    from retland.agents.td3 import agent as td3

    cfg = td3.TD3Config(hidden=(8, 8), batch_size=8)
    state = td3.init(jax.random.PRNGKey(0), OBS, ACT, cfg)
    replay = make_replay(64)
    key = jax.random.PRNGKey(1)
    fu = jax.jit(td3.full_update, static_argnames=("cfg", "act_dim"))
    for step, actor_moves in ((1, False), (2, True), (3, False), (4, True)):
        new = fu(state, key, replay, 0, 64, cfg=cfg, act_dim=ACT, step=jax.numpy.int32(step))
        assert not _identical(new.critic, state.critic) and not _identical(new.critic_opt, state.critic_opt)
        for name in ("actor", "actor_opt", "actor_target", "critic_target"):
            assert _identical(getattr(new, name), getattr(state, name)) is not actor_moves, (step, name)
    # the critic step is the same whether or not the actor moves (same minibatch and noise)
    a = td3.full_update(state, key, replay, 0, 64, cfg, ACT, 1)
    b = td3.full_update(state, key, replay, 0, 64, cfg, ACT, 2)
    assert _identical(a.critic, b.critic)


def _toy_env():
    """A minimal JAX environment with the interface ``make_propose`` uses."""
    import jax.numpy as jnp

    return SimpleNamespace(
        spec=SimpleNamespace(act_dim=2), episode_length=1000,
        obs=lambda s: s, step=lambda s, a: s + a.sum(), done=lambda s: jnp.float32(0.0),
        reward=lambda s: s.sum(), reset=lambda k: jnp.zeros(3))


def _counting_agent():
    """``full_update`` counts critic steps and actor steps (actor iff step % 2 == 0)."""
    import jax.numpy as jnp

    def full_update(state, key, data, lo, hi, cfg, act_dim, step):
        return {"critic": state["critic"] + 1, "actor": state["actor"] + (step % 2 == 0).astype(jnp.int32)}

    return SimpleNamespace(NAME="toy", explore=lambda st, obs, key, cfg, act_dim: jnp.zeros(act_dim),
                           full_update=full_update)


def test_learner_counter_starts_at_1_counts_kept_proposals_and_is_restored_on_rejection():
    import jax
    import jax.numpy as jnp

    from retland.analyses.source import Source
    from retland.base.replay import Transition

    env = _toy_env()
    propose = R.make_propose(Source(_counting_agent(), env, SimpleNamespace(buffer_size=1000)))
    replay = Transition(jnp.zeros((10, 3)), jnp.zeros((10, 2)), jnp.zeros(10), jnp.zeros((10, 3)), jnp.zeros(10))
    start = R.start_carry({"critic": jnp.int32(0), "actor": jnp.int32(0)}, R.working_buffer(replay, 0, 10, 8),
                          env.reset(None))
    assert int(start.step) == 1

    def estimate(agent, buffer, key):
        return np.zeros(4)

    # plain TD3: proposals 1..4 at counters 1..4, actor at 2 and 4
    c = start
    for i in range(4):
        c, _ = R.td3_step(c, jax.random.PRNGKey(i), propose, estimate)
    assert (int(c.agent["critic"]), int(c.agent["actor"]), int(c.step)) == (4, 2, 5)
    # Algorithm 1: reject, keep, reject, keep, keep -> counters 1, 1, 2, 2, 3: one actor step
    c = start
    for i, keep in enumerate((False, True, False, True, True)):
        c, acc, _, _ = R.algorithm1_step(c, jax.random.PRNGKey(i), propose, estimate, lambda a, b, k=keep: k)
        assert acc is keep
    assert (int(c.agent["critic"]), int(c.agent["actor"]), int(c.step)) == (3, 1, 4)
    assert int(c.buffer.hi) == 13  # the kept transitions only


# ---------------------------------------------------------------------------------------
# start policies resolvable at Algorithm 1's N
# ---------------------------------------------------------------------------------------
def _table():
    return pd.DataFrame({"env": "hopper", "algo": "td3", "seed": [0, 0, 1, 1, 2, 2], "step": [1, 2, 1, 2, 1, 2],
                         "mean": [100.0, 200, 300, 400, 50, -5], "std": 1.0, "n": 200,
                         "ltp": [0.005, 0.01, 0.2, 0.0, 0.15, 0.3]})


def test_start_policies_are_resolvable_at_algorithm_1s_n():
    t = _table()
    # N = 16, k = 2: table LTP >= 0.125 -> (1, 1) and (2, 1); (2, 2) has a negative mean
    s = R.select_start_policies(t, "hopper", "td3", 2, seed=0, n_samples=16, allow_unresolvable=False)
    assert set(zip(s.seed, s.step)) == {(1, 1), (2, 1)} and s.resolvable.all() and s.noisy.all()
    assert np.allclose(s.min_ltp, 2 / 16) and (s.ltp_table == s.ltp).all() and (s.n_table == 200).all()
    # more starts than resolvable: the noisy unresolvable ones next, flagged
    s4 = R.select_start_policies(t, "hopper", "td3", 4, seed=0, n_samples=16, allow_unresolvable=False)
    assert s4.resolvable.sum() == 2 and s4.noisy.sum() == 4
    assert set(zip(s4[~s4.resolvable].seed, s4[~s4.resolvable].step)) == {(0, 1), (0, 2)}
    # k is a setting: k = 4 at N = 16 needs LTP >= 0.25: none (the 0.3 one has a negative mean)
    with pytest.raises(ValueError, match=r"'rejection.n_samples'.*N = 16.*0\.25.*N >= 20"):
        R.select_start_policies(t, "hopper", "td3", 2, seed=0, n_samples=16, min_expected_failures=4,
                                allow_unresolvable=False)
    # N too small for every start: refused naming the key, or run flagged where allowed
    with pytest.raises(ValueError, match=r"'rejection.n_samples'.*N = 8.*largest is 0\.2.*N >= 10"):
        R.select_start_policies(t, "hopper", "td3", 2, seed=0, n_samples=8, allow_unresolvable=False)
    f = R.select_start_policies(t, "hopper", "td3", 2, seed=0, n_samples=8, allow_unresolvable=True)
    assert len(f) == 2 and not f.resolvable.any() and f.noisy.all()
    # a larger N resolves more: at N = 200 every noisy policy but LTP 0.005 < 2 / 200
    s200 = R.select_start_policies(t, "hopper", "td3", 4, seed=0, n_samples=200)
    assert set(zip(s200[s200.resolvable].seed, s200[s200.resolvable].step)) == {(0, 2), (1, 1), (2, 1)}


def test_start_ltps_records_the_start_ltp_at_algorithm_1s_n():
    starts = R.select_start_policies(_table(), "hopper", "td3", 2, seed=0, n_samples=16)
    rows = []
    for seed, step, ltps in ((1, 1, [0.25, 0.125]), (2, 1, [0.0, 0.0])):
        for run, l0 in enumerate(ltps):
            for m in R.METHODS:
                rows += [dict(env="hopper", seed=seed, step=step, run_index=run, method=m, iteration=0, final=False,
                              accepted=True, purd_mean=1.0, purd_ltp=l0),
                         dict(env="hopper", seed=seed, step=step, run_index=run, method=m, iteration=1, final=True,
                              accepted=None, purd_mean=1.0, purd_ltp=0.9)]
    out = R.start_ltps(starts, pd.DataFrame(rows), 16).set_index(["seed", "step"])
    assert out.loc[(1, 1), "ltp_start"] == pytest.approx(0.1875) and out.loc[(1, 1), "ltp_table"] == 0.2
    assert (out.loc[(1, 1), "ltp_start_min"], out.loc[(1, 1), "ltp_start_max"]) == (0.125, 0.25)
    assert out.loc[(2, 1), "ltp_start"] == 0.0 and (out["n_alg1"] == 16).all()


# ---------------------------------------------------------------------------------------
# fresh final estimates: no winner's curse
# ---------------------------------------------------------------------------------------
def _noise_estimate(n=20, p_fail=0.08, record=None):
    """i.i.d. post-update returns with no effect of any update: the sample depends only on
    the key (and the agent's id, so two different agents get independent samples)."""
    import jax

    def estimate(agent, buffer, key):
        kd = tuple(int(x) for x in np.asarray(jax.random.key_data(key)).ravel())
        if record is not None:
            record.append(kd)
        rng = np.random.default_rng(list(kd) + [int(agent)])
        fail = rng.random(n) < p_fail
        return np.where(fail, rng.uniform(0.0, 300.0, n), rng.normal(1000.0, 20.0, n))

    return estimate


def _toy_propose(c, key):
    return c._replace(agent=c.agent + 1, step=c.step + 1, ep_t=c.ep_t + 1)


def _toy_carry():
    return R.Carry(0, None, None, 0, 1)


def _noise_log(n_envs=3, n_runs=30, n_iterations=2):
    import jax

    rows = []
    for e in range(n_envs):
        for run in range(n_runs):
            key = jax.random.fold_in(jax.random.PRNGKey(e), run)
            for r in R.run_start_policy(_toy_carry(), key, n_iterations, _toy_propose, _noise_estimate(), 0.1, 0.0,
                                        log=lambda m: None):
                rows.append(dict(env=f"env{e}", seed=0, step=100, run_index=run, **r))
    return pd.DataFrame(rows)


def test_final_estimates_use_fresh_keys_and_the_same_n(tmp_path):
    import jax

    keys = []
    rows = R.run_start_policy(_toy_carry(), jax.random.PRNGKey(3), 3, _toy_propose, _noise_estimate(record=keys),
                              0.1, 0.0, log=lambda m: None)
    df = pd.DataFrame(rows)
    fin = R.final_estimates(df)
    assert list(fin.method) == ["rejection", "td3"] and (fin.iteration == 3).all() and fin.accepted.isna().all()
    assert len(R.iteration_log(df)) == 2 * 4
    # 1 start + 3 x (2 rejection + 1 td3) estimates during the iterations, then 2 final ones
    assert len(keys) == 1 + 3 * 3 + 2
    during, final = keys[:-2], keys[-2:]
    assert final[0] == final[1]  # common random numbers for the two arms
    assert final[0] not in set(during)  # never used by an estimate that decided an iteration
    # the table round-trips through CSV with the final marker and empty accepted
    df2 = df.assign(env="hopper", seed=0, step=1, run_index=0)
    df2.to_csv(tmp_path / "r.csv", index=False)
    back = pd.read_csv(tmp_path / "r.csv")
    pd.testing.assert_frame_equal(R.ltp_reductions(back), R.ltp_reductions(df2))
    pd.testing.assert_frame_equal(R.rejection_frequency(back), R.rejection_frequency(df2))


def _log_with_final(ends: dict, logged: dict | None = None, envs=("hopper", "walker2d"), runs=4, start=0.3):
    """Constructed table: per (env, run), iteration 0 at ``start`` for both methods, one logged
    iteration (``logged[method]``) and the final estimate (``ends[method](env, run)``)."""
    rows = []
    for env in envs:
        for run in range(runs):
            for m in R.METHODS:
                common = dict(env=env, seed=0, step=100, run_index=run, method=m)
                rows.append(dict(common, iteration=0, final=False, accepted=True, purd_mean=500.0, purd_ltp=start))
                rows.append(dict(common, iteration=1, final=False, accepted=m == "td3" or run % 2 == 0,
                                 purd_mean=500.0, purd_ltp=(logged or {}).get(m, 0.0)))
                rows.append(dict(common, iteration=1, final=True, accepted=None, purd_mean=480.0,
                                 purd_ltp=ends[m](env, run)))
    return pd.DataFrame(rows)


def test_ltp_reduction_uses_the_final_estimate_not_the_logged_winner():
    log = _log_with_final({"rejection": lambda e, r: 0.2, "td3": lambda e, r: 0.25}, logged={"rejection": 0.0,
                                                                                            "td3": 0.3})
    red = R.ltp_reductions(log)
    assert (red.end_estimate == "final").all()
    assert red[red.method == "rejection"].ltp_reduction.to_numpy() == pytest.approx(0.1)
    assert red[red.method == "td3"].ltp_reduction.to_numpy() == pytest.approx(0.05)
    assert (red[red.method == "rejection"].ltp_end_logged == 0.0).all()
    assert (red.mean_end == 480.0).all()
    f = R.rejection_frequency(log).set_index("env")
    assert f.loc["hopper", "mean"] == pytest.approx(0.5) and f.loc["hopper", "n"] == 4


def test_claim_c_holds_on_constructed_data():
    # rejection ends at 0.1 (+- a little), plain TD3 at 0.25: the paired difference is ~0.15 > 0
    log = _log_with_final({"rejection": lambda e, r: 0.1 + 0.01 * r, "td3": lambda e, r: 0.25 + 0.005 * r})
    s = R.ltp_reduction_summary(log, 500, 0.95, 0)
    assert (s.end_estimate == "final").all()
    c = R.claim_c(s)
    assert c["holds"] is True and c["lo"] > 0 and c["n"] == 8 and c["end_estimate"] == "final"
    assert c["value"] == pytest.approx(np.mean([0.15 - 0.005 * r for r in range(4)]))
    assert c["rejection"][0] > c["td3"][0]
    assert set(c["rows"]) == {"rejection", "td3", "rejection_minus_td3"}
    assert c["rows"]["rejection_minus_td3"] == {"mean": c["value"], "lo": c["lo"], "hi": c["hi"], "n": 8}


def test_claim_c_does_not_hold_on_constructed_data():
    # rejection no better than TD3 on average: the difference's interval contains 0
    log = _log_with_final({"rejection": lambda e, r: 0.2 + (0.05 if r % 2 else -0.05), "td3": lambda e, r: 0.2})
    c = R.claim_c(R.ltp_reduction_summary(log, 500, 0.95, 0))
    assert c["holds"] is False and c["lo"] <= 0 <= c["hi"] and c["value"] == pytest.approx(0.0)
    # rejection worse: does not hold either
    log = _log_with_final({"rejection": lambda e, r: 0.3, "td3": lambda e, r: 0.1 + 0.01 * r})
    c = R.claim_c(R.ltp_reduction_summary(log, 500, 0.95, 0))
    assert c["holds"] is False and c["hi"] < 0
    # no paired runs at all
    assert R.claim_c(pd.DataFrame({"method": ["td3"], "mean": [0.1], "lo": [0.0], "hi": [0.2], "n": [3]}))[
        "holds"] is False


def test_winners_curse_biased_logged_end_says_holds_fresh_final_estimate_does_not():
    """No real effect (every estimate is i.i.d. noise, whatever the agent): the end LTP
    logged for Algorithm 1 is the winner of its own CVaR comparison and lies below plain
    TD3's, so the logged end point would support claim (c); the fresh final estimates do
    not."""
    log = _noise_log()
    it = R.iteration_log(log)
    last = it[it.iteration == it.iteration.max()].groupby("method").purd_ltp.mean()
    assert last["rejection"] < last["td3"] - 0.02  # the winner's curse
    with pytest.warns(UserWarning, match="biased"):
        biased = R.ltp_reduction_summary(it, 1000, 0.95, 0)  # end = last logged iteration (legacy)
    assert (biased.end_estimate == "last_iteration").all()
    b = R.claim_c(biased, require_final=False)
    assert b["holds"] is True and b["lo"] > 0
    assert R.claim_c(biased)["holds"] is False  # a biased table never supports the claim
    fin = R.final_estimates(log).groupby("method").purd_ltp.mean()
    assert abs(fin["rejection"] - fin["td3"]) < 0.02
    c = R.claim_c(R.ltp_reduction_summary(log, 1000, 0.95, 0))
    assert c["end_estimate"] == "final" and c["holds"] is False and c["lo"] <= 0 <= c["hi"]


def test_rejection_job_writes_final_rows_and_start_ltps(tiny_training, tmp_path):
    """The job end to end on the tiny run: the CSV contract (``final`` rows), starts.csv with
    the table LTP and the start LTP at Algorithm 1's N, and the refusal naming the key."""
    from retland.jobs.rejection import rejection_job

    stats = pd.DataFrame({"env": "hopper", "algo": "td3", "seed": [0, 0, 1], "step": [100, 200, 100],
                          "mean": [10.0, 12.0, 9.0], "std": 1.0, "n": 200, "ltp": [0.5, 0.01, 0.0]})
    stats.to_csv(tmp_path / "pu.csv", index=False)
    p = dict(algo="td3", n_starts=1, n_runs=1, n_iterations=2, n_samples=4, cvar_alpha=0.1, delta=0.0,
             horizon=20, chunk_size=4, seed=0, min_expected_failures=2, allow_unresolvable_starts=False)
    out, starts = str(tmp_path / "rejection.csv"), str(tmp_path / "starts.csv")
    job = dict(env="hopper", stats_csv=str(tmp_path / "pu.csv"), train_paths=tiny_training["paths"], out_csv=out,
               out_starts=starts)
    rejection_job(rejection=p, **job)
    df = pd.read_csv(out)
    assert list(df.columns) == ["env", "seed", "step", "run_index", "method", "iteration", "final", "accepted",
                                "purd_mean", "purd_ltp", "purd_cvar_0.1"]
    assert len(df) == 2 * 3 + 2 and df["final"].sum() == 2
    assert R.final_estimates(df)["iteration"].tolist() == [2, 2] and R.final_estimates(df)["accepted"].isna().all()
    s = pd.read_csv(starts)
    assert (s.seed.tolist(), s.step.tolist()) == ([0], [100]) and s.resolvable.all()
    assert s.ltp_table.iloc[0] == 0.5 and s.n_alg1.iloc[0] == 4 and s.n_table.iloc[0] == 200
    it0 = df[(df.iteration == 0) & (df.method == "td3")].purd_ltp.iloc[0]
    assert s.ltp_start.iloc[0] == pytest.approx(it0)
    assert R.ltp_reductions(df).end_estimate.eq("final").all()
    # N = 2 cannot resolve LTP 0.5 with k = 2 (needs 1.0): refused, naming the key
    with pytest.raises(ValueError, match="'rejection.n_samples'"):
        rejection_job(rejection=dict(p, n_samples=2), **job)


# --- E8/E9 summaries: LTP reduction (Fig. 7), rejection frequency (Fig. 26), CVaR ranking (Fig. 25) ---

def test_ltp_reduction_and_rejection_frequency(tmp_path):
    log = rejection_log()
    log.to_csv(tmp_path / "r.csv", index=False)  # as the jobs read it: final bool, accepted empty
    for df in (log, pd.read_csv(tmp_path / "r.csv")):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # a table with final rows is not a legacy one
            red = R.ltp_reductions(df).set_index(["env", "method"])
            s = R.ltp_reduction_summary(df, 200, 0.95, 0).set_index("method")
        assert (red["end_estimate"] == "final").all() and (s["end_estimate"] == "final").all()
        assert red.loc[("hopper", "rejection"), "ltp_reduction"] == pytest.approx(0.3)
        assert red.loc[("walker2d", "td3"), "ltp_reduction"] == pytest.approx(-0.05)
        assert red.loc[("hopper", "rejection"), "ltp_end_logged"] == pytest.approx(0.05)
        assert red.loc[("hopper", "rejection"), "mean_end"] == 990.0
        assert red.loc[("hopper", "rejection"), "rejection_frequency"] == pytest.approx(0.5)
        assert red.loc[("hopper", "td3"), "rejection_frequency"] == 0.0
        assert s.loc["rejection", "mean"] == pytest.approx((0.3 + 0.1) / 2)
        assert s.loc["td3", "mean"] == pytest.approx((0.1 - 0.05) / 2)
        assert s.loc["rejection_minus_td3", "mean"] == pytest.approx((0.2 + 0.15) / 2)
        # the final rows (accepted empty) are not proposals: 1 of 2 rejected, n = 1 run per env
        f = R.rejection_frequency(df).set_index("env")
        assert f.loc["hopper", "mean"] == pytest.approx(0.5) and f.loc["hopper", "se"] == 0.0
        assert f.loc["hopper", "n"] == 1
    # a legacy table without final rows: the end is the last logged iteration, with a warning
    with pytest.warns(UserWarning, match="no fresh final estimate"):
        old = R.ltp_reductions(rejection_log(final=False)).set_index(["env", "method"])
    assert (old["end_estimate"] == "last_iteration").all()
    assert old.loc[("hopper", "rejection"), "ltp_reduction"] == pytest.approx(0.35)


def test_cvar_ranking_uses_stats_cvar_and_ranks_within_env():
    t = pd.DataFrame({"suite": "brax", "env": ["hopper"] * 3, "algo": "td3", "seed": [0, 0, 1], "step": [1, 2, 1],
                      "mean": 0.0, "ltp": 0.0})
    rets = {(0, 1): np.r_[np.zeros(10), np.full(90, 1000.0)],  # high mean, bad tail
            (0, 2): np.full(100, 600.0),                       # safe
            (1, 1): np.r_[np.full(5, 300.0), np.full(95, 900.0)]}
    df = R.cvar_ranking(t, lambda r: rets[(r.seed, r.step)], [0.01, 0.1, 1.0])
    for s_, st_ in rets:
        row = df[(df.seed == s_) & (df.step == st_)].iloc[0]
        assert row["cvar_0.1"] == pytest.approx(S.cvar(rets[(s_, st_)], 0.1))
    assert list(df.sort_values("rank_1")[["seed", "step"]].itertuples(index=False, name=None))[0] == (0, 1)
    assert list(df.sort_values("rank_0.01")[["seed", "step"]].itertuples(index=False, name=None))[0] == (0, 2)
