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
return; "smooth" = the lower std and an LTP no higher than the noisy one's, by construction)
is chosen from the statistics table by :func:`select_pair`, a pure function; the policies are
SAC's where the run trains SAC (paper Fig. 1), ``landscape.algo: auto``
(:func:`retland.config.landscape_algo`).
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
    """The Fig. 1 pair: two policies of ``env`` of similar mean post-update return, the
    "smooth" one with the LOWER std and an LTP no higher than the "noisy" one's.

    Labels are true by construction: in every pair the member of lower std is "smooth".

    Candidates: policies with a finite, positive mean and a finite std, and among those the
    ones whose mean is at least half the best (when two or more are: policies that have
    learned something, not ones that fall at once with a trivially flat neighbourhood).
    A pair is "similar" when its means differ by at most ``mean_tol`` relative to the larger
    one. A pair is "consistent" when its stds differ and its lower-std member's LTP is
    defined and <= the other's. Its std contrast is ``(std_noisy - std_smooth) / max(mean)``
    (the gap in spread on the scale of the returns: what the two histograms and maps show).

    Among similar consistent pairs the largest std contrast wins (ties: larger LTP gap,
    higher mean, table order). If there is none, the best available is taken and said so
    in ``fallback`` (never a mislabel): first the tolerance is doubled until a consistent
    pair is similar (``fallback`` names the widened tolerance); if no pair is consistent at
    all, the similar pair (tolerance widened until one exists) of largest std contrast,
    ``fallback`` saying that its smooth member's LTP is higher or undefined.

    Returns ``{"noisy": row, "smooth": row, "criterion": str, "mean_tol": float,
    "contrast": float, "fallback": str ("" when none), "reason": str}``.
    """
    need = {"env", "algo", "seed", "step", "mean", "std", "ltp"}
    missing = need - set(stats.columns)
    if missing:
        raise ValueError(f"stats table lacks columns {sorted(missing)}")
    df = stats[(stats["env"] == env) & np.isfinite(stats["mean"]) & (stats["mean"] > 0)
               & np.isfinite(stats["std"])].reset_index(drop=True)
    if len(df) < 2:
        raise ValueError(f"env {env!r}: need at least 2 policies with a positive finite mean "
                         f"post-update return to pick a Fig. 1 pair, found {len(df)}")
    df, screened = learned_policies(df)
    mean, std, ltp = (df[c].to_numpy(float) for c in ("mean", "std", "ltp"))
    pairs = []  # (noisy, smooth, relative mean gap, std contrast, consistent, LTP gap)
    for i, j in itertools.combinations(range(len(df)), 2):
        # smooth = lower std; equal stds: the lower (defined) LTP, then table order
        li, lj = (np.inf if not np.isfinite(x) else x for x in (ltp[i], ltp[j]))
        s, n = (i, j) if (std[i], li, i) < (std[j], lj, j) else (j, i)
        top = max(mean[i], mean[j])
        contrast = (std[n] - std[s]) / top
        consistent = bool(contrast > 0 and np.isfinite(ltp[s]) and np.isfinite(ltp[n]) and ltp[s] <= ltp[n])
        d_ltp = ltp[n] - ltp[s] if np.isfinite(ltp[s]) and np.isfinite(ltp[n]) else -np.inf
        pairs.append((n, s, abs(mean[i] - mean[j]) / top, contrast, consistent, d_ltp))
    rel = np.array([p[2] for p in pairs])
    eps = 1e-12

    def widened(ok):
        tol = float(mean_tol)
        while not (ok & (rel <= tol + eps)).any():
            tol *= 2.0
        return tol

    consistent = np.array([p[4] for p in pairs])
    fallback = ""
    if consistent.any():
        tol = widened(consistent)
        pool = [k for k in range(len(pairs)) if consistent[k] and rel[k] <= tol + eps]
        if tol != float(mean_tol):
            fallback = (f"no pair within the configured mean tolerance {mean_tol:g} has the lower-std "
                        f"policy at an LTP <= the other's: tolerance widened to {tol:.3g}")
    else:
        tol = widened(np.ones(len(pairs), bool))
        pool = [k for k in range(len(pairs)) if rel[k] <= tol + eps]
        fallback = ("no pair of these policies has the lower-std policy at a defined LTP <= the other's: "
                    "'smooth' is the lower-std policy only, its LTP is higher or undefined"
                    + (f"; mean tolerance widened to {tol:.3g}" if tol != float(mean_tol) else ""))
    best = max(pool, key=lambda k: (pairs[k][3], pairs[k][5], mean[pairs[k][0]] + mean[pairs[k][1]], -k))
    n, s, gap, contrast = pairs[best][:4]
    ratio = std[n] / std[s] if std[s] > 0 else np.inf
    reason = (f"similar mean post-update return (|diff| = {gap:.3g} <= {tol:.3g} x the larger mean), "
              f"largest std contrast ((std_noisy - std_smooth) / mean = {contrast:.3g}, std ratio "
              f"{ratio:.3g}) among {len(pool)} such pairs of {len(df)} policies"
              + (" with mean >= 0.5 x the best" if screened else "")
              + ("; smooth has the lower std and LTP <= noisy's" if not fallback.startswith("no pair of")
                 else ""))
    return {"noisy": df.iloc[n].to_dict(), "smooth": df.iloc[s].to_dict(),
            "criterion": "std contrast, LTP order" if consistent.any() else "std contrast",
            "mean_tol": tol, "contrast": float(contrast), "fallback": fallback, "reason": reason}


