"""Claim (a) (Sec. 3.1 / Fig. 2) as analyses.claims states it: separated spread of std, LTP
and skewness among policies of similar mean, over all algorithms, bootstrapped over
policies. Constructed tables where it holds and where it does not."""

import numpy as np
import pandas as pd
import pytest

from retland.analyses.claims import claim_a, fold, neighbourhood_spreads


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
