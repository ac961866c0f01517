"""Tests for retland.stats: every definition pinned on hand-computed cases."""

import math

import numpy as np
import pytest
import scipy.stats

from retland import stats as S


# ---------------------------------------------------------------- mean / std / skew
R5 = [1.0, 2.0, 3.0, 4.0, 10.0]
# mean = 20/5 = 4; deviations -3,-2,-1,0,6; sum sq = 9+4+1+0+36 = 50
# population var = 50/5 = 10 -> std = sqrt(10) = 3.1622776601683795 (ddof=1 would be sqrt(12.5))
# m3 = (-27-8-1+0+216)/5 = 36 -> biased skew = 36 / 10**1.5 = 1.1384199576606167
# (bias-corrected G1 would be 1.1384*sqrt(20)/3 = 1.697)


def test_mean_std_population():
    assert S.mean(R5) == pytest.approx(4.0, abs=1e-12)
    assert S.std(R5) == pytest.approx(3.1622776601683795, rel=1e-12)
    assert S.std(R5) != pytest.approx(math.sqrt(12.5))


def test_skewness_biased_hand_value_and_scipy():
    assert S.skewness(R5) == pytest.approx(1.1384199576606167, rel=1e-12)
    x = [0.0, 0.5, 0.7, 3.0, 8.0, 8.5]
    assert S.skewness(x) == pytest.approx(scipy.stats.skew(x, bias=True), rel=1e-12)
    assert S.skewness(x) != pytest.approx(scipy.stats.skew(x, bias=False), rel=1e-3)
    assert math.isnan(S.skewness([2.0, 2.0, 2.0]))  # zero variance


# ---------------------------------------------------------------- mode
def test_mode_hand_histogram():
    # range [0, 10], 100 bins of width 0.1: 0 -> bin 0; 1.02, 1.05, 1.08 -> bin 10 = [1.0, 1.1);
    # 10 -> last bin (right edge included). Bin 10 wins with 3 -> midpoint 1.05.
    assert S.mode([0.0, 1.02, 1.05, 1.08, 10.0]) == pytest.approx(1.05, abs=1e-12)


def test_mode_ties_take_first_bin():
    # range [0, 10]: bin 0 = {0, 0.01}, bin 50 = {5, 5.01}, bin 99 = {10}.
    # Tie between bins 0 and 50 -> first -> midpoint 0.05 (not 5.05).
    assert S.mode([0.0, 0.01, 5.0, 5.01, 10.0]) == pytest.approx(0.05, abs=1e-12)


def test_mode_right_edge_in_last_bin():
    # range [-2, 10], width 0.12: six 10s sit on the right edge -> last bin [9.88, 10]
    # -> mode = (9.88 + 10)/2 = 9.94
    assert S.mode([10.0] * 6 + [0.0, 3.0, 5.0, -2.0]) == pytest.approx(9.94, abs=1e-12)


def test_mode_constant_array_follows_numpy():
    # numpy uses range [2.5, 3.5] (width 0.01); 3.0 lands in bin 50 = [3.00, 3.01) -> 3.005
    assert S.mode([3.0, 3.0, 3.0]) == pytest.approx(3.005, abs=1e-12)


def test_mode_bins_argument():
    # 2 bins over [0, 4]: [0,2) has {0, 1, 1.5}, [2,4] has {4} -> midpoint 1.0
    assert S.mode([0.0, 1.0, 1.5, 4.0], bins=2) == pytest.approx(1.0)


# ---------------------------------------------------------------- LTP
def test_ltp_counts_half_open_interval_from_zero():
    r = [-1.0, 0.0, 2.0, 4.999, 5.0, 7.0, 10.0]
    # mode 10 -> threshold 5: counted 0 (included), 2, 4.999; -1 excluded (negative),
    # 5 excluded (boundary) -> 3/7
    assert S.ltp(r, mode_value=10.0) == pytest.approx(3 / 7)
    # LTP_0.8: threshold 8 -> 0, 2, 4.999, 5, 7 -> 5/7
    assert S.ltp(r, mode_value=10.0, alpha=0.8) == pytest.approx(5 / 7)


def test_ltp_with_estimated_mode():
    # mode 9.94 (see test_mode_right_edge_in_last_bin) -> threshold 4.97:
    # counted 0 and 3; 5 is above, -2 negative -> 2/10
    assert S.ltp([10.0] * 6 + [0.0, 3.0, 5.0, -2.0]) == pytest.approx(0.2)
    # ties case: mode 0.05 -> threshold 0.025 -> {0, 0.01} -> 2/5
    assert S.ltp([0.0, 0.01, 5.0, 5.01, 10.0]) == pytest.approx(0.4)


def test_ltp_nan_for_non_positive_mode():
    # range [-10, 5], width 0.15: bin 0 = [-10, -9.85) holds 3 values -> mode -9.925 <= 0
    r = [-10.0, -9.98, -9.96, 0.0, 5.0]
    assert S.mode(r) == pytest.approx(-9.925, abs=1e-12)
    assert math.isnan(S.ltp(r))
    assert math.isnan(S.ltp([0.0, 1.0], mode_value=0.0))
    assert math.isnan(S.ltp([0.0, 1.0], mode_value=-3.0))


