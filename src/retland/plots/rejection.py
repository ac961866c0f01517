"""E8-E9 figures: paper Fig. 7 (LTP reduction with and without rejection, rliable 95% CI),
Fig. 24 (Algorithm 1 on the LTP/mean plane), Fig. 26 (rejection frequency), Fig. 25 / A.9
(ranking by alpha-CVaR).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import ci_bars, _require, save_figure, STAR, _styled


METHOD_LABELS = {"td3": "TD3 (no rejection)", "rejection": "Algorithm 1 (CVaR rejection)"}


METHOD_COLORS = {"td3": "#7f7f7f", "rejection": "#2ca02c"}


def _n_label(v) -> str:
    """``n = <count>`` of a summary row ("n = ?" where the table has no count)."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "n = ?"
    return f"n = {int(v)}" if np.isfinite(v) else "n = ?"


@_styled
def fig07_ltp_reduction(summary: pd.DataFrame, out_png, out_pdf=None, dpi=150) -> None:
    """Fig. 7: LTP reduction (start minus end) without and with rejection, rliable 95% CI;
    each bar's label carries ``n`` (the (start policy, run) pairs behind it: the summary's
    column ``n``, "n = ?" when the table has none)."""
    _require(summary, ["method", "mean", "lo", "hi"], "LTP-reduction summary")
    s = summary.set_index("method").loc[[m for m in ("td3", "rejection") if m in set(summary["method"])]]
    n = s["n"] if "n" in s.columns else pd.Series(np.nan, index=s.index)
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    ci_bars(ax, [f"{METHOD_LABELS[m]}\n{_n_label(n[m])}" for m in s.index], s["mean"], s["lo"], s["hi"],
            [METHOD_COLORS[m] for m in s.index])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("LTP reduction")
    ax.set_title("Fig. 7: LTP reduction over the proposed steps\n"
                 "(n = (start policy, run) pairs; 95% CI, environments as tasks)", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig24_rejection_paths(log: pd.DataFrame, policies: pd.DataFrame, env: str, out_png, out_pdf=None,
                          dpi=150) -> None:
    """Fig. 24: for every (start policy, run), an arrow from the start (empty circle) to the
    policy after the last iteration (filled circle), per method; x's: all policies.

    Start and step count come from the per-iteration log (``analyses.rejection.iteration_log``:
    the start is the shared iteration-0 estimate); the end is the run's fresh final estimate
    (``final_estimates``: the row with ``final`` True, the estimate Fig. 7 and claim (c) use).
    A run without a final row (tables written before the final estimates existed) ends at
    its last logged iteration (drawn as a square), which for Algorithm 1 is the winner of
    its own CVaR comparison and biased low; each panel's legend says which end points it
    shows."""
    from ..analyses.rejection import final_estimates, iteration_log

    _require(log, ["env", "seed", "step", "run_index", "method", "iteration", "purd_mean", "purd_ltp"], "rejection")
    _require(policies, ["env", "mean", "ltp"], "policies")
    sub = log[log["env"] == env]
    if sub.empty:
        raise ValueError(f"no Algorithm 1 runs for {env!r} in the rejection table")
    its, fins = iteration_log(sub), final_estimates(sub)
    keys = ["seed", "step", "run_index"]
    ctx = policies[policies["env"] == env]
    methods = [m for m in ("rejection", "td3") if m in set(its["method"])]
    fig, axes = plt.subplots(1, len(methods), figsize=(4.6 * len(methods), 3.8), squeeze=False,
                             sharex=True, sharey=True)
    for ax, m in zip(axes[0], methods):
        ax.scatter(ctx["ltp"], ctx["mean"], marker="x", s=14, color="#bbbbbb", label="other policies", zorder=1)
        g = its[its["method"] == m].sort_values("iteration", kind="stable")
        fin = {k: f for k, f in fins[fins["method"] == m].groupby(keys)}
        ends = {"final": [], "logged": []}
        for k, run in g.groupby(keys):
            a = run.iloc[0]
            b, how = (fin[k].iloc[-1], "final") if k in fin else (run.iloc[-1], "logged")
            ends[how].append((b.purd_ltp, b.purd_mean))
            ax.annotate("", xy=(b.purd_ltp, b.purd_mean), xytext=(a.purd_ltp, a.purd_mean),
                        arrowprops=dict(arrowstyle="->", color=METHOD_COLORS[m], lw=1.0), zorder=2)
            ax.scatter([a.purd_ltp], [a.purd_mean], facecolors="none", edgecolors="black", s=30, zorder=3)
        for how, marker, label in (("final", "o", "end: fresh final estimate"),
                                   ("logged", "s", "end: last logged iteration (no final estimate)")):
            if ends[how]:
                x, y = zip(*ends[how])
                ax.scatter(x, y, color=METHOD_COLORS[m], marker=marker, s=30, zorder=3, label=label)
        n_it = int(g["iteration"].max())
        ax.set_title(f"{env}: {METHOD_LABELS[m]}, {n_it} steps", fontsize=9)
        ax.set_xlabel("Left-tail probability")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False, loc="best")
    axes[0, 0].set_ylabel("Post-update mean return")
    fig.suptitle(f"Fig. 24: Algorithm 1 start (empty circle) to end (filled: fresh final estimate), {env}",
                 fontsize=10)
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
    fig.suptitle(f"Fig. 25: policies ranked by the alpha-CVaR of their post-update returns, {env}",
                 fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig26_rejection_frequency(freq: pd.DataFrame, out_png, out_pdf=None, dpi=150) -> None:
    """Fig. 26: mean rejection frequency of Algorithm 1 per environment, error bars = SE;
    ``n`` (start policy, run pairs) under each environment where the table has it."""
    _require(freq, ["env", "mean", "se"], "rejection frequency")
    fig, ax = plt.subplots(figsize=(max(3.2, 1.3 * len(freq) + 1.5), 3.4))
    x = np.arange(len(freq))
    ax.bar(x, freq["mean"], color="#2ca02c", alpha=0.85, width=0.6)
    ax.errorbar(x, freq["mean"], yerr=freq["se"], fmt="none", ecolor="black", capsize=6, lw=1.2)
    ax.set_xticks(x, [f"{e}\n{_n_label(v)}" for e, v in
                      zip(freq["env"], freq["n"] if "n" in freq.columns else [np.nan] * len(freq))])
    ax.set_ylim(0, 1)
    ax.set_ylabel("Rejection frequency")
    ax.set_title("Fig. 26: rejected proposals\nin Algorithm 1 (mean and SE\nover n (start policy, run) pairs)",
                 fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf, dpi=dpi)
