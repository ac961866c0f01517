"""Figures: one module per experiment (``plots.<experiment>``), and here the style every
figure shares (fonts, colours per algorithm, confidence-interval bars, atomic saving).

Tables and arrays in, PNG/PDF out: nothing here runs an agent or imports JAX, so restyling
never re-runs a simulation.
"""

from __future__ import annotations

import functools
import os
from typing import Iterable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager, ft2font  # noqa: E402



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


#: the built-in agents, written in capitals in figures (TD3, SAC, PPO, BC)
_BUILT_IN_LABELS = ("td3", "sac", "ppo", "bc")


def algo_label(algo) -> str:
    """An agent's name in a figure: TD3, SAC, PPO, BC; a policy trained elsewhere (config
    ``external``) under its own name, as the researcher wrote it."""
    algo = str(algo)
    return algo.upper() if algo in _BUILT_IN_LABELS else algo


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


def _stat_col(df: pd.DataFrame, stat: str) -> pd.Series:
    """Bootstrapped mean of ``stat`` (``<stat>_boot_mean``), falling back to
    the point estimate column when the bootstrap column is absent."""
    for col in (f"{stat}_boot_mean", stat):
        if col in df.columns:
            return pd.to_numeric(df[col], errors="coerce").astype(float)
    raise KeyError(f"statistics table has neither '{stat}_boot_mean' nor '{stat}'")


def _labelled_col(df: pd.DataFrame, stat: str, point: bool = False) -> tuple[pd.Series, str]:
    """``(values, kind)``: the bootstrap mean of ``stat`` (``kind`` "bootstrap mean"), or with
    ``point=True`` its point estimate (``kind`` "point estimate"), each falling back to the
    other column when absent, ``kind`` then saying which one it is (for the axis label)."""
    cols = ((stat, "point estimate"), (f"{stat}_boot_mean", "bootstrap mean"))
    for col, kind in (cols if point else cols[::-1]):
        if col in df.columns:
            return pd.to_numeric(df[col], errors="coerce").astype(float), kind
    raise KeyError(f"statistics table has neither '{stat}_boot_mean' nor '{stat}'")


def _py(v):
    """numpy scalar -> plain Python value (ints stay ints)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _require(df: pd.DataFrame, cols, what: str) -> None:
    missing = sorted(set(cols) - set(df.columns))
    if missing:
        raise ValueError(f"{what} table lacks column(s) {missing}")


def _read_group(g) -> dict:
    out = {k: g[k][()] for k in g}
    out.update({k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()})
    return out


def _strip(frames: np.ndarray, gap: int = 4) -> np.ndarray:
    """Frames side by side with a white gap."""
    f = np.asarray(frames, np.uint8)
    h = f.shape[1]
    pad = np.full((h, gap, 3), 255, np.uint8)
    parts = []
    for i, fr in enumerate(f):
        parts += [fr, pad] if i < len(f) - 1 else [fr]
    return np.concatenate(parts, axis=1)


def _renderer_note(renderer: str) -> str:
    return "" if renderer == "mujoco" else " [frames: FALLBACK matplotlib renderer, no OpenGL]"


ROLE_TITLE = {"noisy": "noisy neighbourhood", "smooth": "smooth neighbourhood"}
