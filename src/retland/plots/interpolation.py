"""E6-E7 figures: paper Fig. 5 / 9 (return along interpolation paths, same run vs different
runs), Fig. 8 (noise-based post-update distribution along the paths), Fig. 6 (below-threshold
proportion, rliable 95% CI).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import ci_bars, _require, save_figure, _styled


KIND_LABELS = {"same_run": "Same run", "different_run": "Different runs"}


KIND_COLORS = {"same_run": "#1f77b4", "different_run": "#d62728"}


def _pair_label(g: pd.DataFrame) -> str:
    """``s0@10k (m 1020) <-> s1@5k (m 990)``: the endpoints and, where ``paths`` carries the
    Tab. 2 selection, their post-update means, with 'NOT similar in mean' for a pair that
    :func:`retland.analyses.interpolation.select_similar_pairs` had to take outside the
    tolerance."""
    r = g.iloc[0]

    def pol(seed, step, m):
        name = f"s{seed}@{step // 1000 if step >= 1000 else step}{'k' if step >= 1000 else ''}"
        return name + (f" (m {m:.4g})" if m is not None and np.isfinite(m) else "")

    ma = float(r["mean_a"]) if "mean_a" in g.columns else None
    mb = float(r["mean_b"]) if "mean_b" in g.columns else None
    label = f"{pol(r.seed_a, r.step_a, ma)} \u2194 {pol(r.seed_b, r.step_b, mb)}"
    if not _similar(g):
        label += "\nNOT similar in mean"
    return label


def _similar(g: pd.DataFrame) -> bool:
    return bool(g["similar_mean"].astype(bool).all()) if "similar_mean" in g.columns else True


def _figure_number(env: str) -> str:
    """The paper shows the Tab. 2 paths of hopper and walker2d in Fig. 5, those of ant and
    halfcheetah in Fig. 9 (A.3)."""
    return "Fig. 9" if env in ("ant", "halfcheetah") else "Fig. 5"


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
    n_bad = sum(not _similar(g) for _, g in paths.groupby("pair"))
    if n_bad:
        title += (f"\n{n_bad} of {paths['pair'].nunique()} pairs NOT similar in mean "
                  "(no pair within the tolerance was left; endpoint post-update means m in the legend)")
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
                       f"{_figure_number(env)}: " +
                       r"linear interpolation between policies of similar mean ($\theta_a$: higher LTP)")
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
                       f"Fig. 8: noise-based post-update distribution along the path ({k} Gaussian perturbations)")
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig06_below_threshold(summary: pd.DataFrame, out_png, out_pdf=None, dpi=150, figure: str = "Fig. 6",
                          envs: str = "the Brax tasks") -> None:
    """Fig. 6 (and Fig. 19, Atari): mean BTP per pair kind, rliable 95% CI (environments
    as tasks); the caption line names the paper figure and the environments."""
    _require(summary, ["kind", "mean", "lo", "hi"], "below-threshold summary")
    s = summary.set_index("kind").loc[[k for k in KIND_LABELS if k in set(summary["kind"])]]
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    ci_bars(ax, [KIND_LABELS[k] for k in s.index], s["mean"], s["lo"], s["hi"],
             [KIND_COLORS[k] for k in s.index])
    ax.set_ylabel("Below-threshold proportion")
    ax.set_title(f"{figure}: return collapses along interpolation paths\n({envs})", fontsize=9)
    if "n_pairs" in s.columns:
        undefined = s["n_undefined"] if "n_undefined" in s.columns else [0] * len(s)
        for i, (n, u, hi) in enumerate(zip(s["n_pairs"], undefined, s["hi"])):
            note = f"{int(n)} pairs" + (f"\n(+{int(u)} undefined)" if u else "")
            ax.annotate(note, (i, hi if np.isfinite(hi) else 0), textcoords="offset points",
                        xytext=(0, 3), ha="center", fontsize=7)
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf, dpi=dpi)
