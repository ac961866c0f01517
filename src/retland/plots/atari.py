"""E11 figures (paper A.6): PPO on the Atari games.

* :func:`fig21_scatter_atari` -- mean against standard deviation of the post-update return
  distribution, one panel per game, one point per policy (paper Fig. 21).
* :func:`fig20_histograms_atari` -- post-update histograms of selected policies, one row per
  game (paper Fig. 20). The paper chose its policies "for illustrative purposes" (to show
  that returns vary after one update); here the choice is deterministic: the policies of
  largest post-update standard deviation in each game (:func:`select_atari_policies`).

Fig. 19 (below-threshold proportion) is :func:`retland.plots.interpolation.fig06_below_threshold`
on the Atari summary.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import _require, _stat_col, _styled, save_figure
from .post_update import _hist_bins

_SEED_MARKERS = "osD^vP*X"
#: what a return counts (``return_definition`` of the post-update files; rollout.HostRollout)
RETURN_LABELS = {"first_life": "clipped return to the first life lost",
                 "authors": "clipped return through later lives, the authors' evaluation"}


def games_of(stats: pd.DataFrame, games: Sequence[str]) -> list[str]:
    """``games`` that have rows in ``stats``; a clear error when none has."""
    _require(stats, ["env", "algo", "seed", "step", "mean", "std"], "post-update statistics")
    have = [g for g in games if (stats["env"].astype(str) == g).any()]
    if not have:
        raise ValueError(f"no post-update statistics for the Atari games {list(games)} "
                         f"(have: {sorted(stats['env'].astype(str).unique())})")
    return have


def select_atari_policies(stats: pd.DataFrame, games: Sequence[str], per_game: int) -> list[dict]:
    """Fig. 20's policies: the paper chose them "to demonstrate that returns can vary
    significantly after a single policy update": per game the ``per_game`` policies of
    largest post-update standard deviation (ties: larger mean, then run and step order), as
    dicts env, algo, seed, step in (game, decreasing std) order."""
    out = []
    for g in games_of(stats, games):
        df = stats[stats["env"].astype(str) == g].copy()
        df["_std"] = np.nan_to_num(_stat_col(df, "std").to_numpy(float), nan=-np.inf)
        df["_mean"] = np.nan_to_num(_stat_col(df, "mean").to_numpy(float), nan=-np.inf)
        df = df.sort_values(["_std", "_mean", "seed", "step"], ascending=[False, False, True, True], kind="mergesort")
        for _, row in df.head(per_game).iterrows():
            out.append({"env": g, "algo": str(row["algo"]), "seed": int(row["seed"]), "step": int(row["step"])})
    return out


@_styled
def fig21_scatter_atari(stats: pd.DataFrame, games: Sequence[str], out_png, out_pdf=None, dpi=150,
                        return_definition: str = "first_life") -> None:
    """Paper Fig. 21: one panel per game, x the bootstrapped mean post-update return,
    y its standard deviation; marker = training run, colour = checkpoint step (lighter =
    earlier). A dashed line marks std = |mean| (variability as large as the mean). The title
    names what a return counts (``return_definition``, :data:`RETURN_LABELS`)."""
    games = games_of(stats, games)
    fig, axes = plt.subplots(1, len(games), figsize=(3.6 * len(games), 3.4), constrained_layout=True,
                             squeeze=False)
    for ax, g in zip(axes[0], games):
        df = stats[stats["env"].astype(str) == g]
        x, y = _stat_col(df, "mean"), _stat_col(df, "std")
        steps = df["step"].to_numpy(float)
        norm = plt.Normalize(steps.min(), steps.max() if steps.max() > steps.min() else steps.min() + 1)
        for k, (seed, sub) in enumerate(df.groupby("seed")):
            ok = np.isfinite(x[sub.index]) & np.isfinite(y[sub.index])
            ax.scatter(x[sub.index][ok], y[sub.index][ok], c=sub["step"][ok], cmap="viridis", norm=norm, s=30,
                       marker=_SEED_MARKERS[k % len(_SEED_MARKERS)], edgecolors="black", linewidths=0.4,
                       label=f"run {seed}", zorder=3)
        fin = np.isfinite(x) & np.isfinite(y)
        if fin.any():
            top = float(max(np.abs(x[fin]).max(), y[fin].max()))
            ax.plot([0, top], [0, top], "--", color="0.6", linewidth=0.8, zorder=1)
        ax.set_title(g)
        ax.set_xlabel("Mean post-update return")
        ax.grid(True, alpha=0.3, linewidth=0.6)
    axes[0][0].set_ylabel("Standard deviation")
    axes[0][0].legend(fontsize=7, frameon=False, loc="upper left")
    sm = plt.cm.ScalarMappable(cmap="viridis", norm=norm)
    fig.colorbar(sm, ax=axes[0][-1], label="checkpoint step", shrink=0.85)
    fig.suptitle("Fig. 21: mean and standard deviation of the post-update return distribution, PPO on Atari "
                 f"({RETURN_LABELS.get(return_definition, return_definition)})", fontsize=10)
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig20_histograms_atari(items: Sequence, out_png, out_pdf=None, dpi=150) -> None:
    """Paper Fig. 20: ``items`` = [(game, label, returns)] in row order; one row per game,
    its policies side by side. Returns are counts of scoring steps (clipped rewards), so
    the bins are the integers. Non-finite returns are dropped (and counted)."""
    items = list(items)
    if not items:
        raise ValueError("no policies to draw for Fig. 20")
    games = list(dict.fromkeys(g for g, _, _ in items))
    per = max(sum(1 for g2, _, _ in items if g2 == g) for g in games)
    fig, axes = plt.subplots(len(games), per, figsize=(3.6 * per, 2.5 * len(games)), constrained_layout=True,
                             squeeze=False)
    for r, g in enumerate(games):
        row = [(label, ret) for g2, label, ret in items if g2 == g]
        for c, ax in enumerate(axes[r]):
            if c >= len(row):
                ax.set_visible(False)
                continue
            label, ret = row[c]
            ret = np.asarray(ret, float).ravel()
            fin = ret[np.isfinite(ret)]
            ax.set_title(f"{g}: {label}", fontsize=9)
            if fin.size:
                lo, hi = float(fin.min()), float(fin.max())
                integral = np.allclose(fin, np.round(fin))
                bins = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.5) if integral and hi - lo <= 60 \
                    else _hist_bins(fin.size)
                ax.hist(fin, bins=bins, color="#4c72b0", alpha=0.85, edgecolor="#2f4f80", linewidth=0.6)
                mu = float(fin.mean())
                ax.axvline(mu, color="black", linestyle="--", linewidth=1.1,
                           label=f"mean {mu:.3g}, std {fin.std():.3g}")
                ax.legend(loc="upper left", fontsize=7, frameon=False)
            else:
                ax.text(0.5, 0.5, "no finite returns", transform=ax.transAxes, ha="center", va="center")
            if fin.size < ret.size:
                ax.text(0.98, 0.97, f"{ret.size - fin.size} non-finite dropped", transform=ax.transAxes,
                        ha="right", va="top", fontsize=7, color="0.35")
            ax.set_xlabel("Post-update return")
            ax.set_ylabel("Count")
            ax.grid(True, alpha=0.3, linewidth=0.6)
    fig.suptitle("Fig. 20: post-update return distributions of selected PPO policies on Atari", fontsize=10)
    save_figure(fig, out_png, out_pdf, dpi=dpi)
