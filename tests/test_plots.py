"""Tests for retland.plots (Fig. 2 / Figs. 11-13 scatter, histograms, learning curves)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pandas as pd
import pytest

from retland import plots
from retland.plots import post_update as plots_e2
from retland.plots import train as plots_e1

PNG_SIG = b"\x89PNG\r\n\x1a\n"
STATS = ("mean", "std", "skewness", "mode", "ltp", "cvar_0.1")


def _stats_table(seed=0, envs=("ant", "hopper")):
    rng = np.random.default_rng(seed)
    rows = []
    for env in envs:
        for algo in ("td3", "sac", "ppo"):
            for s in range(4):
                for step in range(1, 6):
                    mean = rng.uniform(500, 5000)
                    vals = {
                        "mean": mean,
                        "std": rng.uniform(10, 800),
                        "skewness": rng.normal(-1, 1),
                        "mode": mean + rng.normal(0, 100),
                        "ltp": rng.uniform(0, 0.5),
                        "cvar_0.1": mean - rng.uniform(0, 2000),
                    }
                    if rng.random() < 0.15:
                        vals["ltp"] = np.nan
                    row = dict(suite="brax", env=env, algo=algo, seed=s, step=step * 100_000,
                               n=200, n_nonfinite=0)
                    for k, v in vals.items():
                        row[k] = v
                        row[f"{k}_boot_mean"] = v + rng.normal(0, 1e-3 * abs(v) + 1e-6)
                        row[f"{k}_lo"] = v - 1
                        row[f"{k}_hi"] = v + 1
                    rows.append(row)
    return pd.DataFrame(rows)


def _curves_table():
    rng = np.random.default_rng(1)
    rows = []
    for env in ("hopper", "ant"):
        for algo in ("td3", "sac", "ppo", "bc"):
            for s in range(3):
                for step in range(0, 1_000_001, 100_000):
                    rows.append(dict(suite="brax", env=env, algo=algo, seed=s, step=step,
                                     **{"return": step / 200 + rng.normal(0, 200)}))
    return pd.DataFrame(rows)


def _check_outputs(tmp_path, png, pdf):
    assert png.exists() and pdf.exists()
    assert png.stat().st_size > 5_000
    assert pdf.stat().st_size > 2_000
    assert png.read_bytes()[:8] == PNG_SIG
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def _n_valid(df):
    cols = ["mean_boot_mean", "std_boot_mean", "ltp_boot_mean"]
    return int(np.isfinite(df[cols].to_numpy(dtype=float)).all(axis=1).sum())


def test_fig02_scatter_outputs_and_highlights(tmp_path):
    stats = _stats_table()
    png, pdf = tmp_path / "fig02_ant.png", tmp_path / "fig02_ant.pdf"
    hl = plots_e2.fig02_scatter(stats, "ant", png, pdf, dpi=60)
    _check_outputs(tmp_path, png, pdf)

    ant = stats[stats.env == "ant"]
    assert len(hl) == min(6, _n_valid(ant))
    keys = [(h["env"], h["algo"], h["seed"], h["step"]) for h in hl]
    assert len(set(keys)) == len(keys)
    assert all(set(h) == {"env", "algo", "seed", "step"} for h in hl)
    assert all(h["env"] == "ant" for h in hl)

    # deterministic
    hl2 = plots_e2.fig02_scatter(stats, "ant", tmp_path / "b.png", None, dpi=30)
    assert hl2 == hl
    # row order of the input must not matter either
    shuffled = ant.sample(frac=1.0, random_state=3)
    idx = plots_e2.select_highlights(shuffled, 6)
    assert [(shuffled.at[i, "algo"], shuffled.at[i, "seed"], shuffled.at[i, "step"]) for i in idx] == [
        k[1:] for k in keys
    ]

    # first highlighted is the max-LTP policy
    top = ant.loc[ant["ltp_boot_mean"].idxmax()]
    assert (hl[0]["algo"], hl[0]["seed"], hl[0]["step"]) == (top.algo, top.seed, top.step)
    # highlighted policies all have a finite LTP
    for h in hl:
        r = ant[(ant.algo == h["algo"]) & (ant.seed == h["seed"]) & (ant.step == h["step"])]
        assert np.isfinite(r["ltp_boot_mean"].iloc[0])


def test_fig02_scatter_few_valid_policies(tmp_path):
    stats = _stats_table(envs=("walker2d",))
    stats["ltp_boot_mean"] = np.nan
    stats.loc[stats.index[:3], "ltp_boot_mean"] = [0.1, 0.3, 0.2]
    hl = plots_e2.fig02_scatter(stats, "walker2d", tmp_path / "w.png", None, dpi=30)
    assert len(hl) == 3
    assert hl[0]["seed"] == stats.iloc[1]["seed"] and hl[0]["step"] == stats.iloc[1]["step"]
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_fig02_scatter_unknown_env(tmp_path):
    with pytest.raises(ValueError, match="humanoid"):
        plots_e2.fig02_scatter(_stats_table(), "humanoid", tmp_path / "x.png", tmp_path / "x.pdf")
    assert not list(tmp_path.iterdir())


def test_fig02_histograms(tmp_path):
    rng = np.random.default_rng(2)
    items = [
        ("td3 seed 0 step 100000", rng.normal(3000, 200, size=30)),
        ("sac seed 1 step 500000", np.concatenate([rng.normal(4000, 100, 150), rng.normal(500, 50, 50)])),
        ("ppo seed 2 step 300000", np.append(rng.normal(1000, 30, size=1000), [np.nan, np.inf])),
        ("td3 seed 3 step 200000", np.full(4, np.nan)),
    ]
    png, pdf = tmp_path / "h.png", tmp_path / "h.pdf"
    plots_e2.fig02_histograms(items, "ant", png, pdf, dpi=50)
    _check_outputs(tmp_path, png, pdf)
    assert plots_e2._hist_bins(30) == 10 and plots_e2._hist_bins(200) == 40 and plots_e2._hist_bins(1000) == 50
    with pytest.raises(ValueError):
        plots_e2.fig02_histograms([], "ant", tmp_path / "e.png", tmp_path / "e.pdf")


def test_extra_learning_curves(tmp_path):
    png, pdf = tmp_path / "sub" / "lc.png", tmp_path / "sub" / "lc.pdf"
    plots_e1.extra_learning_curves(_curves_table(), png, pdf, dpi=50)
    _check_outputs(tmp_path / "sub", png, pdf)


def test_extra_learning_curves_empty(tmp_path):
    empty = pd.DataFrame(columns=["suite", "env", "algo", "seed", "step", "return"])
    with pytest.raises(ValueError):
        plots_e1.extra_learning_curves(empty, tmp_path / "e.png", tmp_path / "e.pdf")


def test_algo_colors():
    c = plots.algo_colors(["zeta", "td3", "alpha", "ppo", "sac"])
    assert c["td3"] == plots.ALGO_COLORS["td3"]
    assert c["sac"] == plots.ALGO_COLORS["sac"]
    assert c["ppo"] == plots.ALGO_COLORS["ppo"]
    assert c["alpha"] == plots.FALLBACK_COLORS[0] and c["zeta"] == plots.FALLBACK_COLORS[1]
    assert len(set(c.values())) == 5


def test_save_figure_failure_leaves_nothing(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    png, pdf = tmp_path / "f.png", tmp_path / "f.pdf"

    calls = {"n": 0}
    real = fig.savefig

    def flaky(path, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # PNG written to its temp file, PDF fails
            raise RuntimeError("disk full")
        return real(path, *a, **k)

    monkeypatch.setattr(fig, "savefig", flaky)
    with pytest.raises(RuntimeError, match="disk full"):
        plots.save_figure(fig, png, pdf)
    assert not png.exists() and not pdf.exists()
    assert not list(tmp_path.iterdir())
    assert not plt.fignum_exists(fig.number)

    fig2, _ = plt.subplots()
    monkeypatch.setattr(fig2, "savefig", lambda *a, **k: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        plots.save_figure(fig2, png)
    assert not list(tmp_path.iterdir())


def test_save_figure_overwrites_atomically(tmp_path):
    import matplotlib.pyplot as plt

    png = tmp_path / "deep" / "g.png"
    png.parent.mkdir()
    png.write_bytes(b"old")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    plots.save_figure(fig, png)
    assert png.read_bytes()[:8] == PNG_SIG
    assert os.listdir(png.parent) == ["g.png"]
