"""E1 figure: learning curves per environment (not a paper figure; a check of the trained
policies): deterministic return from the reference state.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from . import algo_colors, algo_label, _algo_order, _fig_legend, save_figure, _styled


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
            ax.plot(mean.index, mean.values, color=colors[algo], linewidth=2.4, label=algo_label(algo))
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
    fig.suptitle("Learning curves (extra: not a paper figure)\n"
                 "(deterministic return from the reference initial state)", fontsize=11)
    save_figure(fig, out_png, out_pdf, dpi=dpi)
