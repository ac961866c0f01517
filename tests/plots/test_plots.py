"""Tests for retland.plots (Fig. 2 / Figs. 11-13 scatter, histograms, learning curves; every
figure's title carries its paper figure number)."""

import os
import re

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
    cols = ["mean_boot_mean", "std_boot_mean", "ltp"]  # Fig. 2's LTP: the point estimate
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

    # first highlighted is the max-LTP policy (point estimates: what the LTP panel draws)
    top = ant.loc[ant["ltp"].idxmax()]
    assert (hl[0]["algo"], hl[0]["seed"], hl[0]["step"]) == (top.algo, top.seed, top.step)
    # highlighted policies all have a defined LTP
    for h in hl:
        r = ant[(ant.algo == h["algo"]) & (ant.seed == h["seed"]) & (ant.step == h["step"])]
        assert np.isfinite(r["ltp"].iloc[0])


def test_fig02_scatter_few_valid_policies(tmp_path):
    stats = _stats_table(envs=("walker2d",))
    stats["ltp"] = np.nan
    stats.loc[stats.index[:3], "ltp"] = [0.1, 0.3, 0.2]
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


# --- what the figures say: titles, Fig. 2's LTP panel, Fig. 7's n ----------------------------

_PLOT_MODULES = ("landscape", "post_update", "rejection", "failures", "start_states", "bc", "train", "atari")


@pytest.fixture
def drawn(monkeypatch):
    """Every figure saved by the plot modules: the titles (suptitle and axes titles, in one
    string) and the x tick labels of each axes, captured just before the figure is saved."""
    import importlib

    out = []

    def capture(fig, *a, **k):
        sup = fig._suptitle.get_text() if fig._suptitle is not None else ""
        axes = [ax for ax in fig.axes if ax.get_visible()]
        titles = [ax.get_title(loc) for ax in axes for loc in ("center", "left", "right")]
        out.append({"title": "\n".join([sup] + [t for t in titles if t]), "suptitle": sup,
                    "axes": {ax.get_title(): ax for ax in axes},
                    "xticks": [[t.get_text() for t in ax.get_xticklabels()] for ax in axes],
                    "ylabels": [ax.get_ylabel() for ax in axes], "xlabels": [ax.get_xlabel() for ax in axes]})
        plots.save_figure(fig, *a, **k)

    for name in _PLOT_MODULES:
        monkeypatch.setattr(importlib.import_module(f"retland.plots.{name}"), "save_figure", capture)
    return out


def _has_fig(title: str, n) -> bool:
    return re.search(rf"Fig\. {n}(?!\d)", title) is not None


def _landscape_data(fallback=""):
    rng = np.random.default_rng(0)
    G, levels = 5, 3
    axes = np.stack([np.linspace(-3 / 4**k, 3 / 4**k, G) for k in range(levels)])
    role = lambda seed, mean, std, ltp: dict(  # noqa: E731
        algo="sac", seed=seed, step=1000, mean=mean, std=std, ltp=ltp, mode=mean, axes=axes,
        returns=rng.uniform(0, mean, (levels, G, G)), lengths=np.full((levels, G, G), 100),
        frames=rng.integers(0, 255, (3, 16, 16, 3), dtype=np.uint8), frame_steps=np.array([0, 50, 99]),
        post_update_returns=rng.normal(mean, std, 200), gait_return=mean, gait_length=100)
    return {"env": "hopper", "grid": G, "extent": 3.0, "zoom": 4.0, "levels": levels, "horizon": 100,
            "renderer": "mujoco", "criterion": "std contrast, LTP order", "selection": "test pair",
            "fallback": fallback, "noisy": role(0, 1000.0, 250.0, 0.2), "smooth": role(1, 1010.0, 20.0, 0.0)}


def test_fig01_fig27_titles_and_policy_stats(tmp_path, drawn):
    from retland.plots.landscape import fig01_landscape, fig27_multiscale

    fig01_landscape(_landscape_data(), "hopper", tmp_path / "f1.png", None, dpi=30)
    fig27_multiscale(_landscape_data(), "hopper", tmp_path / "f27.png", None, dpi=30)
    f1, f27 = drawn
    assert _has_fig(f1["suptitle"], 1) and _has_fig(f27["suptitle"], 27)
    # each policy's mean, std and LTP are in the figure
    for stats in ("mean 1000, std 250, LTP 0.2", "mean 1010, std 20, LTP 0"):
        assert stats in f1["title"], f1["title"]
    assert "FALLBACK" not in f1["title"]
    fig01_landscape(_landscape_data("no pair of these policies ..."), "hopper", tmp_path / "g.png", None, dpi=30)
    assert "FALLBACK PAIR: no pair of these policies" in drawn[-1]["suptitle"]


@pytest.mark.parametrize("env,n", [("ant", 2), ("halfcheetah", 11), ("hopper", 12), ("walker2d", 13),
                                   ("quadruped-walk", 14), ("humanoid-run", 18)])
