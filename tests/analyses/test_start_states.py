"""E5 (paper A.4, Fig. 10): buffer start states and the per-state LTP."""
import numpy as np
import pandas as pd
import pytest

from retland import stats as S
from retland.analyses import start_states as SS


def test_buffer_indices_and_positions():
    idx = SS.buffer_indices(100, 200, 5)
    assert idx[0] == 100 and idx[-1] == 199 and len(set(idx)) == 5 and np.all(np.diff(idx) > 0)
    np.testing.assert_allclose(SS.relative_position(idx, 100, 200), [0, 0.25, 0.5, 0.75, 1.0], atol=0.01)
    with pytest.raises(ValueError, match="exceeds"):
        SS.buffer_indices(0, 3, 4)
    with pytest.raises(ValueError, match="invalid buffer range"):
        SS.buffer_indices(5, 5, 1)


def test_state_stats_and_average_over_checkpoints():
    r = np.array([np.r_[np.full(9, 100.0), 10.0], np.full(10, 50.0)])
    st = SS.state_stats(r)
    assert st["ltp"][0] == pytest.approx(S.ltp(r[0])) == pytest.approx(0.1) and st["ltp"][1] == 0.0
    df = pd.DataFrame({"seed": [0, 0, 0, 0], "state": [0, 1, 0, 1], "rel_pos": [0.0, 1.0, 0.0, 1.0],
                       "buffer_index": [0, 99, 0, 99], "ltp": [0.2, np.nan, 0.4, 0.0], "mean": [1.0, 2.0, 3.0, 4.0]})
    avg = SS.average_over_checkpoints(df)
    assert avg.ltp.tolist() == pytest.approx([0.3, 0.0]) and avg.n_ltp_defined.tolist() == [2, 1]
    assert avg.buffer_index.tolist() == [0, 99]


def test_a_state_counts_only_at_checkpoints_whose_buffer_holds_it():
    """Fig. 10 (A.4): states fixed by collection time over the last buffer; the first
    checkpoint's buffer [0, 100) holds only the states collected before step 100."""
    idx = SS.buffer_indices(0, 300, 4)  # collection times 0, 100, 199, 299
    assert idx.tolist() == [0, 100, 199, 299]
    assert SS.states_in_buffer(idx, 0, 100).tolist() == [0]
    assert SS.states_in_buffer(idx, 0, 200).tolist() == [0, 1, 2]
    assert SS.states_in_buffer(idx, 150, 300).tolist() == [2, 3]  # a sliding buffer drops old rows


def test_state_from_obs_rebuilds_the_state():
    """A state rebuilt from a real state's observation gives the same next observation and
    reward. Checked with the generalized backend, where (q, qd) is the whole state; spring
    keeps maximal coordinates, whose small joint drift the rebuilt state drops (README)."""
    import jax
    import jax.numpy as jnp

    from retland.base.envs import make_env

    env = make_env("hopper", "generalized", episode_length=50)
    s = env.reset(jax.random.PRNGKey(1))
    step = jax.jit(env.step)
    k = jax.random.PRNGKey(2)
    for _ in range(10):
        k, k1 = jax.random.split(k)
        s = step(s, 0.5 * jax.random.uniform(k1, (env.spec.act_dim,), minval=-1, maxval=1))
    assert float(jnp.abs(s.obs[5:]).max()) < 10  # no clipped velocity
    rb = jax.jit(env.state_from_obs)(s.obs)
    np.testing.assert_allclose(rb.obs, s.obs, atol=1e-5)
    assert float(rb.pipeline_state.q[0]) == 0.0 != float(s.pipeline_state.q[0])  # horizontal position reset
    a = jnp.full((env.spec.act_dim,), 0.3)
    n1, n2 = step(s, a), step(rb, a)
    np.testing.assert_allclose(n2.obs, n1.obs, atol=1e-4)
    assert float(n2.reward) == pytest.approx(float(n1.reward), abs=1e-4)


def test_start_state_estimator_runs(tiny_training):
    import jax

    from retland.jobs.sources import CheckpointSource

    src = CheckpointSource(tiny_training["paths"][0])
    state, (lo, hi) = src.checkpoint(200)
    est = SS.make_start_state_estimator(src, 20)
    idx = SS.buffer_indices(lo, hi, 2)
    keys = jax.random.split(jax.random.PRNGKey(0), 6).reshape(2, 3, -1)
    r, l = est(state, keys, src.replay, lo, hi, src.replay.obs[idx])
    assert r.shape == (2, 3) and np.all(np.isfinite(np.asarray(r))) and np.all(np.asarray(l) >= 1)
