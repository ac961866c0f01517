"""Figures for the return-landscape reproduction ("tables in, figures out").

Every function here takes pandas tables (as written to CSV by the analysis
code) and writes PNG/PDF files; nothing here runs an agent or imports jax.

* :func:`fig02_scatter` -- paper Fig. 2 (ant) and Figs. 11-13 (halfcheetah,
  hopper, walker2d): mean post-update return against standard deviation,
  skewness and left-tail probability (LTP), one point per policy, with six
  highlighted policies spanning different distributions.
* :func:`fig02_histograms` -- companion histograms of the post-update return
  distributions of the highlighted policies (the inset panels of Fig. 2).
* :func:`extra_learning_curves` -- learning curves per environment (not a
  paper figure; a sanity check for the trained policies).
"""

from __future__ import annotations

import functools
import math
import os
from typing import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager, ft2font  # noqa: E402

__all__ = [
    "ALGO_COLORS",
    "FALLBACK_COLORS",
    "algo_colors",
    "save_figure",
    "select_highlights",
    "fig02_scatter",
    "fig02_histograms",
    "extra_learning_curves",
]

#: Fixed colours per algorithm, identical in every figure.
ALGO_COLORS: dict = {
    "td3": "#1f77b4",  # blue
    "sac": "#d62728",  # red
    "ppo": "#2ca02c",  # green
    "bc": "#ff7f0e",  # orange (E12 students)
}

#: Colours handed, in order, to algorithms not in :data:`ALGO_COLORS`.
FALLBACK_COLORS: tuple = (
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)

_STATS_Y = (
    ("std", "Standard deviation"),
    ("skewness", "Skewness"),
    ("ltp", "Left-tail probability"),
)
_KEY_COLS = ("env", "algo", "seed", "step")

_RC = (
    {
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
    }
)


