"""E3 (paper Fig. 1, 27; A.2, A.12): landscape grid and pair selection."""
import numpy as np
import pandas as pd
import pytest

from retland.analyses.landscape import (gait_frame_steps, grid_axes, grid_points, select_pair)


def _stats(rows):
    return pd.DataFrame(rows, columns=["env", "algo", "seed", "step", "mean", "std", "ltp"])


def _check_labels(p, tol=None):
    """The labels of a non-fallback pair are true: smooth has the lower std, an LTP no
    higher than noisy's, and the two means are within the tolerance used."""
    n, s = p["noisy"], p["smooth"]
    assert s["std"] < n["std"]
    assert s["ltp"] <= n["ltp"]
    assert abs(n["mean"] - s["mean"]) / max(n["mean"], s["mean"]) <= p["mean_tol"] + 1e-12
    if tol is not None:
        assert p["mean_tol"] == tol


def test_select_pair_similar_mean_largest_std_contrast():
    df = _stats([
        ("hopper", "td3", 0, 1, 1000.0, 10.0, 0.00),
        ("hopper", "td3", 0, 2, 1050.0, 50.0, 0.30),   # similar to 1000: std contrast 40 / 1050
        ("hopper", "td3", 2, 1, 1040.0, 30.0, 0.10),
        ("hopper", "td3", 1, 1, 1500.0, 10.0, 0.00),
        ("hopper", "td3", 1, 2, 2000.0, 900.0, 0.90),  # largest std but no partner within 10%
        ("ant", "td3", 0, 1, 1020.0, 10.0, 0.99),      # other env: ignored
    ])
    p = select_pair(df, "hopper")
    assert (p["noisy"]["seed"], p["noisy"]["step"]) == (0, 2)
    assert (p["smooth"]["seed"], p["smooth"]["step"]) == (0, 1)
    assert p["fallback"] == "" and p["contrast"] == pytest.approx(40 / 1050)
    _check_labels(p, tol=0.1)


def test_select_pair_never_calls_the_higher_std_policy_smooth():
    """A user's run showed a "smooth" policy of std 253 against a "noisy" one of std 98: the
    pair had been chosen by LTP difference alone. The lower-std member is always "smooth",
    and a pair whose lower-std member has the higher LTP is not chosen while another is."""
    df = _stats([
        ("hopper", "sac", 0, 1, 1000.0, 98.0, 0.05),   # lower std but higher LTP than (1, 1)
        ("hopper", "sac", 1, 1, 1020.0, 253.0, 0.00),
        ("hopper", "sac", 2, 1, 990.0, 20.0, 0.00),
    ])
    p = select_pair(df, "hopper")
    assert (p["noisy"]["seed"], p["smooth"]["seed"]) == (1, 2)
    _check_labels(p, tol=0.1)
    assert p["fallback"] == "" and "LTP <= noisy's" in p["reason"]


def test_select_pair_labels_true_on_random_tables():
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(2, 12))
        ltp = rng.uniform(0, 0.4, k)
        ltp[rng.random(k) < 0.15] = np.nan
        df = _stats([("hopper", "sac", i, 1, m, sd, lt) for i, (m, sd, lt) in
                     enumerate(zip(rng.uniform(500, 1500, k), rng.uniform(1, 400, k), ltp))])
        p = select_pair(df, "hopper", mean_tol=0.1)
        assert p["smooth"]["std"] <= p["noisy"]["std"]  # always, fallback or not
        if not p["fallback"]:
            _check_labels(p, tol=0.1)
            # the largest contrast among the qualifying pairs
            m, sd, lt = (df[c].to_numpy(float) for c in ("mean", "std", "ltp"))
            keep = m >= 0.5 * m.max()
            keep = keep if keep.sum() >= 2 else np.ones(k, bool)  # analyses.interpolation.learned_policies
            best = 0.0
            for i in range(k):
                for j in range(k):
                    if (keep[i] and keep[j] and sd[i] < sd[j] and np.isfinite(lt[i]) and np.isfinite(lt[j])
                            and lt[i] <= lt[j] and abs(m[i] - m[j]) / max(m[i], m[j]) <= 0.1 + 1e-12):
                        best = max(best, (sd[j] - sd[i]) / max(m[i], m[j]))
            assert p["contrast"] == pytest.approx(best)
        elif p["fallback"].startswith("no pair within"):
            _check_labels(p)
            assert p["mean_tol"] > 0.1


def test_select_pair_skips_policies_that_fall_at_once():
    """Two policies that fall immediately (same tiny return, flat neighbourhood) must not be
    the Fig. 1 pair when policies that learned something exist."""
    df = _stats([
        ("hopper", "td3", 0, 1, 21.61, 1e-6, 0.0),
        ("hopper", "td3", 1, 1, 21.61, 3e-7, 0.0),
        ("hopper", "td3", 0, 2, 300.0, 30.0, 0.0),
        ("hopper", "td3", 1, 2, 310.0, 2.0, 0.0),
    ])
    p = select_pair(df, "hopper")
    assert {p["noisy"]["step"], p["smooth"]["step"]} == {2}
    assert p["noisy"]["seed"] == 0 and "0.5 x the best" in p["reason"]
    _check_labels(p)


