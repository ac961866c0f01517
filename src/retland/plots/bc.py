"""Figures of E12, behaviour cloning (paper A.7, Fig. 22): tables in, figures out.

* :func:`fig22_pairs` -- Fig. 22 left: per environment, the post-update mean and LTP of
  each BC student against those of its TD3 teacher, with Pearson's r.
* :func:`fig22_ltp` -- Fig. 22 right: mean LTP of TD3 teachers and BC students over
  environments, rliable 95% CI.

matplotlib / pandas only (no JAX).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import algo_colors, ci_bars, save_figure, _styled


STAT_LABELS = {"mean": "post-update mean", "ltp": "LTP"}


METHOD_LABELS = {"td3": "TD3 (teachers)", "bc": "BC (students)"}


def _fmt_r(v) -> str:
    return "r = n/a" if not np.isfinite(v) else f"r = {v:.2f}"


@_styled
def fig22_pairs(pairs: pd.DataFrame, corr: pd.DataFrame, out_png, out_pdf=None, dpi=150) -> None:
    """Fig. 22 left: one column per environment, rows mean and LTP; x = teacher, y = student,
    one point per (teacher, student checkpoint), the diagonal y = x, Pearson's r in the title."""
    need = {"env", "teacher_step", "student_step", "teacher_mean", "student_mean", "teacher_ltp", "student_ltp"}
    missing = sorted(need - set(pairs.columns))
    if missing:
        raise ValueError(f"BC pairs table lacks columns {missing}")
    envs = sorted(pairs["env"].unique())
    if not envs:
        raise ValueError("BC pairs table is empty: no student was paired with a teacher")
    c = corr.set_index("env")
    fig, axes = plt.subplots(2, len(envs), figsize=(max(5.0, 3.4 * len(envs) + 1.2), 6.6), squeeze=False,
                             layout="constrained")
    for j, env in enumerate(envs):
        g = pairs[pairs["env"] == env]
        steps = g["student_step"].to_numpy(float)
        for i, stat in enumerate(("mean", "ltp")):
            ax = axes[i, j]
            x, y = g[f"teacher_{stat}"].to_numpy(float), g[f"student_{stat}"].to_numpy(float)
            sc = ax.scatter(x, y, c=steps, cmap="viridis", s=22, edgecolor="black", linewidth=0.3)
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.any():
                lo, hi = min(x[ok].min(), y[ok].min()), max(x[ok].max(), y[ok].max())
                pad = 0.05 * (hi - lo or 1.0)
                ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="gray", lw=0.8, ls="--")
            r = c.loc[env, f"corr_{stat}"] if env in c.index else float("nan")
            ax.set_title(f"{env}: {STAT_LABELS[stat]}, {_fmt_r(r)}")
            ax.set_xlabel(f"TD3 teacher {STAT_LABELS[stat]}")
            ax.set_ylabel(f"BC student {STAT_LABELS[stat]}")
            ax.grid(alpha=0.3)
    fig.colorbar(sc, ax=axes.ravel().tolist(), label="student gradient steps", shrink=0.6)
    fig.suptitle("Fig. 22 (left): BC students vs. their TD3 teachers")
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig22_ltp(summary: pd.DataFrame, out_png, out_pdf=None, dpi=150) -> None:
    """Fig. 22 right: mean LTP of TD3 teachers and BC students, rliable 95% CI."""
    need = {"method", "mean", "lo", "hi"}
    missing = sorted(need - set(summary.columns))
    if missing:
        raise ValueError(f"LTP summary lacks columns {missing}")
    s = summary.set_index("method").loc[[m for m in METHOD_LABELS if m in set(summary["method"])]]
    colors = algo_colors(s.index)
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    ci_bars(ax, [METHOD_LABELS[m] for m in s.index], s["mean"], s["lo"], s["hi"], [colors[m] for m in s.index])
    ax.set_ylabel("Mean LTP")
    ax.set_title("Fig. 22 (right): LTP of TD3 and BC policies")
    fig.tight_layout()
    save_figure(fig, out_png, out_pdf, dpi=dpi)