def test_fig02_titles(tmp_path, drawn, env, n):
    stats = _stats_table(envs=(env,))
    plots_e2.fig02_scatter(stats, env, tmp_path / "s.png", None, dpi=30)
    plots_e2.fig02_histograms([("a", np.arange(50.0))], env, tmp_path / "h.png", None, dpi=30)
    assert _has_fig(drawn[0]["suptitle"], n) and _has_fig(drawn[1]["suptitle"], n)


def test_fig02_ltp_panel_point_estimates_and_undefined_count(tmp_path, drawn):
    """A run had 3 policies of undefined (NaN) LTP and the note said 1: the bootstrap mean of
    the LTP is a nanmean over resamples, defined as soon as one resample has a positive mode.
    The panel draws (and counts on) the point estimates."""
    stats = _stats_table(envs=("hopper",))
    stats["ltp"] = stats["ltp"].fillna(0.1)
    nan_rows = stats.index[[0, 5, 9]]
    stats.loc[nan_rows, "ltp"] = np.nan
    stats.loc[nan_rows, "ltp_boot_mean"] = [0.004, np.nan, 0.02]  # two defined by the bootstrap
    assert plots_e2.undefined_ltp_count(stats) == 3
    plots_e2.fig02_scatter(stats, "hopper", tmp_path / "s.png", None, dpi=30)
    (d,) = drawn
    ltp_ax = [ax for t, ax in d["axes"].items() if "undefined LTP" in t]
    assert len(ltp_ax) == 1, d["axes"].keys()
    assert re.match(r"3 of 60 policies with undefined LTP", ltp_ax[0].get_title())
    # the LTP panel shows the point estimates: 57 defined points, at their point values
    ax = ltp_ax[0]
    pts = np.concatenate([c.get_offsets() for c in ax.collections])
    ys = set(np.round(pts[:, 1], 12))
    defined = stats["ltp"].dropna().to_numpy()
    assert set(np.round(defined, 12)) <= ys and not {0.004, 0.02} & ys
    assert "point estimate" in ax.get_ylabel() and "bootstrap mean" in d["ylabels"][0]


def _rejection_tables():
    rows = []
    for method in ("rejection", "td3"):
        for seed in (0, 1):
            for it in range(3):
                rows.append(dict(env="hopper", seed=seed, step=1000, run_index=0, method=method, iteration=it,
                                 purd_mean=1000 + 10 * it, purd_ltp=0.3 - 0.05 * it))
    log = pd.DataFrame(rows)
    policies = pd.DataFrame({"env": ["hopper"] * 4, "mean": [900.0, 1000, 1100, 1200], "ltp": [0.1, 0.2, 0.0, 0.3]})
    ranking = policies.assign(**{"rank_0.1": [2, 1, 3, 4], "rank_1": [4, 3, 2, 1]})
    summary = pd.DataFrame({"method": ["td3", "rejection", "rejection_minus_td3"], "mean": [0.01, 0.1, 0.09],
                            "lo": [-0.02, 0.05, 0.04], "hi": [0.04, 0.15, 0.14], "n": [12, 10, 10]})
    freq = pd.DataFrame({"env": ["hopper", "ant"], "mean": [0.3, 0.5], "se": [0.05, 0.1], "n": [10, 7]})
    return log, policies, ranking, summary, freq


def test_fig07_shows_n_and_rejection_titles(tmp_path, drawn):
    from retland.plots import rejection as PR

    log, policies, ranking, summary, freq = _rejection_tables()
    PR.fig07_ltp_reduction(summary, tmp_path / "f7.png", dpi=30)
    PR.fig24_rejection_paths(log, policies, "hopper", tmp_path / "f24.png", dpi=30)
    PR.fig25_cvar_ranking(ranking, "hopper", tmp_path / "f25.png", dpi=30)
    PR.fig26_rejection_frequency(freq, tmp_path / "f26.png", dpi=30)
    for d, n in zip(drawn, (7, 24, 25, 26)):
        assert _has_fig(d["title"], n), (n, d["title"])
    ticks = drawn[0]["xticks"][0]
    assert len(ticks) == 2 and "n = 12" in ticks[0] and "TD3" in ticks[0] and "n = 10" in ticks[1]
    assert [t.split("\n")[1] for t in drawn[3]["xticks"][0]] == ["n = 10", "n = 7"]
    # a summary without n still draws, saying the count is unknown
    PR.fig07_ltp_reduction(summary.drop(columns="n"), tmp_path / "g7.png", dpi=30)
    assert all("n = ?" in t for t in drawn[-1]["xticks"][0])


