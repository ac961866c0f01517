"""E6-E9 aggregation (no JAX): BTP and LTP-reduction summaries (rliable), rejection frequency,
claim (a)'s similar-mean spread, the CVaR ranking, the claims summary and the figures."""

import numpy as np
import pandas as pd
import pytest

from retland import stats as S
from retland.analyses import interpolation as I
from retland.analyses import rejection as R


def test_rliable_mean_ci_is_reproducible_and_leaves_numpy_rng_alone():
    d = {"a": [0.1, 0.0, 0.3, 0.05, 0.2], "b": [0.0, 0.15, 0.02]}
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = S.rliable_mean_ci(d, 500, 0.95, 0)
    assert S.rliable_mean_ci(d, 500, 0.95, 0) == first  # same seed, same interval
    assert S.rliable_mean_ci(d, 500, 0.95, 1)[1:] != first[1:]  # the seed matters
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_rliable_mean_ci_brackets_the_mean_and_ignores_padding():
    m, lo, hi = S.rliable_mean_ci({"a": [0.0, 0.0, 0.0], "b": [1.0, 1.0]}, 500, 0.95, 0)
    assert m == pytest.approx(0.4) and lo <= m <= hi
    assert S.rliable_mean_ci({"a": [0.2, 0.2], "b": [0.2]}, 200, 0.95, 0) == pytest.approx((0.2, 0.2, 0.2))


def test_below_threshold_summary_per_kind():
    btp = pd.DataFrame({"env": ["hopper"] * 4 + ["walker2d"] * 4,
                        "kind": ["same_run", "same_run", "different_run", "different_run"] * 2,
                        "btp": [0.0, 0.0, 0.5, 0.7, 0.0, 0.1, 0.3, 0.5]})
    s = I.below_threshold_summary(btp, 1000, 0.95, 0).set_index("kind")
    assert s.loc["same_run", "mean"] == pytest.approx(0.025)
    assert s.loc["different_run", "mean"] == pytest.approx(0.5)
    assert s.loc["same_run", "hi"] < s.loc["different_run", "lo"]
    assert list(s.columns[:3]) == ["mean", "lo", "hi"]


def _log():
    rows = []
    # hopper: rejection reduces LTP 0.4 -> 0.1 with 1 of 2 proposals rejected; td3 0.4 -> 0.3
    for env, start, rej_end, td3_end in (("hopper", 0.4, 0.1, 0.3), ("walker2d", 0.2, 0.1, 0.25)):
        for method, end, acc in (("rejection", rej_end, [True, False]), ("td3", td3_end, [True, True])):
            ltps = [start, (start + end) / 2, end]
            for it in range(3):
                rows.append(dict(env=env, seed=0, step=100, run_index=0, method=method, iteration=it,
                                 accepted=True if it == 0 else acc[it - 1], purd_mean=1000.0 + it,
                                 purd_ltp=ltps[it], **{"purd_cvar_0.1": 10.0}))
    return pd.DataFrame(rows)


def test_ltp_reduction_and_rejection_frequency():
    red = R.ltp_reductions(_log()).set_index(["env", "method"])
    assert red.loc[("hopper", "rejection"), "ltp_reduction"] == pytest.approx(0.3)
    assert red.loc[("walker2d", "td3"), "ltp_reduction"] == pytest.approx(-0.05)
    assert red.loc[("hopper", "rejection"), "rejection_frequency"] == pytest.approx(0.5)
    s = R.ltp_reduction_summary(_log(), 200, 0.95, 0).set_index("method")
    assert s.loc["rejection", "mean"] == pytest.approx((0.3 + 0.1) / 2)
    assert s.loc["td3", "mean"] == pytest.approx((0.1 - 0.05) / 2)
    assert s.loc["rejection_minus_td3", "mean"] == pytest.approx((0.2 + 0.15) / 2)
    f = R.rejection_frequency(_log()).set_index("env")
    assert f.loc["hopper", "mean"] == pytest.approx(0.5) and f.loc["hopper", "se"] == 0.0


def test_similar_mean_spread_on_a_hand_made_table():
    t = pd.DataFrame({"env": "hopper", "algo": "td3", "seed": [0, 0, 1, 1], "step": [1, 2, 1, 2],
                      "mean": [1000.0, 1010.0, 3000.0, -10.0], "std": [10.0, 40.0, 5.0, 5.0],
                      "ltp": [0.0, 0.2, 0.0, np.nan]})
    a = I.similar_mean_spread(t, "td3", 0.05, 200, 0.95, 0)
    assert a["n_pairs"] == 1  # only (1000, 1010) is within 5%
    assert a["std_ratio"] == pytest.approx(4.0) and a["ltp_diff"] == pytest.approx(0.2)
    assert a["std_ratio_lo"] == pytest.approx(4.0)


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


def _claims(tmp_path, stats, btp, ltp):
    """The claims job on these three tables: (claims.csv as a frame, claims.md text)."""
    from retland.jobs.claims import claims_job

    for name, df in (("pu.csv", stats), ("btp.csv", btp), ("ltp.csv", ltp)):
        df.to_csv(tmp_path / name, index=False)
    claims_job(str(tmp_path / "pu.csv"), str(tmp_path / "btp.csv"), str(tmp_path / "ltp.csv"),
               {"mean_tolerance": 0.05, "std_ratio": 2.0, "ltp_diff": 0.05},
               {"n_boot": 200, "ci": 0.95, "seed": 0}, "td3", str(tmp_path / "c.md"), str(tmp_path / "c.csv"))
    return pd.read_csv(tmp_path / "c.csv"), (tmp_path / "c.md").read_text()


