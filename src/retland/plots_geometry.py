"""Figures of E3-E5 (matplotlib, h5py, pandas only; never JAX): tables and arrays in, figures out.

* :func:`fig01_landscape` -- paper Fig. 1 / A.11: landscape map around a noisy and a smooth
  policy (origin marked), their post-update histograms (mean as a line), gait frames.
* :func:`fig27_multiscale` -- paper Fig. 27 / A.12: the same maps at three window sizes.
* :func:`fig03_failures` -- paper Fig. 3 / 23 / A.8: reward per step of one
  successful/failing pair and the race curves of all pairs.
* :func:`fig04_misstep` -- paper Fig. 4: frames of both trajectories before the misstep.
* :func:`fig10_ltp_by_state` -- paper Fig. 10 / A.4: LTP from buffer start states.
"""

from __future__ import annotations

import textwrap

import h5py
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .plots import STAR, _styled, save_figure  # noqa: E402

ROLE_TITLE = {"noisy": "noisy neighbourhood", "smooth": "smooth neighbourhood"}


def _read_group(g) -> dict:
    out = {k: g[k][()] for k in g}
    out.update({k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()})
    return out


def read_landscape(path: str) -> dict:
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "retland.landscape/1" or not f.attrs.get("complete", False):
            raise ValueError(f"{path}: not a complete retland.landscape/1 file")
        out = {k: v for k, v in f.attrs.items() if k != "provenance"}
        for role in ("noisy", "smooth"):
            out[role] = _read_group(f[role])
    return out


def read_failures(path: str) -> dict:
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "retland.failures/1" or not f.attrs.get("complete", False):
            raise ValueError(f"{path}: not a complete retland.failures/1 file")
        return {**{k: v for k, v in f.attrs.items() if k != "provenance"}, **{k: f[k][()] for k in f}}


def _strip(frames: np.ndarray, gap: int = 4) -> np.ndarray:
    """Frames side by side with a white gap."""
    f = np.asarray(frames, np.uint8)
    h = f.shape[1]
    pad = np.full((h, gap, 3), 255, np.uint8)
    parts = []
    for i, fr in enumerate(f):
        parts += [fr, pad] if i < len(f) - 1 else [fr]
    return np.concatenate(parts, axis=1)