def test_fig24_ends_at_the_fresh_final_estimate_and_falls_back_to_the_last_iteration(tmp_path, drawn):
    """With ``final`` rows, each arrow runs from iteration 0 to the run's fresh final
    estimate, not to the last logged iteration (for Algorithm 1 the biased winner of its own
    comparison); a table without ``final`` ends at the last logged iteration, labelled so."""
    from matplotlib.text import Annotation

    from retland.plots import rejection as PR

    log, policies, *_ = _rejection_tables()  # iterations 0-2: LTP 0.3, 0.25, 0.2; mean 1000, 1010, 1020
    log = log.assign(final=False, accepted=True)
    fin = log[log.iteration == 2].assign(final=True, accepted=None, purd_ltp=[0.27, 0.26, 0.11, 0.12],
                                         purd_mean=[990.0, 991, 992, 993])
    # the final rows come first in the table: the function must not depend on the row order
    full = pd.concat([fin, log], ignore_index=True)

    def arrows(d):
        return {ax.get_title().split(": ")[1].split(",")[0]:
                np.array(sorted((*a.xyann, *a.xy) for a in ax.texts if isinstance(a, Annotation)))
                for ax in d["axes"].values()}

    PR.fig24_rejection_paths(full, policies, "hopper", tmp_path / "f24.png", dpi=30)
    got = arrows(drawn[-1])
    np.testing.assert_allclose(got[PR.METHOD_LABELS["rejection"]], [[0.3, 1000, 0.26, 991], [0.3, 1000, 0.27, 990]])
    np.testing.assert_allclose(got[PR.METHOD_LABELS["td3"]], [[0.3, 1000, 0.11, 992], [0.3, 1000, 0.12, 993]])
    assert all("2 steps" in t for t in drawn[-1]["axes"])  # the step count ignores the final rows' iteration
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in drawn[-1]["axes"].values()]
    assert all("end: fresh final estimate" in lg and not any("last logged" in t for t in lg) for lg in legends)
    # legacy table (no final column): the end is the last logged iteration, and the legend says so
    PR.fig24_rejection_paths(log.drop(columns="final"), policies, "hopper", tmp_path / "g24.png", dpi=30)
    got = arrows(drawn[-1])
    assert len(got) == 2
    for v in got.values():
        np.testing.assert_allclose(v, [[0.3, 1000, 0.2, 1020]] * 2)
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in drawn[-1]["axes"].values()]
    assert all(any("last logged iteration" in t for t in lg) for lg in legends)


def test_every_other_figure_title_has_its_number(tmp_path, drawn):
    from retland.plots import atari as PA, bc as PB, failures as PF, start_states as PS

    rng = np.random.default_rng(3)
    P, T = 3, 40
    fail = {"rewards": rng.uniform(0, 1, (P, 2, T)), "misstep_pair": 1, "lengths": np.array([[T, 20]] * P),
            "algo": "td3", "fallback": False, "frame_steps": np.array([5, 10]), "misstep_step": 12,
            "frames_success": rng.integers(0, 255, (2, 8, 8, 3), dtype=np.uint8),
            "frames_fail": rng.integers(0, 255, (2, 8, 8, 3), dtype=np.uint8), "renderer": "mujoco"}
    summ = pd.DataFrame([dict(n_terminated=2, n_failing=3, frac_terminated=2 / 3, n_low_reward=1,
                              frac_low_reward=1 / 3)])
    PF.fig03_failures(fail, summ, "hopper", tmp_path / "f3.png", None, dpi=30)
    PF.fig04_misstep(fail, "hopper", tmp_path / "f4.png", None, dpi=30)
    ss = pd.DataFrame([dict(seed=s, state=i, buffer_index=100 * i, rel_pos=i / 3, ltp=0.1 * i, mean=500.0,
                            n_samples=8, horizon=100, step=1000) for s in (0, 1) for i in range(3)])
    PS.fig10_ltp_by_state(ss, "hopper", tmp_path / "f10.png", None, dpi=30)
    pairs = pd.DataFrame([dict(env="hopper", teacher_step=1000, student_step=s, teacher_mean=1000.0 + s,
                               student_mean=900.0 + s, teacher_ltp=0.1, student_ltp=0.05 * s)
                          for s in (1, 2, 3)])
    PB.fig22_pairs(pairs, pd.DataFrame({"env": ["hopper"], "corr_mean": [0.9], "corr_ltp": [0.2]}),
                   tmp_path / "f22a.png", dpi=30)
    PB.fig22_ltp(pd.DataFrame({"method": ["td3", "bc"], "mean": [0.1, 0.05], "lo": [0.0, 0.0],
                               "hi": [0.2, 0.1]}), tmp_path / "f22b.png", dpi=30)
    atari = _stats_table(envs=("qbert", "breakout"))
    PA.fig21_scatter_atari(atari, ["qbert", "breakout"], tmp_path / "f21.png", dpi=30)
    PA.fig20_histograms_atari([("qbert", "run 0", rng.integers(0, 20, 50))], tmp_path / "f20.png", dpi=30)
    plots_e1.extra_learning_curves(_curves_table(), tmp_path / "lc.png", None, dpi=30)
    for d, n in zip(drawn, (3, 4, 10, 22, 22, 21, 20)):
        assert _has_fig(d["title"], n), (n, d["title"])
    assert "not a paper figure" in drawn[-1]["suptitle"]
    assert len(drawn) == 8