def test_claims_job_and_figures(tmp_path):
    from retland.plots import interpolation as PI
    from retland.plots import rejection as PR

    stats = pd.DataFrame({"env": "hopper", "algo": "td3", "seed": [0, 0, 1, 1], "step": [1, 2, 1, 2],
                          "mean": [1000.0, 1010.0, 990.0, 2000.0], "std": [10.0, 300.0, 40.0, 50.0],
                          "ltp": [0.0, 0.3, 0.1, 0.05]})
    btp = pd.DataFrame({"kind": ["same_run", "different_run"], "mean": [0.01, 0.4], "lo": [0.0, 0.3],
                        "hi": [0.02, 0.5], "n_pairs": [10, 10]})
    ltp = R.ltp_reduction_summary(_log(), 200, 0.95, 0)
    c, md = _claims(tmp_path, stats, btp, ltp)
    assert c.groupby("claim")["holds"].first().to_dict() == {"a": True, "b": True, "c": True}
    assert md.count("**holds**") == 3
    # the figures render from these tables
    PI.fig06_below_threshold(btp, tmp_path / "f6.png", dpi=40)
    PR.fig07_ltp_reduction(ltp, tmp_path / "f7.png", dpi=40)
    PR.fig26_rejection_frequency(R.rejection_frequency(_log()), tmp_path / "f26.png", dpi=40)
    ranking = R.cvar_ranking(stats.assign(suite="brax"), lambda r: np.arange(10.0) * r.mean, [0.1, 1.0])
    PR.fig24_rejection_paths(_log(), ranking, "hopper", tmp_path / "f24.png", dpi=40)
    PR.fig25_cvar_ranking(ranking, "hopper", tmp_path / "f25.png", dpi=40)
    paths = pd.DataFrame({"env": "hopper", "kind": ["same_run"] * 3 + ["different_run"] * 3,
                          "pair": [0] * 3 + [1] * 3, "seed_a": [0] * 3 + [1] * 3, "step_a": 2, "seed_b": 0,
                          "step_b": 1, "alpha": [0, 0.5, 1] * 2, "return": [1.0, 2, 3, 3, 0, 3],
                          "purd_mean": 1.0, "purd_std": 0.1, "n_perturbations": 5})
    PI.fig05_interpolation(paths, "hopper", tmp_path / "f5.png", dpi=40)
    PI.fig08_interpolation_purd(paths, "hopper", tmp_path / "f8.png", dpi=40)
    assert all((tmp_path / f).stat().st_size > 0 for f in ("f5.png", "f6.png", "f7.png", "f8.png", "f24.png",
                                                             "f25.png", "f26.png"))
    with pytest.raises(ValueError, match="walker2d"):
        PR.fig24_rejection_paths(_log(), ranking, "walker2d_x", tmp_path / "x.png")


def test_claims_that_fail_are_reported_as_failing(tmp_path):
    """Tables in which every claim fails: (a) similar means with the same std and LTP, (b)
    overlapping BTP intervals, (c) rejection reducing LTP less than plain TD3."""
    stats = pd.DataFrame({"env": "hopper", "algo": "td3", "seed": [0, 0, 1, 1], "step": [1, 2, 1, 2],
                          "mean": [1000.0, 1010.0, 990.0, 1005.0], "std": [100.0, 110.0, 105.0, 95.0],
                          "ltp": [0.1, 0.1, 0.11, 0.1]})
    btp = pd.DataFrame({"kind": ["same_run", "different_run"], "mean": [0.2, 0.3], "lo": [0.1, 0.15],
                        "hi": [0.3, 0.45], "n_pairs": [10, 10]})
    log = _log()
    swap = {"rejection": "td3", "td3": "rejection"}  # now plain TD3 reduces LTP more
    log["method"] = log["method"].map(swap)
    c, md = _claims(tmp_path, stats, btp, R.ltp_reduction_summary(log, 200, 0.95, 0))
    assert c.groupby("claim")["holds"].first().to_dict() == {"a": False, "b": False, "c": False}
    assert md.count("**does not hold**") == 3 and "**holds**" not in md


def test_claims_leave_out_other_suites(tmp_path):
    """Claim (a) is about the Brax study: in a mixed config's table, the pairs of a DMC task
    (E10) are not counted."""
    brax = pd.DataFrame({"suite": "brax", "env": "hopper", "algo": "td3", "seed": [0, 0, 1, 1], "step": [1, 2, 1, 2],
                         "mean": [1000.0, 1010.0, 990.0, 2000.0], "std": [10.0, 300.0, 40.0, 50.0],
                         "ltp": [0.0, 0.3, 0.1, 0.05]})
    dmc = brax.assign(suite="dmc", env="quadruped-walk", std=[10.0, 10.0, 10.0, 10.0], ltp=0.0)
    btp = pd.DataFrame({"kind": ["same_run", "different_run"], "mean": [0.01, 0.4], "lo": [0.0, 0.3],
                        "hi": [0.02, 0.5], "n_pairs": [10, 10]})
    ltp = R.ltp_reduction_summary(_log(), 200, 0.95, 0)
    (tmp_path / "b").mkdir()
    (tmp_path / "m").mkdir()
    alone, _ = _claims(tmp_path / "b", brax, btp, ltp)
    mixed, _ = _claims(tmp_path / "m", pd.concat([brax, dmc]), btp, ltp)
    pd.testing.assert_frame_equal(alone, mixed)  # the DMC rows changed nothing
    assert I.similar_mean_spread(pd.concat([brax, dmc]), "td3", 0.05, 200, 0.95, 0)["n_pairs"] > \
        I.similar_mean_spread(brax, "td3", 0.05, 200, 0.95, 0)["n_pairs"]  # they would have
