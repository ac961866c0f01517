"""The paper's claims (results/<run>/stats/claims.{md,csv}). Claim (a) (Sec. 3.1 / Fig. 2) as
analyses.claims states it: separated spread of std, LTP and skewness among policies of similar
mean, over all algorithms, bootstrapped over policies; then the claims job with (a)-(c)
together. Constructed tables where each holds and where it does not."""

import numpy as np
import pandas as pd
import pytest

from retland.analyses.claims import claim_a, fold, neighbourhood_spreads
from retland.analyses import interpolation as I
from retland.analyses import rejection as R

from helpers import rejection_log


def table(rows, env="hopper"):
    """rows: (algo, mean, std, std half-width, ltp, ltp half-width)."""
    out = []
    for k, (algo, m, s, ds, l, dl) in enumerate(rows):
        out.append(dict(env=env, algo=algo, seed=k, step=1000, mean=m, std=s, std_lo=s - ds, std_hi=s + ds,
                        ltp=l, ltp_lo=max(l - dl, 0.0) if np.isfinite(l) else np.nan,
                        ltp_hi=l + dl if np.isfinite(l) else np.nan, skewness=-1.0, skewness_lo=-1.2,
                        skewness_hi=-0.8))
    return pd.DataFrame(out)


KW = dict(mean_tolerance=0.05, std_ratio=2.0, ltp_diff=0.05, n_boot=300, ci=0.95, seed=0)


def wide():
    """Policies at three levels of mean (0, 500, 1000); at each level a smooth and a noisy
    policy of every algorithm: std 20 vs 200, LTP 0 vs 0.3, narrow estimation intervals."""
    rows = []
    for level in (0.0, 500.0, 1000.0):
        for algo in ("td3", "sac", "ppo"):
            rows.append((algo, level + 1, 20.0, 2.0, 0.0, 0.01))
            rows.append((algo, level - 1, 200.0, 10.0, 0.3, 0.05))
    return table(rows)


def test_claim_a_holds_when_similar_means_have_widely_separated_std_and_ltp():
    a = claim_a(wide(), **KW)
    assert a["holds"] and a["n_policies"] == 18 and a["n_with_neighbour"] == 18
    assert a["algos"] == ["ppo", "sac", "td3"]
    # noisy: std >= 190, smooth <= 22: separated spread (190 - 22) / 200 = 0.84, fold 6.25
    assert a["std_fold"] == pytest.approx(1 / (1 - 168 / 200))
    assert a["ltp_spread"] == pytest.approx(0.25 - 0.01)
    assert a["std_fold_lo"] > 2 and a["ltp_spread_lo"] > 0.05


def test_claim_a_does_not_hold_when_std_follows_the_mean():
    # std grows with the mean and policies of similar mean are alike
    rows = [(algo, m + d, 0.2 * m + 5 + d, 3.0, 0.02, 0.02) for m in (100.0, 500.0, 1000.0)
            for algo in ("td3", "sac", "ppo") for d in (0.0, 1.0)]
    a = claim_a(table(rows), **KW)
    assert not a["holds"]
    assert a["std_fold"] == pytest.approx(1.0) and a["ltp_spread"] == 0.0


def test_differences_within_estimation_error_are_not_spread():
    # std 100 vs 150 but each +-40: intervals overlap, no separated spread; LTP 0.1 vs 0.2 +-0.08
    rows = [(algo, 500.0 + d, s, 40.0, l, 0.08) for algo in ("td3", "sac") for d, s, l in ((0, 100.0, 0.1),
                                                                                           (1, 150.0, 0.2))]
    a = claim_a(table(rows), **KW)
    assert a["std_fold"] == pytest.approx(1.0) and a["ltp_spread"] == 0.0 and not a["holds"]


def test_policies_without_a_similar_mean_neighbour_are_left_out_and_no_infinite_ratio():
    # means 0, 100, ..., 900: 10% apart at tolerance 5% of the range: nobody has a neighbour
    rows = [("td3", 100.0 * k, 0.0 if k % 2 else 300.0, 0.0, 0.0, 0.0) for k in range(10)]
    a = claim_a(table(rows), **KW)
    assert a["n_with_neighbour"] == 0 and not a["holds"] and np.isnan(a["std_fold"])
    # a std of 0 beside a std of 300 at the same mean: a finite separated spread (1.0 -> inf fold)
    sp = neighbourhood_spreads(table([("td3", 10.0, 0.0, 0.0, 0.0, 0.0), ("sac", 10.0, 300.0, 0.0, 0.0, 0.0)]), 0.05)
    assert list(sp["std_spread"]) == [1.0, 1.0] and np.isinf(fold(1.0))


