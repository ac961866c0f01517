"""E4 figures: paper Fig. 3 / 23 / A.8 (reward per step of a successful and a failing
post-update sample, race curves) and Fig. 4 (frames of both before the misstep).
"""

from __future__ import annotations

import h5py
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import algo_label, _renderer_note, save_figure, STAR, _strip, _styled


def read_failures(path: str) -> dict:
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "retland.failures/1" or not f.attrs.get("complete", False):
            raise ValueError(f"{path}: not a complete retland.failures/1 file")
        return {**{k: v for k, v in f.attrs.items() if k != "provenance"}, **{k: f[k][()] for k in f}}


@_styled
def fig03_failures(data: dict, summary: pd.DataFrame, env: str, out_png, out_pdf, dpi=150) -> None:
    """Fig. 3 (and Fig. 23): left, reward per step of one successful/failing pair;
    right, race curves R_<=t (failing vs successful) of every pair, diagonal dashed."""
    rewards = np.asarray(data["rewards"], float)  # [P, 2, T]
    best = int(data["misstep_pair"])
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    t = np.arange(1, rewards.shape[2] + 1)
    a0.plot(t, rewards[best, 0], color="#2ca02c", linewidth=1, label="successful")
    a0.plot(t, rewards[best, 1], color="#d62728", linewidth=1, label="failing")
    lf = int(data["lengths"][best, 1])
    if lf < rewards.shape[2]:
        a0.axvline(lf, color="#d62728", linestyle=":", linewidth=1, label=f"failing terminates (t={lf})")
    end = int(np.max(data["lengths"][best]))
    a0.set_xlim(0, min(rewards.shape[2], int(end * 1.15) + 10))  # both ended: nothing to show after
    a0.set_xlabel("Time step")
    a0.set_ylabel("Reward")
    a0.set_title(f"{STAR} one pair: reward per time step")
    a0.legend(fontsize=8, frameon=False)
    cs, cf = np.cumsum(rewards[:, 0], axis=1), np.cumsum(rewards[:, 1], axis=1)
    cmap = plt.get_cmap("tab10")
    for p in range(rewards.shape[0]):
        a1.plot(cs[p], cf[p], color=cmap(p % 10), linewidth=1.2)
        if p == best:
            a1.plot(cs[p, -1], cf[p, -1], marker="*", color=cmap(p % 10), markersize=13,
                    markeredgecolor="black", linestyle="none")
    hi = max(float(np.nanmax(cs)), float(np.nanmax(cf)), 1e-9)
    lo = min(float(np.nanmin(cs)), float(np.nanmin(cf)), 0.0)
    a1.plot([lo, hi], [lo, hi], color="0.5", linestyle="--", linewidth=1, label="y = x")
    a1.set_xlabel(r"Successful trajectory $R_{\leq t}$")
    a1.set_ylabel(r"Failing trajectory $R_{\leq t}$")
    a1.set_title(f"race curves of {rewards.shape[0]} pairs (reward held after termination)")
    a1.legend(fontsize=8, frameon=False, loc="upper left")
    s = summary.iloc[0]
    a1.text(0.98, 0.02, f"failing trajectories ending by\ntermination: {int(s.n_terminated)}/{int(s.n_failing)}"
            f" ({float(s.frac_terminated):.0%})\nlow-reward stretch: {int(s.n_low_reward)}/{int(s.n_failing)}"
            f" ({float(s.frac_low_reward):.0%})", transform=a1.transAxes, ha="right", va="bottom", fontsize=8,
            bbox=dict(facecolor="white", alpha=0.8, edgecolor="0.7"))
    title = f"Fig. 3 / 23: successful vs failing post-update trajectories, {env} ({algo_label(data['algo'])})"
    if bool(data["fallback"]):
        title += "\nFALLBACK: no policy with LTP > 0; policies with the largest left tail, failing = lowest return"
    fig.suptitle(title)
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig04_misstep(data: dict, env: str, out_png, out_pdf, dpi=150) -> None:
    """Fig. 4: frames of the successful (top) and failing (bottom) trajectory of the
    starred pair at the same steps, up to the failing one's misstep."""
    steps = [int(s) for s in data["frame_steps"]]
    fig, axes = plt.subplots(2, 1, figsize=(2.4 * len(steps) + 1, 5.4), constrained_layout=True)
    for ax, key, name in ((axes[0], "frames_success", "successful"), (axes[1], "frames_fail", "failing")):
        ax.imshow(_strip(data[key]))
        ax.set_axis_off()
        ax.set_title(f"{name} trajectory, steps {', '.join(map(str, steps))}", fontsize=9)
    fig.suptitle(f"Fig. 4: the failing trajectory's misstep (step {int(data['misstep_step'])}), {env}"
                 f"{_renderer_note(str(data['renderer']))}"
                 + ("  [FALLBACK selection]" if bool(data["fallback"]) else ""))
    save_figure(fig, out_png, out_pdf, dpi=dpi)
