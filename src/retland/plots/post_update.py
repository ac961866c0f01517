"""E2 figures (paper Fig. 2 for ant, Fig. 11-13 for the other Brax tasks).

* :func:`fig02_scatter` -- mean post-update return against standard deviation, skewness
  and left-tail probability (LTP), one point per policy, with highlighted policies
  spanning different distributions. Mean, std and skewness are the bootstrapped means (as
  in the paper); the LTP panel shows POINT estimates: the bootstrap mean of the LTP is a
  ``nanmean`` over the resamples whose mode is positive, defined even where the LTP of the
  sample itself is not (mode <= 0), so it would hide undefined LTPs.
* :func:`fig02_histograms` -- the post-update return distributions of the highlighted
  policies (the inset panels of Fig. 2).
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import algo_colors, algo_label, _algo_order, _fig_legend, _labelled_col, _py, save_figure, STAR, _styled


_STATS_Y = (
    ("std", "Standard deviation"),
    ("skewness", "Skewness"),
    ("ltp", "Left-tail probability"),
)


#: statistics drawn as point estimates rather than bootstrap means (see the module docstring)
_POINT_STATS = frozenset({"ltp"})


_KEY_COLS = ("env", "algo", "seed", "step")


def select_highlights(df: pd.DataFrame, k: int = 6) -> list:
    """Deterministic choice of up to ``k`` policies spanning different
    post-update return distributions (the star markers of Fig. 2).

    Candidates are rows with finite bootstrapped mean and std and a defined (finite)
    point-estimate LTP -- the values Fig. 2 draws --, sorted by (algo, seed, step).  Each of the three statistics is min-max normalised;
    farthest-point sampling then starts from the highest-LTP policy and
    repeatedly adds the candidate whose nearest already-chosen policy is
    farthest away (ties -> first in sort order).  Returns row indices of ``df``.
    """
    if k <= 0 or len(df) == 0:
        return []
    feats = pd.DataFrame(
        {s: _labelled_col(df, s, point=s in _POINT_STATS)[0] for s in ("mean", "std", "ltp")}, index=df.index
    )
    ok = np.isfinite(feats.to_numpy()).all(axis=1)
    cand = df.loc[ok].copy()
    if len(cand) == 0:
        return []
    sort_cols = [c for c in ("algo", "seed", "step") if c in cand.columns]
    cand["_ord"] = np.arange(len(cand))
    cand = cand.sort_values(sort_cols + ["_ord"], kind="mergesort")
    x = feats.loc[cand.index].to_numpy(dtype=float)
    lo, hi = x.min(axis=0), x.max(axis=0)
    rng = np.where(hi - lo > 0, hi - lo, 1.0)
    z = (x - lo) / rng
    first = int(np.argmax(x[:, 2]))  # highest LTP, first occurrence on ties
    chosen = [first]
    dmin = np.linalg.norm(z - z[first], axis=1)
    dmin[first] = -np.inf
    while len(chosen) < min(k, len(cand)):
        nxt = int(np.argmax(dmin))
        if not np.isfinite(dmin[nxt]):
            break
        chosen.append(nxt)
        dmin = np.minimum(dmin, np.linalg.norm(z - z[nxt], axis=1))
        dmin[chosen] = -np.inf
    return [cand.index[i] for i in chosen]


#: the paper's figure of each task's scatter plot (Fig. 2, A.5)
PAPER_FIGURE = {"ant": "Fig. 2", "halfcheetah": "Fig. 11", "hopper": "Fig. 12", "walker2d": "Fig. 13",
                "quadruped-walk": "Fig. 14", "quadruped-run": "Fig. 15", "humanoid-stand": "Fig. 16",
                "humanoid-walk": "Fig. 17", "humanoid-run": "Fig. 18"}


@_styled
def fig02_scatter(stats, env, out_png, out_pdf, dpi=150, highlight=6, title=None) -> list:
    """Paper Fig. 2 (ant), Figs. 11-13 (other Brax tasks) and 14-18 (DMC tasks, E10).

    One row of three panels for the policies of ``env``: x is the
    bootstrapped mean post-update return, y the bootstrapped standard
    deviation, skewness and the POINT estimate of the left-tail probability
    (axis labels say which).  One point per policy,
    coloured by algorithm; up to ``highlight`` policies chosen by
    :func:`select_highlights` are drawn as numbered stars in every panel.
    Policies with undefined (NaN) LTP appear in the first two panels only;
    the LTP panel's title counts them.

    Returns the highlighted policies as dicts with keys env, algo, seed,
    step, in star-number order (star 1 first), for :func:`fig02_histograms`.
    Raises ``ValueError`` when ``stats`` has no row for ``env``.
    """
    df = stats[stats["env"].astype(str) == str(env)]
    if len(df) == 0:
        known = sorted(stats["env"].astype(str).unique()) if "env" in stats else []
        raise ValueError(f"no post-update statistics for env {env!r} (have: {known})")
    df = df.copy()
    x, x_kind = _labelled_col(df, "mean")
    algos = _algo_order(df["algo"].astype(str).unique())
    colors = algo_colors(algos)
    hl_idx = select_highlights(df, highlight)

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    for ax, (stat, label) in zip(axes, _STATS_Y):
        y, y_kind = _labelled_col(df, stat, point=stat in _POINT_STATS)
        for algo in algos:
            m = (df["algo"].astype(str) == algo) & np.isfinite(x) & np.isfinite(y)
            ax.scatter(
                x[m], y[m], s=14, alpha=0.6, color=colors[algo], linewidths=0,
                label=algo_label(algo), zorder=2,
            )
        for i, idx in enumerate(hl_idx):
            xv, yv = x.loc[idx], y.loc[idx]
            if not (np.isfinite(xv) and np.isfinite(yv)):
                continue
            ax.scatter(
                [xv], [yv], marker="*", s=260, color=colors[str(df.at[idx, "algo"])],
                edgecolors="black", linewidths=1.0, zorder=4,
            )
            ax.annotate(
                str(i + 1), (xv, yv), xytext=(6, 5), textcoords="offset points",
                fontsize=8, fontweight="bold", zorder=5,
            )
        ax.set_xlabel(f"Mean post-update return ({x_kind})")
        ax.set_ylabel(f"{label} ({y_kind})")
        ax.grid(True, alpha=0.3, linewidth=0.6)
        if stat == "ltp":
            n_nan = undefined_ltp_count(df)
            if n_nan:
                ax.set_title(
                    f"{n_nan} of {len(df)} polic{'y' if len(df) == 1 else 'ies'} with undefined LTP "
                    f"(mode <= 0) not shown", fontsize=8, color="0.35",
                )
        ax.margins(x=0.05, y=0.08)
    handles, labels = axes[0].get_legend_handles_labels()
    if hl_idx:
        handles.append(
            plt.Line2D([], [], marker="*", linestyle="none", markersize=13,
                       markerfacecolor="white", markeredgecolor="black")
        )
        labels.append("highlighted")
    _fig_legend(fig, axes[0], handles, labels, markerscale=1.5)
    fig.suptitle(title if title is not None else
                 f"{PAPER_FIGURE.get(str(env), 'Fig. 2')}: post-update return statistics, {env}")
    save_figure(fig, out_png, out_pdf, dpi=dpi)

    out = []
    for idx in hl_idx:
        out.append({c: _py(df.at[idx, c]) for c in _KEY_COLS})
    return out


def undefined_ltp_count(df: pd.DataFrame) -> int:
    """Policies of ``df`` whose LTP is undefined: NaN point estimate (mode <= 0, or no finite
    return). Counted on the point estimate, never on the bootstrap mean, which is a
    ``nanmean`` over resamples and so finite as soon as one resample has a positive mode."""
    return int((~np.isfinite(_labelled_col(df, "ltp", point=True)[0].to_numpy(float))).sum())


def _hist_bins(n: int) -> int:
    return int(min(50, max(10, n // 5)))


@_styled
def fig02_histograms(returns_by_policy: Sequence, env, out_png, out_pdf, dpi=150) -> None:
    """Companion to Fig. 2 / Figs. 11-13: histograms of the post-update return
    distributions of the highlighted policies (the insets of Fig. 2).

    ``returns_by_policy`` is a list of ``(label, returns)`` in the order
    returned by :func:`fig02_scatter`; panel *i* is titled with star number
    *i* to match the scatter plot.  At most six panels are drawn; the
    distribution mean is a vertical dashed line.  Non-finite returns are
    dropped (their count is shown).  Raises ``ValueError`` on an empty list.
    """
    items = list(returns_by_policy)[:6]
    if not items:
        raise ValueError(f"no highlighted policies to draw for env {env!r}")
    k = len(items)
    ncols = min(3, k)
    nrows = int(math.ceil(k / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.2 * ncols, 2.9 * nrows), constrained_layout=True, squeeze=False
    )
    for i, ax in enumerate(axes.ravel()):
        if i >= k:
            ax.set_visible(False)
            continue
        label, r = items[i]
        r = np.asarray(r, dtype=float).ravel()
        finite = r[np.isfinite(r)]
        n_bad = r.size - finite.size
        ax.set_title(f"{STAR}{i + 1}  {label}", fontsize=10)
        if finite.size == 0:
            ax.text(0.5, 0.5, "no finite returns", transform=ax.transAxes, ha="center", va="center")
        else:
            ax.hist(finite, bins=_hist_bins(finite.size), histtype="stepfilled",
                    color="#4c72b0", alpha=0.85, edgecolor="#2f4f80", linewidth=0.6)
            mu = float(finite.mean())
            ax.axvline(mu, color="black", linestyle="--", linewidth=1.2, label=f"mean {mu:.4g}")
            ax.legend(loc="upper left", fontsize=8, frameon=False)
        if n_bad:
            ax.text(0.98, 0.97, f"{n_bad} non-finite dropped", transform=ax.transAxes,
                    ha="right", va="top", fontsize=8, color="0.35")
        ax.set_xlabel("Post-update return")
        ax.set_ylabel("Count")
        ax.xaxis.set_major_locator(plt.MaxNLocator(5))
        ax.ticklabel_format(axis="x", useOffset=False, style="plain")
        ax.grid(True, alpha=0.3, linewidth=0.6)
    fig.suptitle(f"{PAPER_FIGURE.get(str(env), 'Fig. 2')} (insets): post-update return distributions "
                 f"of the highlighted policies, {env}")
    save_figure(fig, out_png, out_pdf, dpi=dpi)