def test_select_pair_widened_tolerance_is_a_fallback():
    df = _stats([
        ("hopper", "td3", 0, 1, 100.0, 1.0, 0.0),
        ("hopper", "td3", 0, 2, 130.0, 20.0, 0.0),   # 23% apart: needs tol 0.4
        ("hopper", "td3", 0, 3, -5.0, 1.0, np.nan),  # negative mean: not a candidate
    ])
    p = select_pair(df, "hopper")
    assert p["mean_tol"] == pytest.approx(0.4)
    assert p["noisy"]["step"] == 2 and p["smooth"]["step"] == 1
    assert "widened to 0.4" in p["fallback"] and "0.4" in p["reason"]
    _check_labels(p)
    assert select_pair(df, "hopper", mean_tol=0.3)["fallback"] == ""  # configured wide enough


def test_select_pair_no_consistent_pair_says_so():
    """Every pair has its lower-std member at the higher LTP: the best available pair is
    drawn (smooth = lower std), and the fallback says the LTP order does not hold."""
    df = _stats([
        ("hopper", "td3", 0, 1, 1000.0, 10.0, 0.30),
        ("hopper", "td3", 0, 2, 1010.0, 200.0, 0.10),
        ("hopper", "td3", 0, 3, 1020.0, 50.0, np.nan),
    ])
    p = select_pair(df, "hopper")
    assert p["smooth"]["step"] == 1 and p["noisy"]["step"] == 2
    assert "LTP is higher or undefined" in p["fallback"]
    assert "LTP <= noisy's" not in p["reason"]


def test_landscape_algo_auto_prefers_sac():
    from retland.config import ConfigError, check_geometry, landscape_algo

    assert landscape_algo("auto", ["td3", "sac", "ppo"]) == "sac"
    assert landscape_algo("auto", ["ppo", "td3"]) == "td3"
    assert landscape_algo("auto", ["ppo"]) == "ppo"
    assert landscape_algo("td3", ["td3", "sac"]) == "td3"  # explicit values stay
    base = {"envs": ["hopper"], "seeds": [0], "algos": ["td3"]}
    check_geometry({**base, "landscape": {"algo": "auto"}})
    check_geometry({**base, "landscape": {"algo": "td3"}})
    with pytest.raises(ConfigError, match="'landscape.algo': 'sac' is not trained"):
        check_geometry({**base, "landscape": {"algo": "sac"}})


def test_select_pair_errors():
    with pytest.raises(ValueError, match="at least 2 policies"):
        select_pair(_stats([("hopper", "td3", 0, 1, 10.0, 1.0, 0.0)]), "hopper")
    with pytest.raises(ValueError, match="lacks columns"):
        select_pair(pd.DataFrame({"env": ["hopper"]}), "hopper")


def test_grid_axes_levels_and_points():
    axes = grid_axes(13, 3.0, 4.0)
    assert len(axes) == 3
    assert axes[0][0] == -3.0 and axes[0][-1] == 3.0 and 0.0 in axes[0] and 1.0 in axes[0]
    assert axes[1][-1] == pytest.approx(0.75) and axes[2][-1] == pytest.approx(0.1875)
    pts = grid_points(axes[0], axes[0][:2])
    assert pts.shape == (26, 2) and tuple(pts[2]) == (axes[0][1], axes[0][0])  # a-major
    with pytest.raises(ValueError, match="zoom"):
        grid_axes(5, 3.0, 1.0)
    steps = gait_frame_steps(1000, 5)
    assert len(steps) == 5 and steps[-1] == 199
    assert gait_frame_steps(10, 5).max() == 9


def test_grid_reproduces_theta0_and_theta_prime(tiny_training):
    """(0,0) is theta0's return and (1,0) theta''s, exactly, with the same rollout function."""
    import jax

    from retland.analyses.landscape import (combine, evaluate_points, make_landscape_evaluator, make_update,
                                            two_updates)
    from retland.jobs.sources import CheckpointSource
    from retland.rollout import make_batched_rollout

    src = CheckpointSource(tiny_training["paths"][0])
    state, (lo, hi) = src.checkpoint(200)
    horizon = 40
    upd = make_update(src)
    t0, t1, t2 = two_updates(upd, src.agent, state, src.replay, lo, hi, jax.random.PRNGKey(3))
    diff = max(float(abs(a - b).max()) for a, b in zip(jax.tree_util.tree_leaves(t1), jax.tree_util.tree_leaves(t2)))
    assert diff > 0  # two independent updates
    policy = src.agent.make_policy(src.env.spec.act_dim, src.cfg)
    start = src.env.reference_state()
    ev = make_landscape_evaluator(src, horizon)
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, -2.0]])
    r, _, poses = evaluate_points(ev, (t0, t1, t2), pts, start, chunk=4, log=lambda m: None)
    assert poses.q.shape == (horizon, src.env.sys.q_size())  # theta0's trajectory (gait frames)
    # the same parameters go through the plain batched rollout
    ref = make_batched_rollout(src.env, policy, horizon)
    stacked = jax.tree_util.tree_map(lambda *x: jax.numpy.stack(x), t0, t1, t2, t0)
    r_ref, _ = ref(stacked, start)
    assert r[0] == float(r_ref[0]) and r[1] == float(r_ref[1]) and r[2] == float(r_ref[2])
    # combine is exact at (0,0), (1,0), (0,1) and equals theta0 + a d1 + b d2 elsewhere
    c = combine(t0, t1, t2, pts)
    for l0, l1, l2, lc in zip(*(jax.tree_util.tree_leaves(t) for t in (t0, t1, t2, c))):
        assert np.array_equal(lc[0], l0) and np.array_equal(lc[1], l1) and np.array_equal(lc[2], l2)
        np.testing.assert_allclose(lc[3], l0 + 0.5 * (l1 - l0) - 2.0 * (l2 - l0), rtol=1e-5, atol=1e-6)