# ---------------------------------------------------------------- CVaR
R10 = np.arange(1.0, 11.0)


def test_cvar_hand_cases():
    # alpha 0.2: q = 2 + 0.8*(3-2) = 2.8; min(R-q,0) = -1.8, -0.8 -> mean -0.26 -> /0.2 = -1.3 -> 1.5
    assert S.cvar(R10, 0.2) == pytest.approx(1.5, abs=1e-12)
    # alpha 0.25: q = 3 + 0.25 = 3.25; -2.25-1.25-0.25 = -3.75 -> mean -0.375 -> /0.25 = -1.5 -> 1.75
    assert S.cvar(R10, 0.25) == pytest.approx(1.75, abs=1e-12)
    # alpha 0.1: q = 1.9; -0.9 -> mean -0.09 -> /0.1 = -0.9 -> 1.0
    assert S.cvar(R10, 0.1) == pytest.approx(1.0, abs=1e-12)


def test_cvar_alpha_one_is_mean():
    assert S.cvar(R10, 1.0) == pytest.approx(5.5, abs=1e-12)
    assert S.cvar(R5, 1.0) == pytest.approx(4.0, abs=1e-12)


# ---------------------------------------------------------------- point stats / non-finite
def test_point_stats_keys_and_values():
    p = S.point_stats(R10)
    assert set(p) == {"n", "n_nonfinite", "ltp_all", *S.STAT_NAMES}
    assert p["n"] == 10 and p["n_nonfinite"] == 0
    assert p["cvar_0.1"] == pytest.approx(1.0)
    q = S.point_stats(R10, cvar_alpha=0.25)
    assert q["cvar_0.25"] == pytest.approx(1.75) and "cvar_0.1" not in q


def test_nonfinite_counted_and_excluded():
    r = R5 + [np.nan, np.inf, -np.inf]
    p = S.point_stats(r)
    assert p["n"] == 8 and p["n_nonfinite"] == 3
    assert p["mean"] == pytest.approx(4.0)
    assert p["std"] == pytest.approx(math.sqrt(10.0))
    assert p["skewness"] == pytest.approx(1.1384199576606167)
    assert S.mean(r) == pytest.approx(4.0)
    s = S.summarize(r, n_boot=50, seed=0)
    assert s["n_nonfinite"] == 3 and np.isfinite(s["mean_boot_mean"])


def test_all_nonfinite_gives_nan():
    r = [np.nan, np.inf, -np.inf]
    s = S.summarize(r, n_boot=20, seed=0)
    assert s["n"] == 3 and s["n_nonfinite"] == 3
    for name in S.STAT_NAMES:
        for key in (name, f"{name}_boot_mean", f"{name}_lo", f"{name}_hi"):
            assert math.isnan(s[key]), key


# ---------------------------------------------------------------- bootstrap
def _sample(seed=0, n=400):
    return np.random.default_rng(seed).normal(100.0, 10.0, size=n)


def test_bootstrap_keys_and_determinism():
    r = _sample()
    a = S.summarize(r, n_boot=200, seed=1)
    b = S.summarize(r, n_boot=200, seed=1)
    c = S.summarize(r, n_boot=200, seed=2)
    for name in S.STAT_NAMES:
        for suffix in ("_boot_mean", "_lo", "_hi"):
            assert name + suffix in a
    assert a == b
    assert a["mean_boot_mean"] != c["mean_boot_mean"]
    assert a["std_lo"] != c["std_lo"]
    # Generator and int seed are interchangeable
    g = S.bootstrap_stats(r, n_boot=200, rng=np.random.default_rng(1))
    assert g == {k: a[k] for k in g}


def test_bootstrap_interval_contains_point_and_has_right_width():
    r = _sample()
    s = S.summarize(r, seed=0)
    for name in ("mean", "std", "skewness", "cvar_0.1"):
        assert s[f"{name}_lo"] < s[name] < s[f"{name}_hi"], name
    # SE of mean = 10/sqrt(400) = 0.5 -> 95% width ~ 2*1.96*0.5 = 1.96
    assert 1.6 < s["mean_hi"] - s["mean_lo"] < 2.4
    # ci = 0.5 -> width ~ 2*0.674*0.5 = 0.674
    h = S.summarize(r, ci=0.5, seed=0)
    assert 0.5 < h["mean_hi"] - h["mean_lo"] < 0.85
    assert s["mean_boot_mean"] == pytest.approx(s["mean"], abs=0.1)


def test_bootstrap_ltp_tolerates_nan_resamples():
    # mode sits near 0: some resamples have a non-positive mode (LTP NaN), others not
    rng = np.random.default_rng(3)
    r = np.concatenate([rng.normal(0.0, 1.0, 60), [50.0, -50.0]])
    s = S.summarize(r, n_boot=300, seed=0)
    assert np.isfinite(s["ltp_boot_mean"])
    assert s["ltp_lo"] <= s["ltp_boot_mean"] <= s["ltp_hi"]


