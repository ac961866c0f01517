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

    from retland.jobs.sources import CheckpointSource
    from retland.rollout import make_batched_rollout

    src = CheckpointSource(tiny_training["paths"][0])
    other = CheckpointSource(tiny_training["paths"][1])
    ta = src.agent.policy_params(src.checkpoint(100)[0])
    tb = src.agent.policy_params(other.checkpoint(200)[0])
    start = src.env.reference_state()
    horizon = 30
    ev = I.make_path_evaluator(src, horizon)
    r = I.path_returns(ev, ta, tb, [1.0, 0.0, 0.5], n_perturbations=1, sigma=0.0, key=jax.random.PRNGKey(0),
                       chunk_size=2, start_state=start)
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
    rp = I.path_returns(ev, ta, tb, [1.0, 0.0], n_perturbations=3, sigma=3e-4, key=jax.random.PRNGKey(2),
                        chunk_size=4, start_state=start)
    assert rp.shape == (2, 3) and np.isfinite(rp).all()


def _screen_table():
    # seed 0: one policy that falls at once (20) and two learned ones; seed 1: one learned
    return pd.DataFrame({"env": "hopper", "algo": "td3", "seed": [0, 0, 0, 1, 1, 1],
                         "step": [1, 2, 3, 1, 2, 3], "mean": [20.0, 900.0, 1000.0, 21.0, 22.0, 800.0],
                         "std": [1.0, 300.0, 50.0, 1.0, 2.0, 40.0], "ltp": [0.0, 0.2, 0.0, 0.0, 0.0, 0.05]})


def test_tab2_pairs_are_drawn_among_policies_that_learned():
    """Tab. 2 / Fig. 5 (hand-picked 'similarly performing' pairs in the paper): never a pair
    of policies that fall at once while policies with at least half the best mean exist."""
    stats = _screen_table()
    learned, screened = I.learned_policies(stats)
    assert screened and sorted(learned["mean"]) == [800.0, 900.0, 1000.0]
    same = I.select_similar_pairs(stats, "hopper", "td3", "same_run", 1, 0.2)
    assert {same.step_a[0], same.step_b[0]} == {2, 3} and same.seed_a[0] == 0


def _authors_table(seeds=(0, 1, 2), steps=(10, 20, 30, 40)):
    rows = [{"env": "hopper", "algo": "td3", "seed": s, "step": t,
             # seed 0 never learns (negative / tiny means): the authors pair it all the same
             "mean": (-50.0 + t if s == 0 else 100.0 * t), "std": 1.0 + t, "ltp": 0.0}
            for s in seeds for t in steps]
    return pd.DataFrame(rows)


def _key(s, t):
    return (int(s), int(t))


def test_fig6_pairs_follow_the_authors_pair_set():
    """policy_interpolation_seed.py l. 156-176: same run = (s, c1) <-> (s, c2), c1 != c2;
    different runs = (s, c1) <-> (s + 1, c2), c1 != c2 (ordered); every checkpoint."""
    t = _authors_table()
    same = I.sample_btp_pairs(t, "hopper", "td3", "same_run", 10_000, seed=0)
    diff = I.sample_btp_pairs(t, "hopper", "td3", "different_run", 10_000, seed=0)
    got_same = {frozenset([_key(r.seed_a, r.step_a), _key(r.seed_b, r.step_b)]) for r in same.itertuples()}
    want_same = {frozenset([(s, c1), (s, c2)]) for s in (0, 1, 2) for c1 in (10, 20, 30, 40)
                 for c2 in (10, 20, 30, 40) if c1 != c2}
    assert got_same == want_same and len(same) == 3 * 6  # unordered: a path is not drawn twice
    got_diff = {frozenset([_key(r.seed_a, r.step_a), _key(r.seed_b, r.step_b)]) for r in diff.itertuples()}
    want_diff = {frozenset([(s, c1), (s + 1, c2)]) for s in (0, 1) for c1 in (10, 20, 30, 40)
                 for c2 in (10, 20, 30, 40) if c1 != c2}
    assert got_diff == want_diff and len(diff) == 2 * 12
    assert (abs(diff.seed_a - diff.seed_b) == 1).all()  # seed s with s + 1, never (0, 2)
    assert (diff.step_a != diff.step_b).all()  # the same checkpoint index is never paired
    # a draw of n pairs: distinct, of the set, deterministic, seed-dependent
    d5 = I.sample_btp_pairs(t, "hopper", "td3", "different_run", 5, seed=3)
    assert len(d5) == 5 and not d5.duplicated().any()
    assert {frozenset([_key(r.seed_a, r.step_a), _key(r.seed_b, r.step_b)]) for r in d5.itertuples()} <= want_diff
    pd.testing.assert_frame_equal(d5, I.sample_btp_pairs(t, "hopper", "td3", "different_run", 5, seed=3))
    # 'seed s + 1' is the next seed of the run's list when the seeds are not consecutive
    gap = I.sample_btp_pairs(_authors_table(seeds=(0, 2, 5)), "hopper", "td3", "different_run", 100, 0)
    assert {frozenset([r.seed_a, r.seed_b]) for r in gap.itertuples()} == {frozenset([0, 2]), frozenset([2, 5])}
    with pytest.raises(ValueError, match="2 seeds"):
        I.sample_btp_pairs(_authors_table(seeds=(0,)), "hopper", "td3", "different_run", 5, 0)
    with pytest.raises(ValueError, match="checkpoints per seed"):
        I.sample_btp_pairs(_authors_table(steps=(10,)), "hopper", "td3", "same_run", 5, 0)


