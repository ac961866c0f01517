"""Distributional statistics of return landscapes (Rahn et al. 2023, Sec. 3.1).

Given the returns ``R_1..R_N`` obtained after ``N`` independent stochastic
policy updates from one policy (the *post-update return distribution*), the
paper characterises the neighbourhood of the policy by

* the mean, standard deviation and skewness of the returns;
* the **mode**, estimated with the Chernoff (histogram) estimator with 100
  equal-width bins spanning ``[min R, max R]``;
* the **left-tail probability** (LTP, Sec. 3.1, Eq. 5), the probability that
  an update leads to a return below half the mode (but not below zero):
  ``LTP = P(0 <= R < 0.5 * mode)``;
* the conditional value at risk ``CVaR_alpha`` (mean of the worst ``alpha``
  fraction, Rockafellar-Uryasev form);
* for linear interpolation paths between two policies, the **below-threshold
  proportion** (BTP): the fraction of points on the path whose return drops
  below ``fraction`` (10%) of the lower endpoint return.

Definitions used here (pinned by ``tests/test_stats.py``):

* ``std`` is the population standard deviation (``ddof=0``); ``skewness`` is
  ``scipy.stats.skew(R, bias=True)``.
* ``mode``: ``counts, edges = numpy.histogram(R, bins=100)``; the mode is the
  midpoint of the first (``argmax``) most populated bin. When all values are
  equal numpy uses the range ``[v - 0.5, v + 0.5]``; this is followed as is.
* ``ltp``: fraction (over the finite returns) of ``R_i`` with
  ``0 <= R_i < 0.5 * mode``; NaN when ``mode <= 0`` (undefined).
* ``cvar(R, alpha) = q + mean(min(R - q, 0)) / alpha`` with
  ``q = numpy.quantile(R, alpha)`` (linear method); ``alpha = 1`` gives the mean.
* Non-finite returns (NaN / +-inf, a blown-up simulation) are counted in
  ``n_nonfinite`` and excluded from every statistic. With no finite values
  left, all statistics are NaN.

Bootstrap intervals (``bootstrap_stats``) resample the finite returns with
replacement and are fully vectorised across resamples, including the
per-resample histogram mode, which reproduces ``numpy.histogram``'s bin
assignment exactly.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as _sps

__all__ = [
    "STAT_NAMES",
    "mean",
    "std",
    "skewness",
    "mode",
    "ltp",
    "cvar",
    "point_stats",
    "bootstrap_stats",
    "summarize",
    "below_threshold_proportion",
    "rliable_mean_ci",
    "group_means_ci",
]

STAT_NAMES = ("mean", "std", "skewness", "mode", "ltp", "cvar_0.1")

_DEFAULT_BINS = 100


# --------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------
def _as_1d(r, name: str = "returns") -> np.ndarray:
    a = np.asarray(r, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got an array with ndim={a.ndim} (shape {a.shape})")
    if a.size == 0:
        raise ValueError(f"{name} is empty: at least one return is needed")
    return a


def _finite(r, name: str = "returns") -> np.ndarray:
    a = _as_1d(r, name)
    return a[np.isfinite(a)]


def _check_alpha(alpha, name: str = "alpha") -> float:
    alpha = float(alpha)
    if not (0.0 < alpha <= 1.0):
        raise ValueError(f"{name} must lie in (0, 1], got {alpha!r}")
    return alpha


def _check_bins(bins) -> int:
    if int(bins) != bins or int(bins) < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    return int(bins)


def _cvar_key(cvar_alpha: float) -> str:
    return f"cvar_{cvar_alpha:g}"


def _stat_names(cvar_alpha: float) -> tuple[str, ...]:
    return STAT_NAMES[:-1] + (_cvar_key(cvar_alpha),)


# --------------------------------------------------------------------------
# scalar statistics (non-finite values excluded; NaN if none left)
# --------------------------------------------------------------------------
def mean(r) -> float:
    """Mean of the finite post-update returns."""
    a = _finite(r)
    return float(np.mean(a)) if a.size else float("nan")


def std(r) -> float:
    """Population standard deviation (``ddof=0``) of the finite returns."""
    a = _finite(r)
    return float(np.std(a, ddof=0)) if a.size else float("nan")


def skewness(r) -> float:
    """Biased sample skewness, ``scipy.stats.skew(R, bias=True)``.

    NaN for constant samples (zero variance) and when no finite value is left.
    """
    a = _finite(r)
    if a.size == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(_sps.skew(a, bias=True))


def mode(r, bins: int = _DEFAULT_BINS) -> float:
    """Chernoff histogram mode estimator (Rahn et al. 2023, Sec. 3.1).

    The finite returns are binned into ``bins`` (100 in the paper)
    equal-width bins spanning ``[min R, max R]`` (``numpy.histogram``); the
    mode is the midpoint of the most populated bin, the first one on ties.
    """
    bins = _check_bins(bins)
    a = _finite(r)
    if a.size == 0:
        return float("nan")
    counts, edges = np.histogram(a, bins=bins)
    i = int(np.argmax(counts))
    return float((edges[i] + edges[i + 1]) / 2)


def ltp(r, mode_value=None, alpha: float = 0.5, count_negative: bool = False) -> float:
    """Left-tail probability ``LTP_alpha`` (Rahn et al. 2023, Sec. 3.1, Eq. 5).

    ``LTP_alpha = P(0 <= R < alpha * mode)``, the fraction of finite returns in
    ``[0, alpha * mode)``; the paper's LTP uses ``alpha = 0.5``. Negative
    returns are not counted (they are not "a drop below half the mode of a
    positive-return policy" but a different regime). NaN when the mode is
    not positive (the quantity is undefined) or no finite value is left.
    ``mode_value`` defaults to :func:`mode` of ``r``. ``count_negative=True`` counts every
    return below ``alpha * mode``, negative ones included, as the authors' code does
    (``eval_policy``: ``returns < mode / 2``); it differs only where returns go below 0.
    """
    alpha = _check_alpha(alpha)
    a = _finite(r)
    if a.size == 0:
        return float("nan")
    m = mode(a) if mode_value is None else float(mode_value)
    if not np.isfinite(m) or m <= 0:
        return float("nan")
    below = a < alpha * m
    return float(np.mean(below if count_negative else (a >= 0) & below))


def cvar(r, alpha: float) -> float:
    """Conditional value at risk of the lower tail.

    ``CVaR_alpha = q + mean(min(R - q, 0)) / alpha`` with
    ``q = numpy.quantile(R, alpha)`` (linear interpolation). ``alpha = 1``
    gives the mean.
    """
    alpha = _check_alpha(alpha)
    a = _finite(r)
    if a.size == 0:
        return float("nan")
    q = np.quantile(a, alpha)
    return float(q + np.mean(np.minimum(a - q, 0.0)) / alpha)


def point_stats(r, cvar_alpha: float = 0.1) -> dict:
    """All point statistics of a return sample.

    Keys: ``n`` (total number of returns, finite or not), ``n_nonfinite``,
    ``mean``, ``std``, ``skewness``, ``mode``, ``ltp``, ``ltp_all`` (every return below half
    the mode, negative ones included: the authors' code; point value only, no bootstrap)
    and ``f"cvar_{cvar_alpha:g}"``.
    """
    cvar_alpha = _check_alpha(cvar_alpha, "cvar_alpha")
    a = _as_1d(r)
    fin = a[np.isfinite(a)]
    out = {"n": int(a.size), "n_nonfinite": int(a.size - fin.size)}
    if fin.size == 0:
        for s in _stat_names(cvar_alpha):
            out[s] = float("nan")
        out["ltp_all"] = float("nan")
        return out
    m = mode(fin)
    out.update(
        mean=mean(fin),
        std=std(fin),
        skewness=skewness(fin),
        mode=m,
        ltp=ltp(fin, mode_value=m),
        ltp_all=ltp(fin, mode_value=m, count_negative=True),
    )
    out[_cvar_key(cvar_alpha)] = cvar(fin, cvar_alpha)
    return out


# --------------------------------------------------------------------------
# vectorised per-row statistics (rows = bootstrap resamples)
# --------------------------------------------------------------------------
def _row_hist_edges(lo: np.ndarray, hi: np.ndarray, bins: int) -> np.ndarray:
    """Per-row bin edges identical to ``np.linspace(lo, hi, bins + 1)``.

    Mirrors numpy's scalar linspace: ``k * step + start`` (or
    ``k / div * delta`` when ``step`` underflows to 0) with the last edge set
    to ``stop``.
    """
    delta = hi - lo
    step = delta / bins
    k = np.arange(bins + 1, dtype=float)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        regular = k * step[:, None]
        tiny = (k / bins) * delta[:, None]
    edges = np.where((step == 0)[:, None], tiny, regular) + lo[:, None]
    edges[:, -1] = hi
    return edges


def _row_modes(x: np.ndarray, bins: int = _DEFAULT_BINS) -> np.ndarray:
    """Histogram mode of every row of ``x`` (finite values), vectorised.

    Reproduces ``numpy.histogram(row, bins)`` exactly: same outer edges
    (``[v - 0.5, v + 0.5]`` for constant rows), same linspace edges, same
    index computation with numpy's +-1 correction against the edges, right
    edge in the last bin.
    """
    n_rows, n = x.shape
    lo = x.min(axis=1)
    hi = x.max(axis=1)
    const = lo == hi
    lo = np.where(const, lo - 0.5, lo)
    hi = np.where(const, hi + 0.5, hi)
    edges = _row_hist_edges(lo, hi, bins)
    denom = (hi - lo)[:, None]
    idx = ((x - lo[:, None]) / denom * bins).astype(np.intp)
    idx[idx == bins] -= 1
    np.clip(idx, 0, bins - 1, out=idx)  # guard; numpy never goes outside
    dec = x < np.take_along_axis(edges, idx, axis=1)
    idx[dec] -= 1
    inc = (x >= np.take_along_axis(edges, idx + 1, axis=1)) & (idx != bins - 1)
    idx[inc] += 1
    flat = idx + (np.arange(n_rows, dtype=np.intp) * bins)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n_rows * bins).reshape(n_rows, bins)
    best = np.argmax(counts, axis=1)
    rows = np.arange(n_rows)
    return (edges[rows, best] + edges[rows, best + 1]) / 2


def _row_ltps(x: np.ndarray, modes: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    thr = (alpha * modes)[:, None]
    frac = np.mean((x >= 0) & (x < thr), axis=1)
    return np.where(modes > 0, frac, np.nan)


def _row_cvars(x: np.ndarray, alpha: float) -> np.ndarray:
    q = np.quantile(x, alpha, axis=1)
    return q + np.mean(np.minimum(x - q[:, None], 0.0), axis=1) / alpha


def _row_stats(x: np.ndarray, cvar_alpha: float) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sk = _sps.skew(x, axis=1, bias=True)
    modes = _row_modes(x)
    out = {
        "mean": x.mean(axis=1),
        "std": x.std(axis=1, ddof=0),
        "skewness": np.asarray(sk, dtype=float),
        "mode": modes,
        "ltp": _row_ltps(x, modes),
    }
    out[_cvar_key(cvar_alpha)] = _row_cvars(x, cvar_alpha)
    return out


def bootstrap_stats(r, n_boot: int = 1000, ci: float = 0.95, rng=None, cvar_alpha: float = 0.1) -> dict:
    """Bootstrap mean and percentile interval of every statistic.

    The finite returns are resampled with replacement (``N_finite`` draws per
    resample, ``n_boot`` resamples, one vectorised draw). For each statistic
    ``s`` returns ``f"{s}_boot_mean"`` (``nanmean`` over resamples),
    ``f"{s}_lo"`` and ``f"{s}_hi"`` (``nanpercentile`` at ``50*(1-ci)`` and
    ``50*(1+ci)``; NaN-aware because e.g. LTP is NaN in resamples whose mode
    is not positive). ``rng`` is a ``numpy.random.Generator`` or an int seed
    (``None`` -> fresh entropy). All NaN when no finite return exists.
    """
    if int(n_boot) != n_boot or int(n_boot) < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    n_boot = int(n_boot)
    ci = float(ci)
    if not (0.0 < ci < 1.0):
        raise ValueError(f"ci must lie in (0, 1), got {ci!r}")
    cvar_alpha = _check_alpha(cvar_alpha, "cvar_alpha")
    fin = _finite(r)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    names = _stat_names(cvar_alpha)
    out: dict = {}
    if fin.size == 0:
        for s in names:
            out[f"{s}_boot_mean"] = out[f"{s}_lo"] = out[f"{s}_hi"] = float("nan")
        return out
    n = fin.size
    x = fin[rng.integers(0, n, size=(n_boot, n))]
    per_row = _row_stats(x, cvar_alpha)
    p_lo, p_hi = 50.0 * (1.0 - ci), 50.0 * (1.0 + ci)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for s in names:
            v = per_row[s]
            out[f"{s}_boot_mean"] = float(np.nanmean(v))
            lo, hi = np.nanpercentile(v, [p_lo, p_hi])
            out[f"{s}_lo"] = float(lo)
            out[f"{s}_hi"] = float(hi)
    return out


def summarize(r, n_boot: int = 1000, ci: float = 0.95, seed: int = 0, cvar_alpha: float = 0.1) -> dict:
    """``point_stats | bootstrap_stats``; deterministic for a given ``seed``."""
    out = point_stats(r, cvar_alpha=cvar_alpha)
    out.update(bootstrap_stats(r, n_boot=n_boot, ci=ci, rng=np.random.default_rng(seed), cvar_alpha=cvar_alpha))
    return out


# --------------------------------------------------------------------------
# aggregation over environments (rliable)
# --------------------------------------------------------------------------
def rliable_mean_ci(scores_by_env: dict, reps: int, ci: float, seed: int) -> tuple[float, float, float]:
    """Mean over all scores and its stratified-bootstrap percentile interval (rliable,
    environments as tasks: runs are resampled within each environment). Undefined (NaN)
    scores are left out first, and environments left without any score; environments with
    fewer scores are then NaN-padded and the padding ignored (``nanmean``)."""
    from rliable import library as rly

    cols = [np.asarray(v, float) for v in scores_by_env.values()]
    cols = [c[np.isfinite(c)] for c in cols]
    cols = [c for c in cols if len(c)]
    if not cols:
        return float("nan"), float("nan"), float("nan")
    n = max(len(c) for c in cols)
    mat = np.full((n, len(cols)), np.nan)
    for j, c in enumerate(cols):
        mat[: len(c), j] = c
    if np.all(np.isnan(mat)):
        return float("nan"), float("nan"), float("nan")

    def agg(x):
        return np.array([np.nanmean(x)])

    # rliable 1.2.0's StratifiedBootstrap draws its resampling indices from numpy's global
    # RNG (np.random.choice), not from random_state: seed it for this call, then restore it,
    # so the same seed gives the same interval
    saved = np.random.get_state()
    np.random.seed(int(seed))
    try:
        point, interval = rly.get_interval_estimates(
            {"x": mat}, agg, reps=int(reps), confidence_interval_size=float(ci),
            random_state=np.random.RandomState(int(seed)))
    finally:
        np.random.set_state(saved)
    return float(point["x"][0]), float(interval["x"][0, 0]), float(interval["x"][1, 0])


def group_means_ci(df, group_col: str, value_col: str, groups, reps: int, ci: float, seed: int):
    """One row per group of ``groups`` (in that order): ``<group_col>, mean, lo, hi,
    n_defined, n_undefined``, the :func:`rliable_mean_ci` of ``value_col`` with the
    environments (column ``env``) as tasks; group k uses bootstrap seed ``seed + k``.
    Undefined (non-finite) values are left out and counted in ``n_undefined``."""
    import pandas as pd

    rows = []
    for k, g in enumerate(groups):
        sub = df[df[group_col] == g]
        by_env = {e: x[value_col].to_numpy(float) for e, x in sub.groupby("env")}
        m, lo, hi = rliable_mean_ci(by_env, reps, ci, seed + k)
        defined = int(np.isfinite(sub[value_col].to_numpy(float)).sum())
        rows.append({group_col: g, "mean": m, "lo": lo, "hi": hi, "n_defined": defined,
                     "n_undefined": len(sub) - defined})
    return pd.DataFrame(rows, columns=[group_col, "mean", "lo", "hi", "n_defined", "n_undefined"])


# --------------------------------------------------------------------------
# interpolation paths
# --------------------------------------------------------------------------
def below_threshold_proportion(path_returns, endpoint_a, endpoint_b, fraction: float = 0.1) -> float:
    """Below-threshold proportion (BTP) of an interpolation path (Sec. 5).

    Fraction of the points of ``path_returns`` (returns along the linear
    interpolation between two policies, as passed in) whose return is
    strictly below ``fraction * min(endpoint_a, endpoint_b)`` (10% in the
    paper). A non-finite point (a blown-up simulation) counts as below the
    threshold, i.e. as a collapse; it is never silently dropped. The
    endpoint returns must be finite.
    """
    p = _as_1d(path_returns, "path_returns")
    a, b = float(endpoint_a), float(endpoint_b)
    if not (np.isfinite(a) and np.isfinite(b)):
        raise ValueError(f"endpoint returns must be finite, got {a!r} and {b!r}")
    fraction = float(fraction)
    if not np.isfinite(fraction):
        raise ValueError(f"fraction must be finite, got {fraction!r}")
    thr = fraction * min(a, b)
    below = ~np.isfinite(p) | (p < thr)
    return float(np.mean(below))
