"""E6/E7 (paper Sec. 4.1, Fig. 5, 6, 8, Tab. 2): pair selection, paths, below-threshold proportion."""

import numpy as np
import pandas as pd
import pytest

from retland.analyses import interpolation as I


def _table():
    # hopper: seed 0 has two similar-mean checkpoints with very different std; seed 1 one
    rows = [
        ("hopper", "td3", 0, 100, 1000.0, 10.0, 0.00),
        ("hopper", "td3", 0, 200, 1020.0, 300.0, 0.30),
        ("hopper", "td3", 0, 300, 600.0, 50.0, 0.10),
        ("hopper", "td3", 1, 100, 990.0, 20.0, 0.05),
        ("hopper", "td3", 1, 200, 1100.0, 100.0, 0.20),
        ("hopper", "sac", 0, 100, 1000.0, 500.0, 0.50),
    ]
    return pd.DataFrame(rows, columns=["env", "algo", "seed", "step", "mean", "std", "ltp"])


def test_similar_pairs_pick_similar_mean_different_std():
    same = I.select_similar_pairs(_table(), "hopper", "td3", "same_run", 1, mean_tolerance=0.05)
    r = same.iloc[0]
    assert r.seed_a == r.seed_b == 0 and {r.step_a, r.step_b} == {100, 200}
    assert r.ltp_a >= r.ltp_b and r.step_a == 200  # theta_a = higher LTP (paper's theta_1)
    assert bool(r.similar_mean)
    diff = I.select_similar_pairs(_table(), "hopper", "td3", "different_run", 2, mean_tolerance=0.05)
    assert (diff.seed_a != diff.seed_b).all()
    # largest std difference among similar means: seed0/200 (std 300) with seed1/100 (std 20)
    first = diff.iloc[0]
    assert {(first.seed_a, first.step_a), (first.seed_b, first.step_b)} == {(0, 200), (1, 100)}
    # the second slot has no similar-mean partner left among unused policies -> reuse, still similar
    assert len(diff) == 2 and bool(diff.iloc[1].similar_mean)
    assert not (diff.algo if "algo" in diff else pd.Series(dtype=str)).eq("sac").any()


def test_similar_pairs_flags_fallback_and_rejects_bad_input():
    t = _table()
    out = I.select_similar_pairs(t, "hopper", "td3", "same_run", 3, mean_tolerance=0.05)
    assert len(out) == 3 and out.similar_mean.sum() == 1
    with pytest.raises(ValueError, match="walker2d"):
        I.select_similar_pairs(t, "walker2d", "td3", "same_run", 1, 0.1)
    with pytest.raises(ValueError, match="kind"):
        I.select_similar_pairs(t, "hopper", "td3", "same_seed", 1, 0.1)
    with pytest.raises(ValueError, match="lacks column"):
        I.select_similar_pairs(t.drop(columns="ltp"), "hopper", "td3", "same_run", 1, 0.1)


def test_random_pairs_are_distinct_deterministic_and_of_their_kind():
    t = _table()
    a = I.sample_random_pairs(t, "hopper", "td3", "same_run", 500, seed=3)
    assert len(a) == 3 + 1  # all C(3,2) + C(2,2) same-run pairs
    assert (a.seed_a == a.seed_b).all()
    d = I.sample_random_pairs(t, "hopper", "td3", "different_run", 4, seed=3)
    assert len(d) == 4 and (d.seed_a != d.seed_b).all()
    assert len({tuple(sorted([(r.seed_a, r.step_a), (r.seed_b, r.step_b)])) for r in d.itertuples()}) == 4
    pd.testing.assert_frame_equal(d, I.sample_random_pairs(t, "hopper", "td3", "different_run", 4, seed=3))


def test_btp_on_a_hand_made_path():
    grid = I.btp_alphas(4)
    assert grid[0] == 1.0 and grid[1] == 0.0 and np.all((grid[2:] > 0) & (grid[2:] < 1))
    assert np.allclose(grid[2:], [0.2, 0.4, 0.6, 0.8])
    # endpoints 1000 and 800 -> threshold 80; points 500, 79.9, 80, -5 -> 2 of 4 below
    btp, ra, rb = I.pair_btp(np.array([1000.0, 800.0, 500.0, 79.9, 80.0, -5.0]), 0.1)
    assert (btp, ra, rb) == (0.5, 1000.0, 800.0)
    assert I.pair_btp(np.array([1000.0, 800.0, 900, 900, 900, np.nan]), 0.1)[0] == 0.25  # NaN = collapse


