"""Claim (a) of the paper, Sec. 3.1 / Fig. 2, as a statistic with a bootstrap interval
over policies (docs/file-formats.md, "Claims"; numpy/pandas only).

The paper: over TD3, SAC and PPO policies of a task, "different policy parameters achieve
similar levels of returns (as measured by the distribution mean) but a wide range of
possible levels of variability, as measured by standard deviation, skewness and left-tail
probability" (Sec. 3.1). Made concrete:

* **Similar mean.** Two policies of one task have similar mean when their post-update mean
  returns differ by at most ``mean_tolerance`` times the task's range of means (max - min
  over its policies of every algorithm). The task's range, not the policies' own returns,
  is the scale: it is defined for negative returns and does not make low-return policies
  look alike.
* **Spread beyond estimation error.** For each policy i with at least one similar-mean
  neighbour, over i and its neighbours: the *separated* std spread is
  ``max(0, max_j std_lo_j - min_j std_hi_j) / max_j std_j`` (``std_lo``, ``std_hi``: each
  policy's own 95% bootstrap interval of its std in ``post_update.csv``), and likewise the
  separated LTP spread ``max(0, max_j ltp_lo_j - min_j ltp_hi_j)`` and skewness spread. Only
  the part of a difference that lies beyond both policies' estimation intervals counts, so
  N-sample noise is never read as spread (conservative: it can only say "does not hold"
  more often). The std spread is reported as a fold, 1 / (1 - spread): the noisier
  neighbour's std is at least that many times the smoother's.
* **Statistic.** The median over all policies that have a neighbour (pooled over tasks) of
  each separated spread, with a percentile interval from ``n_boot`` bootstrap resamples of
  the *policies* (within each task, with replacement; neighbourhoods, task ranges and
  medians recomputed in every resample).
* **Holds** iff the interval's lower bound of the std fold exceeds ``std_ratio`` and that of
  the LTP spread exceeds ``ltp_diff`` (config ``claims``; the paper gives no number, these
  are stated in docs/file-formats.md, "Claims").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NEED = ("env", "algo", "mean", "std", "std_lo", "std_hi", "ltp", "ltp_lo", "ltp_hi", "skewness", "skewness_lo",
        "skewness_hi")


def _separated(lo: np.ndarray, hi: np.ndarray) -> float:
    """max(0, max lo - min hi) over the finite members; NaN with fewer than two."""
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.sum() < 2:
        return float("nan")
    return float(max(0.0, lo[ok].max() - hi[ok].min()))


def neighbourhood_spreads(task: pd.DataFrame, mean_tolerance: float) -> pd.DataFrame:
    """One row per policy of one task: ``n_neighbours`` and the separated spreads
    ``std_spread`` (relative, [0, 1)), ``ltp_spread`` and ``skew_spread`` over it and its
    similar-mean neighbours (NaN without a neighbour)."""
    m = task["mean"].to_numpy(float)
    cols = {c: task[c].to_numpy(float) for c in NEED[3:]}
    # a bootstrap resample holds copies of one policy: a copy is not a neighbour of itself
    pid = task["_pid"].to_numpy() if "_pid" in task.columns else np.arange(len(task))
    fin = np.isfinite(m)
    scale = (m[fin].max() - m[fin].min()) if fin.sum() >= 2 else 0.0
    rows = []
    for i in range(len(m)):
        if not fin[i]:
            rows.append((0, np.nan, np.nan, np.nan))
            continue
        nb = np.flatnonzero(fin & (np.abs(m - m[i]) <= mean_tolerance * scale))
        n_nb = len(np.unique(pid[nb])) - 1
        if n_nb < 1:  # only itself (or copies of itself)
            rows.append((0, np.nan, np.nan, np.nan))
            continue
        s_max = np.nanmax(cols["std"][nb]) if np.isfinite(cols["std"][nb]).any() else np.nan
        sep = _separated(cols["std_lo"][nb], cols["std_hi"][nb])
        std_spread = sep / s_max if np.isfinite(sep) and s_max > 0 else (0.0 if np.isfinite(sep) else np.nan)
        rows.append((n_nb, std_spread, _separated(cols["ltp_lo"][nb], cols["ltp_hi"][nb]),
                     _separated(cols["skewness_lo"][nb], cols["skewness_hi"][nb])))
    return pd.DataFrame(rows, columns=["n_neighbours", "std_spread", "ltp_spread", "skew_spread"], index=task.index)


def _medians(tasks: list[pd.DataFrame], mean_tolerance: float) -> tuple[np.ndarray, int, int]:
    sp = pd.concat([neighbourhood_spreads(t, mean_tolerance) for t in tasks])
    has = sp["n_neighbours"] > 0
    out = []
    for c in ("std_spread", "ltp_spread", "skew_spread"):
        v = sp.loc[has, c].to_numpy(float)
        v = v[np.isfinite(v)]
        out.append(float(np.median(v)) if v.size else np.nan)
    return np.asarray(out), int(has.sum()), len(sp)


def fold(spread):
    """A relative std spread s in [0, 1) as a fold 1 / (1 - s) (the noisier std is at
    least that many times the smoother one)."""
    s = np.asarray(spread, float)
    with np.errstate(divide="ignore"):
        return np.where(np.isnan(s), np.nan, np.where(s < 1, 1.0 / (1.0 - np.minimum(s, 1.0)), np.inf))


def claim_a(stats: pd.DataFrame, mean_tolerance: float, std_ratio: float, ltp_diff: float, n_boot: int,
            ci: float, seed: int, algos=None) -> dict:
    """Claim (a) (module docstring): ``n_policies``, ``n_with_neighbour``, ``algos``;
    ``std_fold``, ``ltp_spread``, ``skew_spread`` with ``_lo`` / ``_hi`` (percentile interval
    over policy resamples); ``holds``."""
    missing = sorted(set(NEED) - set(stats.columns))
    if missing:
        raise ValueError(f"post-update statistics table lacks column(s) {missing} (claim (a))")
    if not 0 < mean_tolerance < 1:
        raise ValueError(f"claims.mean_tolerance must lie in (0, 1), got {mean_tolerance!r}")
    df = stats if algos is None else stats[stats["algo"].isin(list(algos))]
    tasks = [g.reset_index(drop=True).assign(_pid=np.arange(len(g))) for _, g in df.groupby("env")]
    point, n_nb, n = _medians(tasks, mean_tolerance) if tasks else (np.full(3, np.nan), 0, 0)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(int(n_boot) if n_nb else 0):
        res = [t.iloc[rng.integers(0, len(t), len(t))].reset_index(drop=True) for t in tasks]
        boots.append(_medians(res, mean_tolerance)[0])
    p = [50 * (1 - ci), 50 * (1 + ci)]
    if boots:
        with np.errstate(invalid="ignore"):
            b = np.asarray(boots)
        lo, hi = (np.nanpercentile(b, q, axis=0) if np.isfinite(b).any() else np.full(3, np.nan) for q in p)
    else:
        lo = hi = np.full(3, np.nan)
    out = {"n_policies": n, "n_with_neighbour": n_nb, "algos": sorted(df["algo"].unique().tolist()),
           "mean_tolerance": float(mean_tolerance)}
    for k, name in enumerate(("std_fold", "ltp_spread", "skew_spread")):
        conv = fold if name == "std_fold" else (lambda x: np.asarray(x, float))
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = (float(conv(v[k])) for v in (point, lo, hi))
    out["holds"] = bool(n_nb > 0 and out["std_fold_lo"] > std_ratio and out["ltp_spread_lo"] > ltp_diff)
    return out