def test_claim_a_bootstraps_policies_not_pairs():
    # one level of mean with one noisy and many smooth policies: resampling policies often
    # drops the single noisy one, so the interval's lower bound reaches "no spread"
    rows = [("td3", 500.0, 200.0, 5.0, 0.3, 0.02)] + [("sac", 500.0 + k, 20.0, 2.0, 0.0, 0.01) for k in range(7)]
    rows += [("ppo", 0.0, 20.0, 2.0, 0.0, 0.01), ("ppo", 1000.0, 20.0, 2.0, 0.0, 0.01)]  # the task's range
    a = claim_a(table(rows), **KW)
    assert a["std_fold"] > 5 and a["std_fold_lo"] == pytest.approx(1.0) and not a["holds"]


def test_claim_a_is_stratified_by_task_and_names_missing_columns():
    t = pd.concat([wide(), table([("td3", 0.0, 5.0, 1.0, 0.0, 0.0)] * 3, env="walker2d")])
    a = claim_a(t, **KW)
    assert a["n_policies"] == 21 and a["n_with_neighbour"] == 21
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['ltp_lo'"):
        claim_a(wide().drop(columns=["ltp_lo"]), **KW)
    with pytest.raises(ValueError, match="mean_tolerance"):
        claim_a(wide(), **{**KW, "mean_tolerance": 0})
    assert claim_a(wide(), **{**KW, "seed": 3}) == claim_a(wide(), **{**KW, "seed": 3})


def test_a_resampled_copy_is_not_its_own_neighbour():
    t = table([("td3", 0.0, 20.0, 1.0, 0.0, 0.0), ("td3", 1000.0, 20.0, 1.0, 0.0, 0.0)])
    dup = pd.concat([t.iloc[[0, 0, 1]]]).reset_index(drop=True).assign(_pid=[0, 0, 1])
    assert list(neighbourhood_spreads(dup, 0.05)["n_neighbours"]) == [0, 0, 0]


# --- the claims job: claims (a)-(c) together, as stats/claims.{md,csv} state them ---

ALGOS = ("td3", "sac", "ppo")
CLAIMS = {"mean_tolerance": 0.05, "std_ratio": 2.0, "ltp_diff": 0.05, "same_run_btp_max": 0.05}
STATS_CFG = {"n_boot": 200, "ci": 0.95, "seed": 0}


def _claims(tmp_path, stats, btp, ltp, min_n=2):
    """The claims job on these three tables (post-update statistics, per-pair BTP, LTP-reduction
    summary): (claims.csv as a frame, claims.md text). ``min_n`` 2: rejection_log() has 2 (start, run)
    pairs."""
    from retland.jobs.claims import claims_job

    for name, df in (("pu.csv", stats), ("btp.csv", btp), ("ltp.csv", ltp)):
        df.to_csv(tmp_path / name, index=False)
    claims_job(stats_csv=str(tmp_path / "pu.csv"), btp_csv=str(tmp_path / "btp.csv"),
               ltp_summary_csv=str(tmp_path / "ltp.csv"), claims={**CLAIMS, "min_n": min_n}, stats=STATS_CFG,
               algos=list(ALGOS), out_md=str(tmp_path / "c.md"), out_csv=str(tmp_path / "c.csv"))
    return pd.read_csv(tmp_path / "c.csv"), (tmp_path / "c.md").read_text()


def _pu(spread: bool, env="hopper", algos=ALGOS, suite=None):
    """Post-update statistics with the bootstrap CI columns (``post_update.csv``): per algo,
    at three levels of mean (500, 1500, 2500, each +-2, so only policies of one level are
    within 5% of the task's range of means of each other), two policies.

    ``spread``: a smooth one (std 30 +- 3, LTP 0 [0, 0.01], skewness -0.2 +- 0.2) and a noisy
    one (std 240 +- 12, LTP 0.2 +- 0.04, skewness -2 +- 0.3): every neighbourhood's separated
    std spread is (228 - 33) / 240 (fold 240 / 45), LTP spread 0.16 - 0.01, skewness spread
    -0.4 - (-1.7). Without ``spread``: std 100 or 110 and LTP 0.10 or 0.11, each +- 20 / 0.03,
    i.e. the point estimates differ but every difference lies within estimation error."""
    rows = []
    for a, algo in enumerate(algos):
        for lv, level in enumerate((500.0, 1500.0, 2500.0)):
            for k, d in enumerate((-2.0, 2.0)):
                if spread:
                    s, ds, l, dl, sk, dsk = ((30.0, 3.0, 0.0, 0.01, -0.2, 0.2) if k == 0 else
                                             (240.0, 12.0, 0.2, 0.04, -2.0, 0.3))
                else:
                    s, ds, l, dl, sk, dsk = (100.0 + 10 * k, 20.0, 0.1 + 0.01 * k, 0.03, -0.5, 0.3)
                rows.append(dict(env=env, algo=algo, seed=a * 10 + lv, step=1000 * (k + 1), mean=level + d,
                                 std=s, std_lo=s - ds, std_hi=s + ds, ltp=l, ltp_lo=max(l - dl, 0.0),
                                 ltp_hi=l + dl, skewness=sk, skewness_lo=sk - dsk, skewness_hi=sk + dsk))
    df = pd.DataFrame(rows)
    return df if suite is None else df.assign(suite=suite)


def _btp(same, different, envs=("hopper", "walker2d")):
    """Per-pair BTP table (``stats/below_threshold.csv``): the values ``same`` / ``different``
    for each kind in each env, one row per pair."""
    rows = []
    for env in envs:
        for kind, vals in (("same_run", same), ("different_run", different)):
            for i, v in enumerate(vals):
                rows.append(dict(env=env, kind=kind, pair=i, seed_a=i % 3, step_a=1000,
                                 seed_b=i % 3 + (kind != "same_run"), step_b=2000, btp=v))
    return pd.DataFrame(rows)


BTP_FLAT = [0.0, 0.0, 0.01, 0.0, 0.02, 0.0] * 3  # same-run paths: almost no drop
BTP_DROP = [0.3, 0.5, 0.4, 0.6, 0.45, 0.35] * 3  # different-run paths: a valley


def _a(c):
    return c[c.claim == "a"].set_index("statistic")


def test_claims_job_and_figures(tmp_path):
    from retland.plots import interpolation as PI
    from retland.plots import rejection as PR

    stats = _pu(spread=True)
    btp = _btp(BTP_FLAT, BTP_DROP)
    ltp = R.ltp_reduction_summary(rejection_log(), 200, 0.95, 0)
    c, md = _claims(tmp_path, stats, btp, ltp)
    assert c.groupby("claim")["holds"].first().to_dict() == {"a": True, "b": True, "c": True}
    assert c.groupby("claim")["holds"].all().to_dict() == {"a": True, "b": True, "c": True}  # on every row
    assert md.count("**holds**") == 3 and "does not hold" not in md
    # (a): every one of the 18 policies has its 5 same-level neighbours; the separated spreads
    a = _a(c)
    fold_row, ltp_row, skew_row = (a.loc[a.index.str.contains(w)].iloc[0] for w in ("std fold", "LTP", "skewness"))
    assert (a["n"] == 18).all()
    assert fold_row["value"] == pytest.approx(240 / 45) and fold_row["lo"] > CLAIMS["std_ratio"]
    assert ltp_row["value"] == pytest.approx(0.15) and ltp_row["lo"] > CLAIMS["ltp_diff"]
    assert skew_row["value"] == pytest.approx(1.3)
    assert "18 policies of PPO, SAC, TD3" in md
    # (b): means over the pairs of both envs, and the intervals separate
    b = c[c.claim == "b"].set_index("statistic")
    assert b.loc["mean BTP, same run", "value"] == pytest.approx(np.mean(BTP_FLAT))
    assert b.loc["mean BTP, different runs", "value"] == pytest.approx(np.mean(BTP_DROP))
    assert b.loc["mean BTP, same run", "hi"] <= CLAIMS["same_run_btp_max"]
    assert b.loc["mean BTP, different minus same run", "lo"] > 0
    assert b.loc["mean BTP, same run", "n"] == b.loc["mean BTP, different runs", "n"] == 2 * len(BTP_FLAT)
    # (c): from the fresh final estimates (the paired difference of the reductions)
    cc = c[c.claim == "c"].set_index("statistic")
    assert cc.loc["mean LTP reduction, difference (fresh final estimates)", "value"] == pytest.approx(0.175)
    # the figures render from these tables
    PI.fig06_below_threshold(I.below_threshold_summary(btp, 200, 0.95, 0), tmp_path / "f6.png", dpi=40)
    PR.fig07_ltp_reduction(ltp, tmp_path / "f7.png", dpi=40)
    PR.fig26_rejection_frequency(R.rejection_frequency(rejection_log()), tmp_path / "f26.png", dpi=40)
    ranking = R.cvar_ranking(stats.assign(suite="brax"), lambda r: np.arange(10.0) * r.mean, [0.1, 1.0])
    PR.fig24_rejection_paths(rejection_log(), ranking, "hopper", tmp_path / "f24.png", dpi=40)
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
        PR.fig24_rejection_paths(rejection_log(), ranking, "walker2d_x", tmp_path / "x.png")


def test_claims_that_fail_are_reported_as_failing(tmp_path):
    """Tables in which every claim fails, each for the reason the claim names: (a) policies of
    similar mean whose std and LTP differ only within estimation error, (b) same-run paths
    that drop as much as different-run paths, (c) rejection reducing LTP less than plain TD3."""
    same = [0.2, 0.3, 0.25, 0.35, 0.15, 0.3] * 3
    btp = _btp(same, same[::-1])
    log = rejection_log()
    swap = {"rejection": "td3", "td3": "rejection"}  # now plain TD3 reduces LTP more
    log["method"] = log["method"].map(swap)
    c, md = _claims(tmp_path, _pu(spread=False), btp, R.ltp_reduction_summary(log, 200, 0.95, 0))
    assert c.groupby("claim")["holds"].first().to_dict() == {"a": False, "b": False, "c": False}
    assert md.count("**does not hold**") == 3 and "**holds**" not in md
    # (a) fails for lack of spread, not for lack of neighbours: all 18 policies have some
    a = _a(c)
    assert (a["n"] == 18).all()
    assert a.loc[a.index.str.contains("std fold"), "value"].iloc[0] == pytest.approx(1.0)
    assert a.loc[a.index.str.contains("LTP"), "value"].iloc[0] == 0.0
    # (b) both halves fail and the report says why
    assert "same-run paths drop" in md and "different-run paths do not drop more" in md
    b = c[c.claim == "b"].set_index("statistic")
    assert b.loc["mean BTP, different minus same run", "value"] == pytest.approx(0.0)
    # (c) the paired difference is negative
    cc = c[c.claim == "c"].set_index("statistic")
    assert cc.loc["mean LTP reduction, difference (fresh final estimates)", "hi"] < 0


def test_claims_leave_out_other_suites(tmp_path):
    """Claim (a) is about the Brax study's TD3, SAC and PPO policies: in a mixed config's
    table, the policies of a DMC task (E10) and of other algorithms (here BC students) are not
    counted; without the filters they would change the verdict / the policies counted."""
    from retland.analyses.claims import claim_a

    brax = _pu(spread=True, suite="brax")
    bc = _pu(spread=False, algos=("bc",), suite="brax")
    dmc = _pu(spread=False, env="quadruped-walk", suite="dmc")  # no spread beyond estimation error
    btp = _btp(BTP_FLAT, BTP_DROP)
    ltp = R.ltp_reduction_summary(rejection_log(), 200, 0.95, 0)
    (tmp_path / "b").mkdir()
    (tmp_path / "m").mkdir()
    alone, md_alone = _claims(tmp_path / "b", brax, btp, ltp)
    mixed, md_mixed = _claims(tmp_path / "m", pd.concat([brax, bc, dmc]), btp, ltp)
    pd.testing.assert_frame_equal(alone, mixed)  # the DMC and BC rows changed nothing
    assert md_alone == md_mixed and bool(alone[alone.claim == "a"]["holds"].all())
    kw = dict(mean_tolerance=CLAIMS["mean_tolerance"], std_ratio=CLAIMS["std_ratio"], ltp_diff=CLAIMS["ltp_diff"],
              n_boot=STATS_CFG["n_boot"], ci=STATS_CFG["ci"], seed=STATS_CFG["seed"])
    ref = claim_a(brax, algos=ALGOS, **kw)
    assert ref["holds"] and ref["n_policies"] == 18
    # they would have: the DMC task's 18 spread-less policies halve the median separated std
    # spread (18 at (228 - 33) / 240, 18 at 0), a fold below the criterion's 2
    with_dmc = claim_a(pd.concat([brax, dmc]), algos=ALGOS, **kw)
    assert with_dmc["n_policies"] == 36 and not with_dmc["holds"]
    assert with_dmc["std_fold"] == pytest.approx(1 / (1 - 195 / 480)) and with_dmc["std_fold"] < CLAIMS["std_ratio"]
    # and without the algos filter the BC students would be counted among the Brax policies
    no_algos = claim_a(pd.concat([brax, bc]), **kw)
    assert no_algos["n_policies"] == 24 and "bc" in no_algos["algos"]


def test_a_claim_cannot_hold_on_too_few_units(tmp_path):
    """claims.min_n (default 5): Algorithm 1's 2 (start, run) pairs of rejection_log() give an interval,
    but no verdict."""
    from retland.jobs.claims import MIN_N

    ltp = R.ltp_reduction_summary(rejection_log(), 200, 0.95, 0)
    c, md = _claims(tmp_path, _pu(True), _btp(BTP_FLAT, BTP_DROP), ltp, min_n=MIN_N)
    assert MIN_N == 5 and not c[c["claim"] == "c"]["holds"].any()
    assert "Too few (start policy, run) pairs for an interval (fewer than claims.min_n = 5)" in md
    assert c[c["claim"] == "a"]["holds"].all()  # 18 policies with neighbours: enough
