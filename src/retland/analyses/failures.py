"""E4 / paper Sec. 3.2 (Fig. 3, 4) and A.8 (Fig. 23): anatomy of post-update failures.

Protocol (Sec. 3.2): per environment, up to 10 TD3 policies with LTP > 0 (chosen at
random among them); from each policy's post-update samples one *successful*
trajectory (return within 10% of the post-update mean, |R - mean| <= 0.1 |mean|) and
one *failing* trajectory (0 <= R < 0.5 mode, the LTP's tail: docs/design.md section 1, stats.ltp).
The samples are re-simulated with the keys of the post-update job to get per-step
rewards. Race curves (Fig. 3 right, Fig. 23): cumulative return of the successful
against the failing trajectory, reward held constant after termination. A failing
trajectory "ends by termination" when its length is below the horizon, else by a
low-reward stretch. The misstep (Fig. 4) is the step where the failing trajectory's
cumulative return starts to fall behind the successful one's for good.

When no policy has LTP > 0 (small scale), the policies with the largest left tail
(lowest minimum return relative to the mode) are taken instead; that fallback is
reported in every output, never hidden.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats as S

SUCCESS_TOL = 0.1   # |R - mean| <= 0.1 |mean| (Sec. 3.2)
FAIL_FRACTION = 0.5  # 0 <= R < 0.5 mode (the LTP's tail, Sec. 3.1)


def make_resimulator(src, horizon: int):
    """``f(params[B], start) -> (returns[B], lengths[B], rewards[B, T], poses)``, jitted: the
    rollout of ``rollout.make_rollout`` (same arithmetic, so the returns equal the
    post-update job's) of the deterministic policy of ``src`` (agent, config, environment:
    :mod:`retland.analyses.source`), also recording per-step rewards and poses for the frames."""
    import jax

    from ..rollout import make_recording_rollout
    from .source import policy_of

    return jax.jit(jax.vmap(make_recording_rollout(src.env, policy_of(src), horizon), in_axes=(0, None)))


def select_policies(stats: pd.DataFrame, env: str, algo: str, max_policies: int, seed: int = 0):
    """Up to ``max_policies`` policies of (env, algo) with LTP > 0, drawn at random
    (numpy Generator ``seed``), returned in table order; ``(rows DataFrame, fallback: bool,
    note: str)``. Fallback without any LTP > 0: the ``max_policies`` policies with the
    largest left tail ``(mode - min) / |mode|`` (needs a ``min`` column; else std / |mean|)."""
    if max_policies < 1:
        raise ValueError(f"failures.max_policies must be >= 1, got {max_policies}")
    df = stats[(stats["env"] == env) & (stats["algo"] == algo)].reset_index(drop=True)
    if df.empty:
        raise ValueError(f"stats table has no {algo} policies for env {env!r}")
    pos = df[df["ltp"].fillna(0) > 0]
    if len(pos):
        rng = np.random.default_rng(seed)
        take = np.sort(rng.choice(len(pos), size=min(max_policies, len(pos)), replace=False))
        return pos.iloc[take].reset_index(drop=True), False, (
            f"{len(take)} of {len(pos)} {algo} policies with LTP > 0 (drawn at random, seed {seed})")
    if "min" in df.columns:
        tail = (df["mode"] - df["min"]) / df["mode"].abs()
        what = "(mode - min) / |mode|"
    else:
        tail = df["std"] / df["mean"].abs()
        what = "std / |mean|"
    order = np.argsort(-tail.fillna(-np.inf).to_numpy(), kind="stable")[:max_policies]
    rows = df.iloc[np.sort(order)].reset_index(drop=True)
    return rows, True, (f"FALLBACK: no {algo} policy of {env} has LTP > 0; took the {len(rows)} "
                        f"with the largest left tail {what}")


def classify(returns) -> dict:
    """Masks of successful and failing samples of one post-update distribution."""
    r = np.asarray(returns, float)
    fin = np.isfinite(r)
    m, mu = S.mode(r), S.mean(r)
    success = fin & (np.abs(r - mu) <= SUCCESS_TOL * abs(mu))
    failing = fin & (r >= 0) & (r < FAIL_FRACTION * m) if m > 0 else np.zeros_like(fin)
    return {"success": success, "failing": failing, "mean": mu, "mode": m}


def pick_pair(returns, fallback_ok: bool = True):
    """(successful index, failing index, kind) of one distribution.

    Successful: the sample closest to the mean among those within 10% of it. Failing:
    the lowest-index sample with 0 <= R < 0.5 mode; ``kind == "ltp"``. If none exists and
    ``fallback_ok``, the lowest finite return (``kind == "lowest"``); if even that is
    impossible, ``None``.
    """
    r = np.asarray(returns, float)
    c = classify(r)
    if not c["success"].any():
        return None
    succ_idx = np.flatnonzero(c["success"])
    s = int(succ_idx[np.argmin(np.abs(r[succ_idx] - c["mean"]))])
    if c["failing"].any():
        return s, int(np.flatnonzero(c["failing"])[0]), "ltp"
    if not fallback_ok:
        return None
    fin = np.flatnonzero(np.isfinite(r))
    f = int(fin[np.argmin(r[fin])])
    return (s, f, "lowest") if f != s else None


def race_curves(rewards_success, rewards_fail):
    """Cumulative returns R_<=t of both trajectories (rewards are already 0 after
    termination, so R is held constant): two arrays of the horizon's length."""
    return np.cumsum(np.asarray(rewards_success, float)), np.cumsum(np.asarray(rewards_fail, float))


def misstep_step(rewards_success, rewards_fail, length_fail: int, horizon: int, frac: float = 0.05) -> int:
    """The failing trajectory's misstep: its termination step if it terminated, else the
    last step at which the cumulative-return gap was still below ``frac`` of the
    successful trajectory's final return (after it the curve leaves the diagonal)."""
    if length_fail < horizon:
        return int(length_fail) - 1
    cs, cf = race_curves(rewards_success, rewards_fail)
    gap = cs - cf
    above = gap >= frac * max(abs(cs[-1]), 1e-9)
    if not above.any():
        return len(gap) - 1
    if above[-1]:  # the gap stays open: the start of the final open stretch
        below = np.flatnonzero(~above)
        return int(below[-1] + 1) if below.size else 0
    return int(np.flatnonzero(above)[0])  # it recovers: the first divergence


def termination_summary(lengths_fail, horizon: int) -> dict:
    """Fraction of failing trajectories ending by termination (length < horizon) vs
    by a low-reward stretch (running the whole horizon)."""
    lf = np.asarray(lengths_fail, int)
    n = int(lf.size)
    term = int((lf < horizon).sum())
    return {"n_failing": n, "n_terminated": term, "n_low_reward": n - term,
            "frac_terminated": term / n if n else float("nan"),
            "frac_low_reward": (n - term) / n if n else float("nan")}
