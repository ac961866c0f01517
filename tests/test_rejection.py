"""E8 (paper Sec. 4.2, Algorithm 1): the acceptance test and the rejection's exact rollback."""

import numpy as np
import pandas as pd
import pytest

from retland import stats as S
from retland.analyses import rejection as R


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
    from retland.jobs import CheckpointSource

    src = CheckpointSource(tiny_training["paths"][0])
    state, (lo, hi) = src.checkpoint(100)
    env, cfg, agent = src.env, src.cfg, src.agent
    start_state = env.reference_state()
    est = make_estimator(agent, env, cfg, 20)

    def estimate(st, buf, key):
        return post_update_returns(agent, env, cfg, st, buf.data, buf.lo, buf.hi, 4, 20, 4, key,
                                   start_state=start_state, log=lambda m: None, estimator=est)[0]

    propose = R.make_propose(agent, env, cfg)
    buf = R.working_buffer(src.replay, lo, hi, 3)
    carry = R.Carry(state, buf, env.reset(jax.random.PRNGKey(5)), jax.numpy.int32(0))
    pre_agent = jax.tree_util.tree_map(np.array, carry.agent)
    pre_buffer = jax.tree_util.tree_map(np.array, carry.buffer)
    key = jax.random.PRNGKey(7)

    held, acc, r_cur, r_new = R.algorithm1_step(carry, key, propose, estimate, lambda a, b: False)
    assert acc is False and r_cur.shape == (4,) and r_new.shape == (4,)
    assert _identical(held.agent, pre_agent) and _identical(held.buffer, pre_buffer)
    assert int(held.buffer.hi) == hi and int(held.ep_t) == 1  # the behaviour env moved on

    taken, acc, _, _ = R.algorithm1_step(carry, key, propose, estimate, lambda a, b: True)
    assert acc is True and int(taken.buffer.hi) == hi + 1
    # the proposal changed networks (actor, critic, targets) and both optimizer states
    for name in ("actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt"):
        assert not _identical(getattr(taken.agent, name), getattr(carry.agent, name)), name
    # the new transition sits at row hi, rows before it are untouched
    assert not np.array_equal(np.asarray(taken.buffer.data.obs[hi]), np.asarray(pre_buffer.data.obs[hi]))
    assert np.array_equal(np.asarray(taken.buffer.data.obs[:hi]), pre_buffer.data.obs[:hi])
    # the baseline step with the same key makes exactly the same proposal
    base, _ = R.td3_step(carry, key, propose, estimate)
    assert _identical(base.agent, taken.agent) and _identical(base.buffer, taken.buffer)

    rows = R.run_start_policy(carry, key, 2, propose, estimate, 0.1, 0.0, log=lambda m: None)
    df = pd.DataFrame(rows)
    assert len(df) == 2 * 3 and set(df.method) == {"rejection", "td3"}
    assert df[df.iteration == 0].drop(columns="method").drop_duplicates().shape[0] == 1
    assert df[df.method == "td3"].accepted.all()
    assert {"purd_mean", "purd_ltp", "purd_cvar_0.1"} <= set(df.columns)