def _heatmap(ax, axes_vals, returns, fig, title, marks=True):
    a = np.asarray(axes_vals, float)
    r = np.asarray(returns, float)
    d = (a[1] - a[0]) / 2
    im = ax.imshow(r.T, origin="lower", extent=(a[0] - d, a[-1] + d, a[0] - d, a[-1] + d),
                   cmap="viridis", aspect="equal", interpolation="nearest")
    ax.plot([0], [0], marker="*", color="red", markersize=11, markeredgecolor="white", linestyle="none",
            label=r"$\theta_0$")
    if marks and a[-1] >= 1:
        ax.plot([1], [0], "o", color="white", markersize=5, markeredgecolor="black", label=r"$\theta'$")
        ax.plot([0], [1], "s", color="white", markersize=5, markeredgecolor="black", label=r"$\theta''$")
    ax.set_xlabel(r"$\alpha$ (direction $\theta'-\theta_0$)")
    ax.set_ylabel(r"$\beta$ (direction $\theta''-\theta_0$)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.85, label="Return")


def _renderer_note(renderer: str) -> str:
    return "" if renderer == "mujoco" else " [frames: FALLBACK matplotlib renderer, no OpenGL]"


@_styled
def fig01_landscape(data: dict, env: str, out_png, out_pdf, dpi=150) -> None:
    """Fig. 1: per policy (rows: noisy, smooth) the level-0 landscape map, the
    post-update histogram with its mean, and the gait frames of theta0 from s_I."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1.0, 1.0, 1.9]})
    for i, role in enumerate(("noisy", "smooth")):
        d = data[role]
        label = (f"{ROLE_TITLE[role]}: {str(d['algo']).upper()} seed {d['seed']} step {d['step']}")
        _heatmap(axes[i, 0], d["axes"][0], d["returns"][0], fig, f"{label}\nreturn landscape")
        axes[i, 0].legend(loc="upper right", fontsize=7, framealpha=0.7)
        ax = axes[i, 1]
        r = np.asarray(d["post_update_returns"], float)
        r = r[np.isfinite(r)]
        ax.hist(r, bins=int(min(50, max(10, r.size // 5))), color="#4c72b0", alpha=0.85)
        ax.axvline(r.mean(), color="#ff7f0e", linewidth=2, label=f"mean {r.mean():.4g}")
        ax.set_title(f"post-update returns (N={r.size}); std {float(d['std']):.3g}, LTP {float(d['ltp']):.3g}",
                     fontsize=9)
        ax.set_xlabel("Post-update return")
        ax.set_ylabel("Count")
        ax.legend(fontsize=8, frameon=False)
        ax.xaxis.set_major_locator(plt.MaxNLocator(5))
        ax.ticklabel_format(axis="x", useOffset=False, style="plain")
        ax = axes[i, 2]
        ax.imshow(_strip(d["frames"]))
        ax.set_axis_off()
        steps = ", ".join(str(int(s)) for s in d["frame_steps"])
        ax.set_title(f"gait of $\\theta_0$ from $s_I$ (steps {steps}; return {float(d['gait_return']):.4g})",
                     fontsize=9)
    note = (f"Pair: {data['selection']}. Map: R(theta0 + a (theta' - theta0) + b (theta'' - theta0)), "
            f"{data['grid']}x{data['grid']} grid, horizon {data['horizon']}.")
    fig.suptitle(f"Fig. 1: return landscape around two policies, {env}{_renderer_note(data['renderer'])}\n"
                 + "\n".join(textwrap.wrap(note, 170)), fontsize=10)
    save_figure(fig, out_png, out_pdf, dpi=dpi)


@_styled
def fig27_multiscale(data: dict, env: str, out_png, out_pdf, dpi=150) -> None:
    """Fig. 27: each policy's map at the window [-e, e] and two successive zooms."""
    levels = int(data["levels"])
    fig, axes = plt.subplots(2, levels, figsize=(4.6 * levels, 8), constrained_layout=True, squeeze=False)
    for i, role in enumerate(("noisy", "smooth")):
        d = data[role]
        for k in range(levels):
            e = float(d["axes"][k][-1])
            _heatmap(axes[i, k], d["axes"][k], d["returns"][k], fig,
                     f"{ROLE_TITLE[role]} ({str(d['algo']).upper()} seed {d['seed']} step {d['step']})\n"
                     f"window $\\pm${e:.3g} (zoom x{float(data['zoom']) ** k:g})")
    fig.suptitle(f"Fig. 27: multi-scale landscape, {env}: same {data['grid']}x{data['grid']} grid on "
                 f"windows shrunk by {float(data['zoom']):g} twice")
    save_figure(fig, out_png, out_pdf, dpi=dpi)


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
    title = f"Fig. 3 / 23: successful vs failing post-update trajectories, {env} ({str(data['algo']).upper()})"
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


@_styled
def fig10_ltp_by_state(df: pd.DataFrame, env: str, out_png, out_pdf, dpi=150) -> None:
    """Fig. 10: LTP of the post-update distribution from buffer start states (x: the state's
    collection time, its replay index), one line per seed, averaged over the checkpoints
    whose buffer holds the state."""
    from .analyses.start_states import average_over_checkpoints  # pandas only

    if df.empty:
        raise ValueError(f"no start-state rows for env {env!r}")
    avg = average_over_checkpoints(df)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    for seed, g in avg.groupby("seed"):
        ax.plot(g["buffer_index"], g["ltp"], marker="o", linewidth=1.2, label=f"seed {seed}")
    ax.set_xlabel("Collection time of the start state (index in the replay buffer)")
    ax.set_ylabel("Left-tail probability (mean over checkpoints)")
    top = max(float(np.nanmax(avg["ltp"])) if avg["ltp"].notna().any() else 0.0, 0.01)
    ax.set_ylim(-0.05 * top, 1.15 * top)
    n_ck = int(avg["n_checkpoints"].max())
    ax.set_title(f"Fig. 10: LTP from replay-buffer start states, {env}\n"
                 f"{int(df['n_samples'].iloc[0])} updates per state, up to {n_ck} checkpoints, horizon "
                 f"{int(df['horizon'].iloc[0])}", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(True, alpha=0.3)
    save_figure(fig, out_png, out_pdf, dpi=dpi)
