"""E4 (paper Sec. 3.2, Fig. 3, 4, 23): policy and trajectory selection, race curves, re-simulation."""
import numpy as np
import pandas as pd
import pytest

from retland import stats as S
from retland.analyses import failures as F


def _returns():
    # mode ~ 100 (most samples), mean pulled down by a tail below 50
    r = np.concatenate([np.full(80, 100.0) + np.linspace(-1, 1, 80), [48.0, 40.0, 10.0, 0.0, -5.0, 55.0, 60.0]])
    return r


def test_classify_thresholds():
    r = _returns()
    c = F.classify(r)
    m, mu = S.mode(r), r.mean()
    assert c["mode"] == m and c["mean"] == pytest.approx(mu)
    np.testing.assert_array_equal(c["success"], np.abs(r - mu) <= 0.1 * abs(mu))
    np.testing.assert_array_equal(c["failing"], (r >= 0) & (r < 0.5 * m))
    # the boundaries: -5 (negative) is not failing, 0 is; 55 is not (>= 0.5 mode, mode ~100)
    assert c["failing"][list(r).index(0.0)] and not c["failing"][list(r).index(-5.0)]
    assert not c["failing"][list(r).index(55.0)]
    # the failing fraction is the LTP of stats.py
    assert c["failing"].mean() == pytest.approx(S.ltp(r))


def test_pick_pair_and_fallback():
    r = _returns()
    s, f, kind = F.pick_pair(r)
    c = F.classify(r)
    assert kind == "ltp" and c["success"][s] and c["failing"][f]
    assert abs(r[s] - r.mean()) == np.min(np.abs(r[c["success"]] - r.mean()))
    flat = np.full(20, 10.0) + np.linspace(0, 0.1, 20)  # no tail
    s, f, kind = F.pick_pair(flat)
    assert kind == "lowest" and f == 0
    assert F.pick_pair(flat, fallback_ok=False) is None
    assert F.pick_pair(np.array([0.0, 100.0])) is None  # nothing within 10% of the mean 50


def test_select_policies_ltp_and_fallback():
    df = pd.DataFrame({"env": "hopper", "algo": "td3", "seed": [0, 0, 1, 1], "step": [1, 2, 1, 2],
                       "ltp": [0.0, 0.1, 0.2, 0.0], "mode": [100.0, 100, 100, 100],
                       "mean": [90.0, 90, 90, 90], "std": [1.0, 1, 1, 1], "min": [95.0, 10, 20, 5]})
    rows, fb, note = F.select_policies(df, "hopper", "td3", 10)
    assert not fb and set(zip(rows.seed, rows.step)) == {(0, 2), (1, 1)}
    rows, fb, _ = F.select_policies(df, "hopper", "td3", 1, seed=0)
    assert len(rows) == 1 and rows.ltp.iloc[0] > 0
    none = df.assign(ltp=0.0)
    rows, fb, note = F.select_policies(none, "hopper", "td3", 2)
    assert fb and "FALLBACK" in note and set(zip(rows.seed, rows.step)) == {(1, 2), (0, 2)}  # lowest mins
    with pytest.raises(ValueError, match="no sac policies"):
        F.select_policies(df, "hopper", "sac", 2)


def test_race_curves_misstep_and_summary():
    T = 100
    rs = np.ones(T)
    rf = np.ones(T)
    rf[60:] = 0.0  # terminated at step 60: reward held (zero) afterwards
    cs, cf = F.race_curves(rs, rf)
    assert cs[-1] == 100 and cf[-1] == 60 and np.all(cf[60:] == 60)
    assert F.misstep_step(rs, rf, 60, T) == 59
    low = np.ones(T)
    low[40:] = 0.01  # a low-reward stretch without termination
    m = F.misstep_step(rs, low, T, T)
    assert 40 <= m <= 46 and (np.cumsum(rs) - np.cumsum(low))[m] >= 5
    s = F.termination_summary([60, 100, 100, 20], T)
    assert s == {"n_failing": 4, "n_terminated": 2, "n_low_reward": 2, "frac_terminated": 0.5,
                 "frac_low_reward": 0.5}


def test_resimulation_with_post_update_keys_matches_stored_returns(tiny_training, tmp_path):
    """Re-simulating samples with sample_key(...) split N ways gives the stored post-update returns."""
    import jax
    import jax.numpy as jnp

    from retland.analyses.landscape import make_update
    from retland.analyses.post_update import post_update_returns
    from retland.jobs.sources import CheckpointSource, sample_key

    src = CheckpointSource(tiny_training["paths"][1])
    state, (lo, hi) = src.checkpoint(200)
    n, horizon = 8, 40
    stored, lengths = post_update_returns(src, state, sample_key(0, 1, 200), replay=src.replay, lo=lo, hi=hi,
                                          n_samples=n, horizon=horizon, chunk_size=8, log=lambda m: None)
    keys = jax.random.split(sample_key(0, 1, 200), n)
    upd = make_update(src)
    idx = [5, 2]
    params = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *[upd(state, keys[i], src.replay, lo, hi) for i in idx])
    resim = F.make_resimulator(src, horizon)
    ret, length, rewards, poses = resim(params, src.env.reference_state())
    np.testing.assert_array_equal(np.asarray(ret, np.float64), stored[idx])
    np.testing.assert_array_equal(np.asarray(length), lengths[idx])
    np.testing.assert_allclose(np.asarray(rewards).sum(axis=1), stored[idx], rtol=1e-5)
