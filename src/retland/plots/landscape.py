"""E3 figures: paper Fig. 1 / A.11 (landscape map around a noisy and a smooth policy,
their post-update histograms, gait frames) and Fig. 27 / A.12 (the maps at three scales).
"""

from __future__ import annotations

import textwrap

import h5py
import matplotlib.pyplot as plt
import numpy as np

from . import algo_label, _read_group, _renderer_note, ROLE_TITLE, save_figure, _strip, _styled


def read_landscape(path: str) -> dict:
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "retland.landscape/1" or not f.attrs.get("complete", False):
            raise ValueError(f"{path}: not a complete retland.landscape/1 file")
        out = {k: v for k, v in f.attrs.items() if k != "provenance"}
        for role in ("noisy", "smooth"):
            out[role] = _read_group(f[role])
    return out


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


def policy_stats(d: dict) -> str:
    """The policy's post-update statistics (the selection's table values): mean, std, LTP."""
    ltp = float(d["ltp"])
    return (f"mean {float(d['mean']):.4g}, std {float(d['std']):.3g}, "
            f"LTP {'undefined' if not np.isfinite(ltp) else format(ltp, '.3g')}")


@_styled
def fig01_landscape(data: dict, env: str, out_png, out_pdf, dpi=150) -> None:
    """Fig. 1: per policy (rows: noisy, smooth) the level-0 landscape map, the
    post-update histogram with its mean, and the gait frames of theta0 from s_I."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1.0, 1.0, 1.9]})
    for i, role in enumerate(("noisy", "smooth")):
        d = data[role]
        label = f"{ROLE_TITLE[role]}: {algo_label(d['algo'])} seed {d['seed']} step {d['step']}"
        _heatmap(axes[i, 0], d["axes"][0], d["returns"][0], fig, f"{label}\nreturn landscape")
        axes[i, 0].legend(loc="upper right", fontsize=7, framealpha=0.7)
        ax = axes[i, 1]
        r = np.asarray(d["post_update_returns"], float)
        r = r[np.isfinite(r)]
        ax.hist(r, bins=int(min(50, max(10, r.size // 5))), color="#4c72b0", alpha=0.85)
        ax.axvline(r.mean(), color="#ff7f0e", linewidth=2, label=f"mean {r.mean():.4g}")
        ax.set_title(f"post-update returns (N={r.size})\n{policy_stats(d)}", fontsize=9)
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
    fallback = str(data.get("fallback", "") or "")
    if fallback:
        note = f"FALLBACK PAIR: {fallback}. " + note
    title = fig.suptitle(f"Fig. 1: return landscape around two policies, {env}{_renderer_note(data['renderer'])}\n"
                         + "\n".join(textwrap.wrap(note, 170)), fontsize=10)
    if fallback:
        title.set_color("#b00000")
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
                     f"{ROLE_TITLE[role]} ({algo_label(d['algo'])} seed {d['seed']} step {d['step']})\n"
                     f"window $\\pm${e:.3g} (zoom x{float(data['zoom']) ** k:g})")
    fallback = " [FALLBACK pair, see Fig. 1]" if str(data.get("fallback", "") or "") else ""
    fig.suptitle(f"Fig. 27: multi-scale landscape, {env}: same {data['grid']}x{data['grid']} grid on "
                 f"windows shrunk by {float(data['zoom']):g} twice{fallback}")
    save_figure(fig, out_png, out_pdf, dpi=dpi)