def test_fig6_pairs_are_not_screened_by_mean():
    """The screening of Fig. 6 (pairs only among policies with >= half the best mean) favoured
    the claim; the authors pair every policy of the runs."""
    stats = _screen_table()
    for kind, n in (("same_run", 6), ("different_run", 6)):
        rnd = I.sample_btp_pairs(stats, "hopper", "td3", kind, 100, 0)
        assert len(rnd) == n  # every pair of the authors' set, the falling policies included
        assert (rnd[["mean_a", "mean_b"]] < 500).any(axis=1).any()


def test_fig6_job_draws_the_authors_pairs(monkeypatch):
    """btp_pairs_table (the Fig. 6 job) draws all the authors' pairs, falling policies
    included, and perturbs every point with the same draws; today's screened draw fails."""
    import jax.numpy as jnp

    from retland.jobs import interpolation as J

    stats = _screen_table()

    class Pol:
        def theta(self, seed, step):
            return {"w": jnp.full((2,), float(seed * 10 + step))}

    seen = []

    def evaluator(ta, tb, alphas, keys, sigma, start):
        seen.append(np.asarray(keys))
        return 100.0 + 0.0 * alphas

    p = {"algo": "td3", "chunk_size": 64, "horizon": 1000, "btp_pairs": 100, "seed": 0, "btp_points": 3, "btp_perturbations": 2,
         "noise_scale": 3e-4, "btp_fraction": 0.1}
    tab = J.btp_pairs_table("hopper", stats, Pol(), evaluator, section=p, start=None, what="test", draw="authors",
                            shared_perturbations=True)
    pols = {frozenset([_key(r.seed_a, r.step_a), _key(r.seed_b, r.step_b)]) for r in tab.itertuples()}
    assert frozenset([(0, 1), (0, 2)]) in pols and frozenset([(1, 1), (1, 2)]) in pols  # mean 20 / 21 / 22
    assert len(tab) == 12 and (tab["btp"] == 0).all()
    k = seen[0][: 5 * 2]  # 5 points x 2 perturbations, point-major: the same 2 keys at each point
    assert all(np.array_equal(k[2 * i: 2 * i + 2], k[:2]) for i in range(5)) and not np.array_equal(k[0], k[1])


def test_shared_perturbations_are_the_same_draws_at_every_point():
    import jax
    import jax.numpy as jnp

    def evaluator(ta, tb, alphas, keys, sigma, start):  # return = the first noise value of the draw
        return jax.vmap(lambda k: jax.random.normal(k, ()))(keys) + 0.0 * alphas

    key = jax.random.PRNGKey(0)
    shared = I.path_returns(evaluator, None, None, [1.0, 0.0, 0.5], n_perturbations=4, sigma=3e-4, key=key,
                            chunk_size=5, start_state=None, shared=True)
    assert shared.shape == (3, 4) and np.allclose(shared, shared[0]) and len(set(shared[0])) == 4
    indep = I.path_returns(evaluator, None, None, [1.0, 0.0, 0.5], n_perturbations=4, sigma=3e-4, key=key,
                           chunk_size=5, start_state=None)
    assert not np.allclose(indep, indep[0]) and jnp.size(indep) == 12


def _btp_table(same, diff, envs=("hopper", "walker2d")):
    rows = [{"env": e, "kind": "same_run", "btp": b} for e in envs for b in same]
    rows += [{"env": e, "kind": "different_run", "btp": b} for e in envs for b in diff]
    return pd.DataFrame(rows)


def test_claim_b_holds_when_same_run_paths_do_not_drop_and_different_run_paths_do():
    same = [0.0] * 38 + [0.02, 0.01, np.nan]
    diff = [0.0, 0.3, 0.5, 0.6, 0.2, 0.4, 0.1, 0.7] * 5
    c = I.claim_b(_btp_table(same, diff), 0.05, 500, 0.95, 0)
    assert c["holds"] and c["why"] == ""
    assert c["same"] == pytest.approx(0.03 / 40) and c["same_hi"] <= 0.05
    assert c["different"] == pytest.approx(np.mean(diff))
    assert c["difference"] == pytest.approx(c["different"] - c["same"]) and c["difference_lo"] > 0
    assert c["difference_lo"] <= c["difference"] <= c["difference_hi"]
    assert (c["n_same"], c["n_same_undefined"], c["n_different"], c["n_different_undefined"]) == (80, 2, 80, 0)
    assert c == I.claim_b(_btp_table(same, diff), 0.05, 500, 0.95, 0)  # deterministic