def test_btp_with_a_non_finite_endpoint_is_undefined_not_an_error():
    # per point, a blown-up perturbation is left out of the mean; a point with none finite is NaN
    r = np.array([[1000.0, np.nan, 1000.0], [np.nan, np.nan, np.nan], [500.0, 700.0, np.inf], [10.0, 20.0, 30.0]])
    means = I.finite_point_means(r)
    assert means[0] == 1000.0 and np.isnan(means[1]) and means[2] == 600.0 and means[3] == 20.0
    btp, ra, rb = I.pair_btp(means, 0.1)
    assert np.isnan(btp) and ra == 1000.0 and np.isnan(rb)
    # a non-positive endpoint: the 10%-of-the-smaller-endpoint threshold means nothing
    assert np.isnan(I.pair_btp(np.array([1000.0, -50.0, 900.0, -400.0]), 0.1)[0])
    assert np.isnan(I.pair_btp(np.array([0.0, 800.0, 900.0, 900.0]), 0.1)[0])
    # the aggregate leaves undefined pairs out and counts them
    df = pd.DataFrame({"env": "hopper", "kind": ["same_run"] * 3 + ["different_run"] * 2,
                       "btp": [0.0, np.nan, 0.2, 0.5, 0.7]})
    s = I.below_threshold_summary(df, 100, 0.95, 0).set_index("kind")
    assert s.loc["same_run", "mean"] == pytest.approx(0.1) and s.loc["same_run", "n_pairs"] == 2
    assert s.loc["same_run", "n_undefined"] == 1 and s.loc["different_run", "n_undefined"] == 0
    # an environment whose pairs are all undefined does not make the interval undefined
    df2 = pd.concat([df, pd.DataFrame({"env": "halfcheetah", "kind": "same_run", "btp": [np.nan] * 30})])
    s2 = I.below_threshold_summary(df2, 200, 0.95, 0).set_index("kind")
    assert s2.loc["same_run", "mean"] == pytest.approx(0.1) and np.isfinite(s2.loc["same_run", "lo"])
    assert s2.loc["same_run", "n_undefined"] == 31


def test_interpolation_endpoints_reproduce_endpoint_returns(tiny_training):
    import jax
    import jax.numpy as jnp

    from retland.jobs import CheckpointSource
    from retland.rollout import make_batched_rollout

    src = CheckpointSource(tiny_training["paths"][0])
    other = CheckpointSource(tiny_training["paths"][1])
    ta = src.agent.policy_params(src.checkpoint(100)[0])
    tb = src.agent.policy_params(other.checkpoint(200)[0])
    start = src.env.reference_state()
    horizon = 30
    ev = I.make_path_evaluator(src.agent, src.env, src.cfg, horizon)
    r = I.path_returns(ev, ta, tb, [1.0, 0.0, 0.5], 1, 0.0, jax.random.PRNGKey(0), 2, start)
    roll = make_batched_rollout(src.env, src.agent.make_policy(src.env.spec.act_dim, src.cfg), horizon)
    both = jax.tree_util.tree_map(lambda x, y: jnp.stack([x, y]), ta, tb)
    ref = np.asarray(roll(both, start)[0], np.float64)
    np.testing.assert_allclose(r[:2, 0], ref, rtol=1e-5)
    assert not np.allclose(ref[0], ref[1])  # the two endpoints are different policies
    # Gaussian perturbations: sigma 0 leaves theta unchanged; sigma > 0 has the right scale
    same = I.gaussian_perturbation(ta, jax.random.PRNGKey(1), 0.0)
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(same), jax.tree_util.tree_leaves(ta)))
    noisy = I.gaussian_perturbation(ta, jax.random.PRNGKey(1), 3e-4)
    d = np.concatenate([np.ravel(x - y) for x, y in zip(jax.tree_util.tree_leaves(noisy), jax.tree_util.tree_leaves(ta))])
    assert abs(d.std() - 3e-4) < 3e-5 and abs(d.mean()) < 3e-5
    # perturbed path evaluation: shape [points, perturbations], finite
    rp = I.path_returns(ev, ta, tb, [1.0, 0.0], 3, 3e-4, jax.random.PRNGKey(2), 4, start)
    assert rp.shape == (2, 3) and np.isfinite(rp).all()


def test_pairs_are_drawn_among_policies_that_learned():
    """Fig. 5/6: never a pair of policies that fall at once while policies with at least
    half the best mean exist; all policies when no such pair of the kind exists."""
    stats = pd.DataFrame({"env": "hopper", "algo": "td3", "seed": [0, 0, 0, 1, 1, 1],
                          "step": [1, 2, 3, 1, 2, 3], "mean": [20.0, 900.0, 1000.0, 21.0, 22.0, 800.0],
                          "std": [1.0, 300.0, 50.0, 1.0, 2.0, 40.0], "ltp": [0.0, 0.2, 0.0, 0.0, 0.0, 0.05]})
    learned, screened = I.learned_policies(stats)
    assert screened and sorted(learned["mean"]) == [800.0, 900.0, 1000.0]
    for kind in I.KINDS:
        rnd = I.sample_random_pairs(stats, "hopper", "td3", kind, 10, 0)
        assert (rnd[["mean_a", "mean_b"]] >= 500).all().all(), rnd
    same = I.select_similar_pairs(stats, "hopper", "td3", "same_run", 1, 0.2)
    assert {same.step_a[0], same.step_b[0]} == {2, 3} and same.seed_a[0] == 0
    # seed 1 has one learned policy: its same-run pairs come from all policies
    only1 = stats[stats.seed == 1]
    assert len(I.sample_random_pairs(only1.assign(mean=[20.0, 900.0, 21.0]), "hopper", "td3", "same_run", 5, 0)) == 3
