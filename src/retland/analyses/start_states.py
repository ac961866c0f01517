"""E5 / paper A.4 (Fig. 10): left-tail probability from start states taken from the replay buffer.

For 3 TD3 runs, K states are fixed per run: replay rows evenly spaced over the whole
logged buffer (the buffer at the last checkpoint), each identified by its collection time
(replay index = environment step at which it was collected). They are turned back into
simulator states (``BraxEnv.state_from_obs``: horizontal root position 0, on which neither
dynamics nor rewards depend), and at every checkpoint whose buffer contains a state (rows
[lo, hi) of the checkpoint) the post-update return distribution (N updates, the agent's
``post_update``) is estimated from it instead of from s_I. Each state's LTP is averaged
over those checkpoints and plotted against its collection time (paper A.4: "for each of
these states, identified by their collection time (index in the replay buffer) the LTP
averaged over all the checkpoints"; a state collected after a checkpoint was not in that
checkpoint's buffer, so that checkpoint does not count for it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats as S


def buffer_indices(lo: int, hi: int, k: int) -> np.ndarray:
    """``k`` distinct rows evenly spaced over ``[lo, hi)`` (first and last row included)."""
    if not (0 <= lo < hi):
        raise ValueError(f"empty or invalid buffer range [{lo}, {hi})")
    if k < 1:
        raise ValueError(f"start_states.n_states must be >= 1, got {k}")
    if k > hi - lo:
        raise ValueError(f"start_states.n_states={k} exceeds the {hi - lo} rows of the buffer [{lo}, {hi})")
    return np.linspace(lo, hi - 1, k).round().astype(np.int64)


def relative_position(idx, lo: int, hi: int) -> np.ndarray:
    return (np.asarray(idx, float) - lo) / max(hi - 1 - lo, 1)


def states_in_buffer(idx, lo: int, hi: int) -> np.ndarray:
    """Positions (into ``idx``) of the fixed states that the buffer rows [lo, hi) contain."""
    idx = np.asarray(idx)
    return np.flatnonzero((idx >= lo) & (idx < hi))


def make_start_state_estimator(src, horizon: int):
    """``f(state, keys[K, N], replay, lo, hi, obs[K]) -> (returns[K, N], lengths[K, N])``, jitted:
    N post-updates of ``src``'s agent (its config and environment:
    :mod:`retland.analyses.source`) rolled out from each of K states rebuilt from observations."""
    import jax

    from ..rollout import make_rollout
    from .source import policy_of

    agent, env, cfg = src.agent, src.env, src.cfg
    rollout = make_rollout(env, policy_of(src), horizon)

    def one(state, key, replay, lo, hi, start):
        return rollout(agent.post_update(state, key, replay, lo, hi, cfg, env), start)

    per_state = jax.vmap(one, in_axes=(None, 0, None, None, None, None))

    def f(state, keys, replay, lo, hi, obs):
        starts = jax.vmap(env.state_from_obs)(obs)
        return jax.vmap(per_state, in_axes=(None, 0, None, None, None, 0))(state, keys, replay, lo, hi, starts)

    return jax.jit(f)


def state_stats(returns: np.ndarray) -> dict:
    """Per-state statistics (stats.py definitions) of ``returns[K, N]``."""
    r = np.asarray(returns, float)
    return {
        "ltp": np.array([S.ltp(row) for row in r]),
        "mode": np.array([S.mode(row) for row in r]),
        "mean": np.array([S.mean(row) for row in r]),
    }


def average_over_checkpoints(df: pd.DataFrame) -> pd.DataFrame:
    """Fig. 10's curve: per (seed, state) the LTP averaged over the checkpoints that evaluated
    it (NaN LTPs, i.e. non-positive modes, are skipped and counted)."""
    g = df.groupby(["seed", "state"], sort=True)
    out = g.agg(buffer_index=("buffer_index", "first"), rel_pos=("rel_pos", "first"), ltp=("ltp", "mean"),
                mean=("mean", "mean"),
                n_checkpoints=("ltp", "size"), n_ltp_defined=("ltp", "count")).reset_index()
    return out