def chosen_pair(stats: pd.DataFrame, env: str, policies) -> dict:
    """The Fig. 1 pair named in the config (``landscape.pair``: two ``{seed, step}`` of
    the stats table's policies of ``env``), in :func:`select_pair`'s form: the one of lower
    post-update std is "smooth" (labels true by construction)."""
    rows = []
    for p in policies:
        hit = stats[(stats["env"] == env) & (stats["seed"] == int(p["seed"])) & (stats["step"] == int(p["step"]))]
        if len(hit) != 1:
            raise ValueError(f"landscape.pair: {env} has {len(hit)} policies at seed {p['seed']}, step {p['step']} "
                             f"in the statistics table (expected 1)")
        rows.append(hit.iloc[0].to_dict())
    if len(rows) != 2 or (rows[0]["seed"], rows[0]["step"]) == (rows[1]["seed"], rows[1]["step"]):
        raise ValueError(f"landscape.pair: name two different policies, got {list(policies)}")
    smooth, noisy = sorted(rows, key=lambda r: (r["std"], r["seed"], r["step"]))
    top = max(abs(noisy["mean"]), abs(smooth["mean"])) or 1.0
    return {"noisy": noisy, "smooth": smooth, "criterion": "chosen in the config", "mean_tol": float("nan"),
            "contrast": float((noisy["std"] - smooth["std"]) / top), "fallback": "",
            "reason": "landscape.pair names the two policies; the lower-std one is drawn as smooth"}


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


def make_landscape_evaluator(src, horizon: int):
    """``f(theta0, theta1, theta2, ab[C, 2], start) -> (returns[C], lengths[C], poses)``, jitted,
    for the deterministic policy of ``src`` (agent, config, environment:
    :mod:`retland.analyses.source`) on its environment:
    builds the C parameter points with jnp ops and rolls them out as one vmapped batch
    (``rollout.make_recording_rollout``: the poses of the origin give the gait frames, so
    one compiled function serves the maps and the frames)."""
    import jax

    from ..rollout import make_recording_rollout
    from .source import policy_of

    rollout = jax.vmap(make_recording_rollout(src.env, policy_of(src), horizon), in_axes=(0, None))

    def f(theta0, theta1, theta2, ab, start):
        ret, length, _, poses = rollout(combine(theta0, theta1, theta2, ab), start)
        return ret, length, poses

    return jax.jit(f)


def evaluate_points(evaluator, thetas, ab: np.ndarray, start, chunk: int,
                    log: Callable[[str], None] = print, what: str = "landscape"):
    """Returns and lengths at the points ``ab[P, 2]`` around ``thetas`` = (theta0, theta',
    theta'') (:func:`two_updates`) in fixed-shape chunks of ``chunk``, and the recorded poses
    (``render.Pose`` of numpy arrays [T, ...]) of the first point."""
    import jax

    from ..rollout import chunked, pad_to

    ab = np.asarray(ab, np.float32)
    n = ab.shape[0]
    chunk = min(chunk, n)
    theta0, theta1, theta2 = thetas
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


def make_update(src):
    """``upd(state, key, replay, lo, hi) -> policy params``: the post-update u(theta, X) of
    ``src``'s agent (its config and environment: :mod:`retland.analyses.source`), jitted."""
    import jax

    agent, env, cfg = src.agent, src.env, src.cfg
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