def _styled(func):
    """Run a figure function under this module's font sizes without
    touching the global matplotlib state."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with plt.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def _star_glyph() -> str:
    """A star character for titles, if the default font has one."""
    try:
        path = font_manager.findfont(font_manager.FontProperties(family=["sans-serif"]))
        font = ft2font.FT2Font(path)
        if font.get_char_index(ord("\u2605")):
            return "\u2605"
    except Exception:  # pragma: no cover - font lookup is best effort
        pass
    return "*"


STAR = _star_glyph()


def algo_colors(algos: Iterable[str]) -> dict:
    """Colour per algorithm: fixed ones from :data:`ALGO_COLORS`, the rest
    from :data:`FALLBACK_COLORS` in sorted order (deterministic)."""
    out = {}
    unknown = sorted({str(a) for a in algos} - set(ALGO_COLORS))
    for a in algos:
        a = str(a)
        if a in ALGO_COLORS:
            out[a] = ALGO_COLORS[a]
    for i, a in enumerate(unknown):
        out[a] = FALLBACK_COLORS[i % len(FALLBACK_COLORS)]
    return out


def _fig_legend(fig, ax, handles, labels, **kw) -> None:
    """Legend outside the axes on the right (matplotlib >= 3.7); falls back to
    an in-axes legend on older versions."""
    try:
        fig.legend(handles, labels, loc="outside right upper", frameon=False, **kw)
    except ValueError:  # pragma: no cover - old matplotlib
        ax.legend(handles, labels, loc="best", framealpha=0.8, **kw)


def ci_bars(ax, labels, means, los, his, colors):
    """Bars of aggregate means with their confidence intervals (Fig. 6, 7, 22 right)."""
    x = np.arange(len(labels))
    means, los, his = (np.asarray(v, float) for v in (means, los, his))
    ax.bar(x, means, color=colors, alpha=0.85, width=0.6)
    ax.errorbar(x, means, yerr=[means - los, his - means], fmt="none", ecolor="black", capsize=6, lw=1.2)
    ax.set_xticks(x, labels)
    ax.grid(axis="y", alpha=0.3)


def _algo_order(algos: Iterable[str]) -> list:
    """Known algorithms in :data:`ALGO_COLORS` order, then the rest sorted."""
    algos = {str(a) for a in algos}
    known = [a for a in ALGO_COLORS if a in algos]
    return known + sorted(algos - set(known))


# --------------------------------------------------------------------------
# saving
# --------------------------------------------------------------------------


def save_figure(fig, out_png, out_pdf=None, dpi=150) -> None:
    """Write ``fig`` to ``out_png`` (and ``out_pdf``) atomically, then close it.

    Each file is first written to ``<path>.tmp<pid><suffix>`` in the same
    directory and moved into place with :func:`os.replace` only once every
    requested file has been written, so a failure leaves no partial file at
    any final path.  Parent directories are created.
    """
    targets = [os.fspath(out_png)]
    if out_pdf is not None:
        targets.append(os.fspath(out_pdf))
    tmps = []
    try:
        for path in targets:
            parent = os.path.dirname(os.path.abspath(path))
            os.makedirs(parent, exist_ok=True)
            suffix = os.path.splitext(path)[1]
            tmp = f"{path}.tmp{os.getpid()}{suffix}"
            tmps.append(tmp)
            fmt = suffix.lstrip(".").lower() or "png"
            fig.savefig(tmp, dpi=dpi, format=fmt)
        for tmp, path in zip(tmps, targets):
            os.replace(tmp, path)
    finally:
        for tmp in tmps:
            if os.path.exists(tmp):
                try:
                    os.remove(tmp)
                except OSError:  # pragma: no cover
                    pass
        plt.close(fig)


# --------------------------------------------------------------------------
# Fig. 2 / Figs. 11-13
# --------------------------------------------------------------------------


def _stat_col(df: pd.DataFrame, stat: str) -> pd.Series:
    """Bootstrapped mean of ``stat`` (``<stat>_boot_mean``), falling back to
    the point estimate column when the bootstrap column is absent."""
    for col in (f"{stat}_boot_mean", stat):
        if col in df.columns:
            return pd.to_numeric(df[col], errors="coerce").astype(float)
    raise KeyError(f"statistics table has neither '{stat}_boot_mean' nor '{stat}'")


def _py(v):
    """numpy scalar -> plain Python value (ints stay ints)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def select_highlights(df: pd.DataFrame, k: int = 6) -> list:
    """Deterministic choice of up to ``k`` policies spanning different
    post-update return distributions (the star markers of Fig. 2).

    Candidates are rows with finite bootstrapped mean, std and LTP, sorted by
    (algo, seed, step).  Each of the three statistics is min-max normalised;
    farthest-point sampling then starts from the highest-LTP policy and
    repeatedly adds the candidate whose nearest already-chosen policy is
    farthest away (ties -> first in sort order).  Returns row indices of ``df``.
    """
    if k <= 0 or len(df) == 0:
        return []
    feats = pd.DataFrame(
        {s: _stat_col(df, s) for s in ("mean", "std", "ltp")}, index=df.index
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


@_styled
def fig02_scatter(stats, env, out_png, out_pdf, dpi=150, highlight=6, title=None) -> list:
    """Paper Fig. 2 (ant) and Figs. 11-13 (other Brax tasks).

    One row of three panels for the policies of ``env``: x is the
    bootstrapped mean post-update return, y the bootstrapped standard
    deviation, skewness and left-tail probability.  One point per policy,
    coloured by algorithm; up to ``highlight`` policies chosen by
    :func:`select_highlights` are drawn as numbered stars in every panel.
    Policies with undefined (NaN) LTP appear in the first two panels only.

    Returns the highlighted policies as dicts with keys env, algo, seed,
    step, in star-number order (star 1 first), for :func:`fig02_histograms`.
    Raises ``ValueError`` when ``stats`` has no row for ``env``.
    """
    df = stats[stats["env"].astype(str) == str(env)]
    if len(df) == 0:
        known = sorted(stats["env"].astype(str).unique()) if "env" in stats else []
        raise ValueError(f"no post-update statistics for env {env!r} (have: {known})")
    df = df.copy()
    x = _stat_col(df, "mean")
    algos = _algo_order(df["algo"].astype(str).unique())
    colors = algo_colors(algos)
    hl_idx = select_highlights(df, highlight)

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    for ax, (stat, label) in zip(axes, _STATS_Y):
        y = _stat_col(df, stat)
        for algo in algos:
            m = (df["algo"].astype(str) == algo) & np.isfinite(x) & np.isfinite(y)
            ax.scatter(
                x[m], y[m], s=14, alpha=0.6, color=colors[algo], linewidths=0,
                label=algo.upper(), zorder=2,
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
        ax.set_xlabel("Mean post-update return")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3, linewidth=0.6)
        if stat == "ltp":
            n_nan = int((~np.isfinite(y)).sum())
            if n_nan:
                ax.set_title(
                    f"{n_nan} polic{'y' if n_nan == 1 else 'ies'} with undefined LTP not shown",
                    fontsize=8, color="0.35",
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
    fig.suptitle(title if title is not None else f"Fig. 2: post-update return statistics, {env}")
    save_figure(fig, out_png, out_pdf, dpi=dpi)

    out = []
    for idx in hl_idx:
        out.append({c: _py(df.at[idx, c]) for c in _KEY_COLS})
    return out


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
    fig.suptitle(f"Post-update return distributions of highlighted policies, {env}")
    save_figure(fig, out_png, out_pdf, dpi=dpi)


# --------------------------------------------------------------------------
# learning curves
# --------------------------------------------------------------------------


@_styled
def extra_learning_curves(curves, out_png, out_pdf, dpi=150) -> None:
    """Learning curves, one panel per env (sorted), not a paper figure.

    Thin line per (algo, seed); thick line is the per-algorithm mean over
    seeds at each evaluation step.  Colours as in Fig. 2.  Raises
    ``ValueError`` on an empty table.
    """
    if curves is None or len(curves) == 0:
        raise ValueError("empty learning-curve table: nothing to plot")
    df = curves.copy()
    df["return"] = pd.to_numeric(df["return"], errors="coerce").astype(float)
    df["step"] = pd.to_numeric(df["step"], errors="coerce")
    df["algo"] = df["algo"].astype(str)
    envs = sorted(df["env"].astype(str).unique())
    algos = _algo_order(df["algo"].unique())
    colors = algo_colors(algos)
    n = len(envs)
    fig, axes = plt.subplots(
        1, n, figsize=(max(7.5, 4.3 * n), 4.0), constrained_layout=True, squeeze=False
    )
    axes = axes[0]
    for ax, env in zip(axes, envs):
        de = df[df["env"].astype(str) == env]
        for algo in algos:
            da = de[de["algo"] == algo]
            if len(da) == 0:
                continue
            for _, ds in da.groupby("seed", sort=True):
                ds = ds.sort_values("step")
                ax.plot(ds["step"], ds["return"], color=colors[algo], alpha=0.3, linewidth=0.8)
            mean = da.groupby("step", sort=True)["return"].mean()
            ax.plot(mean.index, mean.values, color=colors[algo], linewidth=2.4, label=algo.upper())
        ax.set_title(env)
        ax.set_ylabel("Return")
        ax.grid(True, alpha=0.3, linewidth=0.6)
        # PPO trains for many more (cheap) environment steps than TD3/SAC (60M vs 1M in the
        # paper): on one linear axis the off-policy curves would be squashed into a corner.
        last = de.groupby("algo")["step"].max()
        if len(last) > 1 and last.min() > 0 and last.max() / last.min() >= 5:
            ax.set_xscale("log")
            ax.set_xlabel("Environment steps (log scale)")
        else:
            ax.set_xlabel("Environment steps")
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    _fig_legend(fig, axes[-1], handles, labels)
    fig.suptitle("Learning curves\n(deterministic return from the reference initial state)", fontsize=11)
    save_figure(fig, out_png, out_pdf, dpi=dpi)
