"""E3 / paper Sec. 3 (Fig. 1), A.2 and A.12 (Fig. 27): local maps of the return landscape.

For a policy theta0 and two independent post-updates theta' = u(theta0, X'),
theta'' = u(theta0, X'') (the agent's own update, two different keys), the map is

    R(theta0 + a (theta' - theta0) + b (theta'' - theta0)),   a, b in [-extent, extent]

(A.2: extent 3, so 1.0 on an axis is one update). Parameters are formed as
(1 - a - b) theta0 + a theta' + b theta'' -- the same point -- so that (0, 0) and
(1, 0) give theta0 and theta' bit for bit. Every grid is ONE vmapped batch of
deterministic rollouts from s_I (chunked with a fixed shape). Fig. 27 repeats the map
at the same resolution on windows shrunk by ``zoom`` and ``zoom**2`` ("zoom in ...
twice", A.12).

The pair of Fig. 1 (a noisy and a smooth neighbourhood of similar mean post-update
return) is chosen from the statistics table by :func:`select_pair`, a pure function.
"""

from __future__ import annotations

import itertools
import time
from typing import Callable

import numpy as np
import pandas as pd

from .interpolation import learned_policies

N_LEVELS = 3  # Fig. 27: the map and two successive zooms


def select_pair(stats: pd.DataFrame, env: str, mean_tol: float = 0.1) -> dict:
    """The Fig. 1 pair: two policies of ``env`` with similar mean post-update return,
    one in a noisy neighbourhood, one in a smooth one.

    Candidates: policies with a finite, positive mean, and among those the ones whose
    mean is at least half the best (when two or more are: policies that have learned
    something, not ones that fall at once with a trivially flat neighbourhood). A pair is "similar" when its
    means differ by at most ``mean_tol`` (relative to the larger); if no pair is, the
    tolerance is doubled until one is (the tolerance used is reported). Among similar
    pairs the one with the largest LTP difference wins; when no pair differs in LTP
    (e.g. all LTPs are 0 at small scale), the largest difference of std / mean. Ties:
    the higher mean, then table order. Returns ``{"noisy": row, "smooth": row,
    "criterion": "ltp"|"std/mean", "mean_tol": float, "reason": str}``.
    """
    need = {"env", "algo", "seed", "step", "mean", "std", "ltp"}
    missing = need - set(stats.columns)
    if missing:
        raise ValueError(f"stats table lacks columns {sorted(missing)}")
    df = stats[(stats["env"] == env) & np.isfinite(stats["mean"]) & (stats["mean"] > 0)].reset_index(drop=True)
    if len(df) < 2:
        raise ValueError(f"env {env!r}: need at least 2 policies with a positive finite mean "
                         f"post-update return to pick a Fig. 1 pair, found {len(df)}")
    # Only policies that have learned something: a policy that falls at once has a
    # trivially flat neighbourhood (all its updates fall the same way), which says nothing
    # about Fig. 1's question. Keep those within half of the env's best mean when at
    # least two are (the reason says so).
    df, screened = learned_policies(df)
    mean = df["mean"].to_numpy(float)
    ltp = np.nan_to_num(df["ltp"].to_numpy(float), nan=0.0)
    cv = df["std"].to_numpy(float) / mean
    pairs = list(itertools.combinations(range(len(df)), 2))
    rel = np.array([abs(mean[i] - mean[j]) / max(mean[i], mean[j]) for i, j in pairs])
    tol = float(mean_tol)
    while not (rel <= tol + 1e-12).any():
        tol *= 2.0
    ok = [p for p, r in zip(pairs, rel) if r <= tol + 1e-12]
    d_ltp = np.array([abs(ltp[i] - ltp[j]) for i, j in ok])
    if d_ltp.max() > 0:
        crit, score, key = "ltp", d_ltp, ltp
    else:
        crit, key = "std/mean", cv
        score = np.array([abs(cv[i] - cv[j]) for i, j in ok])
    best = max(range(len(ok)), key=lambda k: (score[k], mean[ok[k][0]] + mean[ok[k][1]], -k))
    i, j = ok[best]
    noisy, smooth = (i, j) if (key[i], cv[i]) >= (key[j], cv[j]) else (j, i)
    reason = (f"similar mean post-update return (|diff| <= {tol:.3g} x larger mean; "
              f"{'widened from ' + format(mean_tol, 'g') if tol != mean_tol else 'as configured'}), "
              f"largest {crit} difference among {len(ok)} such pairs of {len(df)} policies"
              + (" with mean >= 0.5 x the best" if screened else ""))
    return {"noisy": df.iloc[noisy].to_dict(), "smooth": df.iloc[smooth].to_dict(),
            "criterion": crit, "mean_tol": tol, "reason": reason}