def _edge_rows(rng):
    """50 rows of length 40 that stress ties, edges and degenerate ranges."""
    n = 40
    rows = []
    for _ in range(10):
        rows.append(rng.normal(50.0, 20.0, n))
    for _ in range(8):  # heavy ties
        rows.append(rng.integers(-3, 6, n).astype(float))
    for v in (0.0, 3.0, -2.5, 1e6, 0.1):  # constant rows
        rows.append(np.full(n, v))
    grid = np.linspace(0.0, 1.0, 101)
    for _ in range(8):  # values exactly on (linspace) bin edges
        rows.append(rng.choice(grid, n))
    fine = np.arange(0, 101) / 10.0
    for _ in range(5):
        rows.append(rng.choice(fine, n))
    for _ in range(6):  # large offset: ULP-level edge disagreements
        rows.append(1e6 + rng.choice(np.arange(101) * 0.37, n))
    for _ in range(4):  # two-valued rows
        rows.append(rng.choice([1.0, 7.0], n))
    for _ in range(4):  # resamples of a fixed positive sample
        base = rng.normal(5.0, 3.0, 25)
        rows.append(rng.choice(base, n))
    x = np.vstack(rows)
    assert x.shape == (50, n)
    return x


def test_vectorised_mode_ltp_equal_scalar_exactly():
    x = _edge_rows(np.random.default_rng(7))
    modes = S._row_modes(x)
    ltps = S._row_ltps(x, modes)
    for i, row in enumerate(x):
        m = S.mode(row)
        assert modes[i] == m, (i, modes[i], m)
        lt = S.ltp(row)
        assert (math.isnan(lt) and math.isnan(ltps[i])) or ltps[i] == lt, (i, ltps[i], lt)


def test_vectorised_row_stats_match_scalar():
    x = _edge_rows(np.random.default_rng(11))[:20]
    per_row = S._row_stats(x, 0.1)
    for i, row in enumerate(x):
        p = S.point_stats(row)
        for name in S.STAT_NAMES:
            a, b = per_row[name][i], p[name]
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-10, abs=1e-10), (i, name)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: S.mean(np.zeros((2, 3))), "1-D"),
        (lambda: S.point_stats(5.0), "1-D"),
        (lambda: S.mode([]), "empty"),
        (lambda: S.summarize([]), "empty"),
        (lambda: S.cvar(R10, 0.0), "alpha"),
        (lambda: S.cvar(R10, 1.5), "alpha"),
        (lambda: S.ltp(R10, alpha=-0.1), "alpha"),
        (lambda: S.point_stats(R10, cvar_alpha=2.0), "cvar_alpha"),
        (lambda: S.bootstrap_stats(R10, n_boot=0), "n_boot"),
        (lambda: S.bootstrap_stats(R10, ci=1.0), "ci"),
        (lambda: S.summarize(R10, ci=0.0), "ci"),
        (lambda: S.below_threshold_proportion(np.zeros((2, 2)), 1.0, 1.0), "1-D"),
    ],
)
def test_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- BTP
def test_btp_hand_path():
    path = [100.0, 50.0, 9.99, 10.0, -5.0, 150.0, 200.0]
    # threshold = 0.1 * min(100, 200) = 10 (strict): below are 9.99 and -5 -> 2/7
    assert S.below_threshold_proportion(path, 100.0, 200.0) == pytest.approx(2 / 7)
    # order of endpoints irrelevant
    assert S.below_threshold_proportion(path, 200.0, 100.0) == pytest.approx(2 / 7)
    # fraction 0.5 -> threshold 50: 9.99, 10, -5 below; 50 not -> 3/7
    assert S.below_threshold_proportion(path, 100.0, 200.0, fraction=0.5) == pytest.approx(3 / 7)


def test_btp_nonfinite_point_is_a_collapse():
    assert S.below_threshold_proportion([100.0, np.nan, 200.0, 150.0], 100.0, 200.0) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="endpoint"):
        S.below_threshold_proportion([1.0], np.nan, 1.0)


def test_ltp_paper_and_authors_code_differ_only_below_zero():
    """Paper Eq. 5 counts 0 <= R < mode/2; the authors' code every R < mode/2."""
    r = np.r_[np.full(80, 100.0), [40.0] * 5, [-30.0] * 10, [100.5] * 5]  # mode 100: 5 in [0, 50), 10 below 0
    assert S.ltp(r) == pytest.approx(0.05)
    assert S.ltp(r, count_negative=True) == pytest.approx(0.15)
    p = S.point_stats(r)
    assert p["ltp"] == pytest.approx(0.05) and p["ltp_all"] == pytest.approx(0.15)
    assert S.ltp(np.abs(r), count_negative=True) == S.ltp(np.abs(r))  # no negative return: the same


# --- rliable aggregates (E6-E9 summaries use them) ---

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
