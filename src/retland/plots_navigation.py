"""Figures of the navigation experiments (paper Sec. 4, App. A.3, A.9, A.10): tables in, figures out.

* :func:`fig05_interpolation` -- Fig. 5 / 9: return of one simulation along
  theta = a theta_a + (1 - a) theta_b for the Tab. 2 pairs, same run vs different runs.
* :func:`fig08_interpolation_purd` -- Fig. 8: mean +- std of the noise-based post-update
  return distribution along the same paths.
* :func:`fig06_below_threshold` -- Fig. 6: mean below-threshold proportion, same vs
  different runs, rliable 95% CI.
* :func:`fig07_ltp_reduction` -- Fig. 7: LTP reduction with (Algorithm 1) and without
  (TD3) rejection, rliable 95% CI.
* :func:`fig24_rejection_paths` -- Fig. 24: start -> end of Algorithm 1 on the LTP/mean
  plane, all policies as context.
* :func:`fig25_cvar_ranking` -- Fig. 25: rank of every policy by alpha-CVaR on the LTP/mean
  plane, one panel per alpha, star = top ranked.
* :func:`fig26_rejection_frequency` -- Fig. 26: rejection frequency per environment +- SE.

matplotlib / pandas only (no JAX).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .plots import STAR, _styled, ci_bars, save_figure  # noqa: E402

KIND_LABELS = {"same_run": "Same run", "different_run": "Different runs"}
KIND_COLORS = {"same_run": "#1f77b4", "different_run": "#d62728"}
METHOD_LABELS = {"td3": "TD3 (no rejection)", "rejection": "Algorithm 1 (CVaR rejection)"}
METHOD_COLORS = {"td3": "#7f7f7f", "rejection": "#2ca02c"}


def _require(df: pd.DataFrame, cols, what: str) -> None:
    missing = sorted(set(cols) - set(df.columns))
    if missing:
        raise ValueError(f"{what} table lacks column(s) {missing}")


def _pair_label(g: pd.DataFrame) -> str:
    r = g.iloc[0]
    return f"s{r.seed_a}@{r.step_a // 1000 if r.step_a >= 1000 else r.step_a}{'k' if r.step_a >= 1000 else ''}" \
           f" \u2194 s{r.seed_b}@{r.step_b // 1000 if r.step_b >= 1000 else r.step_b}{'k' if r.step_b >= 1000 else ''}"


def _path_panels(paths: pd.DataFrame, env: str, ylabel: str, draw, title: str):
    kinds = [k for k in KIND_LABELS if k in set(paths["kind"])]
    if not kinds:
        raise ValueError(f"no interpolation paths for {env!r}")
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.6 * len(kinds), 3.4), squeeze=False, sharey=True)
    for ax, kind in zip(axes[0], kinds):
        sub = paths[paths["kind"] == kind]
        cmap = plt.get_cmap("tab10")
        for c, (pair, g) in enumerate(sub.groupby("pair")):
            draw(ax, g.sort_values("alpha"), cmap(c % 10), _pair_label(g))
        ax.set_title(f"{env}: {KIND_LABELS[kind]}")
        ax.set_xlabel(r"$\alpha$  ($\theta = \alpha\theta_a + (1-\alpha)\theta_b$)")
        ax.legend(fontsize=7, frameon=False, title=r"$\theta_a \leftrightarrow \theta_b$ (seed@step)",
                  title_fontsize=7)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(ylabel)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@_styled
def fig05_interpolation(paths: pd.DataFrame, env: str, out_png, out_pdf=None, dpi=150) -> None:
    """Fig. 5 / 9: return R(theta) of a single deterministic simulation along each path."""
    _require(paths, ["kind", "pair", "alpha", "return", "seed_a", "step_a", "seed_b", "step_b"], "paths")

    def draw(ax, g, color, label):
        ax.plot(g["alpha"], g["return"], color=color, lw=1.2, label=label)

    fig = _path_panels(paths, env, "Return", draw,
                       r"Linear interpolation between policies of similar mean ($\theta_a$: higher LTP)")
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig08_interpolation_purd(paths: pd.DataFrame, env: str, out_png, out_pdf=None, dpi=150) -> None:
    """Fig. 8: mean and std band of the Gaussian-perturbation post-update distribution."""
    _require(paths, ["kind", "pair", "alpha", "purd_mean", "purd_std", "n_perturbations"], "paths")

    def draw(ax, g, color, label):
        m, s = g["purd_mean"].to_numpy(float), g["purd_std"].to_numpy(float)
        ax.plot(g["alpha"], m, color=color, lw=1.2, label=label)
        ax.fill_between(g["alpha"], m - s, m + s, color=color, alpha=0.2, lw=0)

    k = int(paths["n_perturbations"].iloc[0])
    fig = _path_panels(paths, env, "Post-update return (mean \u00b1 std)", draw,
                       f"Noise-based post-update distribution along the path ({k} Gaussian perturbations)")
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig06_below_threshold(summary: pd.DataFrame, out_png, out_pdf=None, dpi=150) -> None:
    """Fig. 6: mean BTP per pair kind, rliable 95% CI (environments as tasks)."""
    _require(summary, ["kind", "mean", "lo", "hi"], "below-threshold summary")
    s = summary.set_index("kind").loc[[k for k in KIND_LABELS if k in set(summary["kind"])]]
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    ci_bars(ax, [KIND_LABELS[k] for k in s.index], s["mean"], s["lo"], s["hi"],
             [KIND_COLORS[k] for k in s.index])
    ax.set_ylabel("Below-threshold proportion")
    ax.set_title("Return collapses along interpolation paths")
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig07_ltp_reduction(summary: pd.DataFrame, out_png, out_pdf=None, dpi=150) -> None:
    """Fig. 7: LTP reduction (start minus end) without and with rejection, rliable 95% CI."""
    _require(summary, ["method", "mean", "lo", "hi"], "LTP-reduction summary")
    s = summary.set_index("method").loc[[m for m in ("td3", "rejection") if m in set(summary["method"])]]
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ci_bars(ax, [METHOD_LABELS[m] for m in s.index], s["mean"], s["lo"], s["hi"],
             [METHOD_COLORS[m] for m in s.index])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("LTP reduction")
    ax.set_title("LTP reduction over the proposed steps")
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig24_rejection_paths(log: pd.DataFrame, policies: pd.DataFrame, env: str, out_png, out_pdf=None,
                          dpi=150) -> None:
    """Fig. 24: for every (start policy, run), an arrow from the start (empty circle) to the
    policy after the last iteration (filled circle), per method; x's: all policies."""
    _require(log, ["env", "seed", "step", "run_index", "method", "iteration", "purd_mean", "purd_ltp"], "rejection")
    _require(policies, ["env", "mean", "ltp"], "policies")
    sub = log[log["env"] == env]
    if sub.empty:
        raise ValueError(f"no Algorithm 1 runs for {env!r} in the rejection table")
    ctx = policies[policies["env"] == env]
    methods = [m for m in ("rejection", "td3") if m in set(sub["method"])]
    fig, axes = plt.subplots(1, len(methods), figsize=(4.6 * len(methods), 3.8), squeeze=False,
                             sharex=True, sharey=True)
    for ax, m in zip(axes[0], methods):
        ax.scatter(ctx["ltp"], ctx["mean"], marker="x", s=14, color="#bbbbbb", label="other policies", zorder=1)
        g = sub[sub["method"] == m].sort_values("iteration")
        for _, run in g.groupby(["seed", "step", "run_index"]):
            a, b = run.iloc[0], run.iloc[-1]
            ax.annotate("", xy=(b.purd_ltp, b.purd_mean), xytext=(a.purd_ltp, a.purd_mean),
                        arrowprops=dict(arrowstyle="->", color=METHOD_COLORS[m], lw=1.0), zorder=2)
            ax.scatter([a.purd_ltp], [a.purd_mean], facecolors="none", edgecolors="black", s=30, zorder=3)
            ax.scatter([b.purd_ltp], [b.purd_mean], color=METHOD_COLORS[m], s=30, zorder=3)
        n_it = int(g["iteration"].max())
        ax.set_title(f"{env}: {METHOD_LABELS[m]}, {n_it} steps", fontsize=9)
        ax.set_xlabel("Left-tail probability")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("Post-update mean return")
    axes[0, 0].legend(fontsize=7, frameon=False, loc="best")
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig25_cvar_ranking(ranking: pd.DataFrame, env: str, out_png, out_pdf=None, dpi=150) -> None:
    """Fig. 25: policies on the LTP/mean plane coloured by their alpha-CVaR rank (darker =
    higher ranked), one panel per alpha (columns ``rank_<alpha>``), star = top ranked."""
    _require(ranking, ["env", "mean", "ltp"], "CVaR ranking")
    df = ranking[ranking["env"] == env]
    if df.empty:
        raise ValueError(f"no policies of {env!r} in the CVaR ranking table")
    rank_cols = [c for c in ranking.columns if c.startswith("rank_")]
    if not rank_cols:
        raise ValueError("CVaR ranking table has no rank_<alpha> columns")
    fig, axes = plt.subplots(1, len(rank_cols), figsize=(3.6 * len(rank_cols), 3.4), squeeze=False,
                             sharex=True, sharey=True)
    for ax, col in zip(axes[0], rank_cols):
        r = df[col].to_numpy(float)
        order = np.argsort(-r)  # draw the best ranked last
        sc = ax.scatter(df["ltp"].to_numpy()[order], df["mean"].to_numpy()[order], c=r[order], cmap="viridis",
                        s=22, edgecolors="none")
        best = df.loc[df[col].idxmin()]
        ax.scatter([best["ltp"]], [best["mean"]], marker="*", s=180, color="red", edgecolors="black", lw=0.5,
                   zorder=3)
        ax.set_title(f"{env}: rank by {col[5:]}-CVaR ({STAR} = 1st)", fontsize=9)
        ax.set_xlabel("Left-tail probability")
        ax.grid(alpha=0.3)
        fig.colorbar(sc, ax=ax, label="rank (1 = best)").ax.invert_yaxis()
    axes[0, 0].set_ylabel("Post-update mean return")
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig26_rejection_frequency(freq: pd.DataFrame, out_png, out_pdf=None, dpi=150) -> None:
    """Fig. 26: mean rejection frequency of Algorithm 1 per environment, error bars = SE."""
    _require(freq, ["env", "mean", "se"], "rejection frequency")
    fig, ax = plt.subplots(figsize=(max(3.2, 1.3 * len(freq) + 1.5), 3.4))
    x = np.arange(len(freq))
    ax.bar(x, freq["mean"], color="#2ca02c", alpha=0.85, width=0.6)
    ax.errorbar(x, freq["mean"], yerr=freq["se"], fmt="none", ecolor="black", capsize=6, lw=1.2)
    ax.set_xticks(x, freq["env"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("Rejection frequency")
    ax.set_title("Rejected proposals in Algorithm 1")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf, dpi=dpi)