def test_claim_b_does_not_hold_when_same_run_paths_drop():
    # different runs drop far more, but same-run paths drop too: only half the claim
    c = I.claim_b(_btp_table([0.1, 0.2, 0.15, 0.25] * 10, [0.6, 0.8, 0.7, 0.9] * 10), 0.05, 500, 0.95, 0)
    assert c["difference_lo"] > 0 and c["same_hi"] > 0.05
    assert not c["holds"] and "same-run" in c["why"] and "difference" not in c["why"]


def test_claim_b_does_not_hold_when_the_intervals_overlap():
    # same-run paths hardly drop, but neither do different-run paths: no difference
    same = [0.0] * 36 + [0.05, 0.1, 0.0, 0.0]
    diff = [0.0] * 35 + [0.1, 0.05, 0.1, 0.0, 0.0]
    c = I.claim_b(_btp_table(same, diff), 0.05, 500, 0.95, 0)
    assert c["same_hi"] <= 0.05 and c["difference_lo"] <= 0 <= c["difference_hi"]
    assert not c["holds"] and "difference" in c["why"] and "same-run BTP" not in c["why"]
    # no defined pair of a kind: undecided, says so
    c = I.claim_b(_btp_table([np.nan] * 3, [0.5] * 3), 0.05, 100, 0.95, 0)
    assert not c["holds"] and "no defined BTP for same-run pairs" in c["why"] and c["n_same_undefined"] == 6
    with pytest.raises(ValueError, match="same_run_btp_max"):
        I.claim_b(_btp_table([0.0], [0.5]), 1.5, 100, 0.95, 0)
    with pytest.raises(ValueError, match="lacks column"):
        I.claim_b(pd.DataFrame({"kind": ["same_run"], "btp": [0.0]}), 0.05, 100, 0.95, 0)


def test_fig5_fig8_say_when_a_pair_is_not_similar_in_mean(tmp_path):
    from retland.plots import interpolation as PI

    paths = pd.DataFrame({"env": "hopper", "kind": ["same_run"] * 3 + ["different_run"] * 3,
                          "pair": [0] * 3 + [1] * 3, "seed_a": [0] * 3 + [1] * 3, "step_a": 20000, "seed_b": 0,
                          "step_b": 10000, "alpha": [0, 0.5, 1] * 2, "return": [1.0, 2, 3, 3, 0, 3],
                          "purd_mean": 1.0, "purd_std": 0.1, "n_perturbations": 5,
                          "mean_a": [1000.0] * 3 + [1200.0] * 3, "mean_b": [990.0] * 3 + [400.0] * 3,
                          "similar_mean": [True] * 3 + [False] * 3})
    good, bad = (g for _, g in paths.groupby("pair"))
    assert PI._pair_label(good) == "s0@20k (m 1000) \u2194 s0@10k (m 990)"
    assert PI._pair_label(bad).endswith("NOT similar in mean") and "(m 1200)" in PI._pair_label(bad)
    fig = PI._path_panels(paths, "hopper", "Return", lambda ax, g, c, lab: ax.plot(g["alpha"], g["return"], label=lab),
                          "Fig. 5: x")
    title = fig._suptitle.get_text()
    assert title.startswith("Fig. 5") and "1 of 2 pairs NOT similar in mean" in title
    assert PI._figure_number("walker2d") == "Fig. 5" and PI._figure_number("ant") == "Fig. 9"
    for f in (PI.fig05_interpolation, PI.fig08_interpolation_purd):
        f(paths, "hopper", tmp_path / f"{f.__name__}.png", dpi=40)
        assert (tmp_path / f"{f.__name__}.png").stat().st_size > 0
    # a paths table without the selection columns (older runs) still draws, unflagged
    PI.fig05_interpolation(paths.drop(columns=["mean_a", "mean_b", "similar_mean"]), "hopper",
                           tmp_path / "old.png", dpi=40)


def test_below_threshold_summary_per_kind():
    btp = pd.DataFrame({"env": ["hopper"] * 4 + ["walker2d"] * 4,
                        "kind": ["same_run", "same_run", "different_run", "different_run"] * 2,
                        "btp": [0.0, 0.0, 0.5, 0.7, 0.0, 0.1, 0.3, 0.5]})
    s = I.below_threshold_summary(btp, 1000, 0.95, 0).set_index("kind")
    assert s.loc["same_run", "mean"] == pytest.approx(0.025)
    assert s.loc["different_run", "mean"] == pytest.approx(0.5)
    assert s.loc["same_run", "hi"] < s.loc["different_run", "lo"]
    assert list(s.columns[:3]) == ["mean", "lo", "hi"]