def grid_axes(grid: int, extent: float, zoom: float, levels: int = N_LEVELS) -> list[np.ndarray]:
    """Axis values of each zoom level: ``linspace(-e, e, grid)`` with e = extent / zoom**k."""
    if grid < 2:
        raise ValueError(f"landscape grid must have >= 2 points per axis, got {grid}")
    if extent <= 0 or zoom <= 1:
        raise ValueError(f"landscape extent must be > 0 and zoom > 1, got {extent}, {zoom}")
    return [np.linspace(-extent / zoom**k, extent / zoom**k, grid) for k in range(levels)]


def combine(theta0, theta1, theta2, ab):
    """Parameter trees (1 - a - b) theta0 + a theta1 + b theta2 for ``ab[P, 2]`` (leading axis P).

    Equal to theta0 + a (theta1 - theta0) + b (theta2 - theta0); exact at (0, 0) and (1, 0).
    """
    import jax
    import jax.numpy as jnp

    ab = jnp.asarray(ab, jnp.float32)
    a, b = ab[:, 0], ab[:, 1]
    c = 1.0 - a - b

    def leaf(t0, t1, t2):
        s = (-1,) + (1,) * t0.ndim
        return (c.reshape(s) * t0 + a.reshape(s) * t1) + b.reshape(s) * t2

    return jax.tree_util.tree_map(leaf, theta0, theta1, theta2)


def make_landscape_evaluator(env, policy_apply, horizon: int):
    """``f(theta0, theta1, theta2, ab[C, 2], start) -> (returns[C], lengths[C], poses)``, jitted:
    builds the C parameter points with jnp ops and rolls them out as one vmapped batch
    (``render.make_recording_rollout``: the poses of the origin give the gait frames, so
    one compiled function serves the maps and the frames)."""
    import jax

    from ..base.render import make_recording_rollout

    rollout = jax.vmap(make_recording_rollout(env, policy_apply, horizon), in_axes=(0, None))

    def f(theta0, theta1, theta2, ab, start):
        ret, length, _, poses = rollout(combine(theta0, theta1, theta2, ab), start)
        return ret, length, poses

    return jax.jit(f)


def evaluate_points(evaluator, theta0, theta1, theta2, ab: np.ndarray, start, chunk: int,
                    log: Callable[[str], None] = print, what: str = "landscape"):
    """Returns and lengths at the points ``ab[P, 2]`` in fixed-shape chunks of ``chunk``,
    and the recorded poses (``render.Pose`` of numpy arrays [T, ...]) of the first point."""
    import jax

    from ..rollout import chunked, pad_to

    ab = np.asarray(ab, np.float32)
    n = ab.shape[0]
    chunk = min(chunk, n)
    rets, lens, first = [], [], None
    t0 = time.time()
    for s, e in chunked(n, chunk):
        r, l, poses = evaluator(theta0, theta1, theta2, pad_to(ab[s:e], chunk), start)
        if first is None:
            first = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), poses)
        rets.append(np.asarray(r[: e - s], np.float64))
        lens.append(np.asarray(l[: e - s], np.int32))
        el = time.time() - t0
        log(f"[{what}] {e}/{n} points, {el:.1f}s, ETA {el / e * (n - e):.0f}s")
    return np.concatenate(rets), np.concatenate(lens), first


def grid_points(alphas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """``[len(alphas) * len(betas), 2]`` points, a-major: reshape returns to [A, B]."""
    A, B = np.meshgrid(alphas, betas, indexing="ij")
    return np.stack([A.ravel(), B.ravel()], axis=1)


def make_update(agent, env, cfg):
    """``upd(state, key, replay, lo, hi) -> policy params``: the agent's post-update u(theta, X), jitted."""
    import jax

    return jax.jit(lambda st, k, rep, lo, hi: agent.post_update(st, k, rep, lo, hi, cfg, env))


def two_updates(update, agent, state, replay, lo: int, hi: int, key):
    """theta0 and two independent post-updates theta', theta'' (keys split from ``key``)."""
    import jax

    k1, k2 = jax.random.split(key)
    return agent.policy_params(state), update(state, k1, replay, lo, hi), update(state, k2, replay, lo, hi)


def gait_frame_steps(length: int, n_frames: int, window: int = 200, span: int = 100) -> np.ndarray:
    """``n_frames`` steps evenly spaced over ``span`` steps ending at step ``window``
    (the gait once established), or at the episode's last step if it ends earlier."""
    end = max(min(int(length), window) - 1, 0)
    start = max(end - span, 0)
    return np.unique(np.linspace(start, end, n_frames).round().astype(int))
