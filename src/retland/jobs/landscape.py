"""E3 (paper Sec. 3, Fig. 1; A.2, A.12, Fig. 27): landscape maps around a pair of policies
of similar mean, one noisy and one smooth; the figure rule only reads the file written here.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .. import provenance
from ..provenance import write_csv
from ..base.atomic import atomic_path
from ..base.checkpoints import set_attrs
from ..runtime import log, render_frames, setup_jax
from .sources import Sources, sample_key


LANDSCAPE_FORMAT = "retland.landscape/1"


def landscape_job(*, stats_csv: str, env: str, train_pattern: str, post_update_pattern: str,
                  landscape: dict, post_update: dict, render: dict, out_h5: str, out_csv: str,
                  config_record: dict | None = None) -> None:
    """E3: the landscape maps, gait frames and post-update histograms of the noisy and the
    smooth policy of ``env`` (``analyses.landscape.select_pair``), one HDF5 file for Fig. 1 / 27
    and the pair as a table."""
    setup_jax(render=True)
    import h5py

    from ..analyses.landscape import (N_LEVELS, chosen_pair, evaluate_points, gait_frame_steps, grid_axes, grid_points,
                                     make_landscape_evaluator, make_update, select_pair, two_updates)
    from ..base.checkpoints import read_post_update
    from ..config import landscape_algo

    t_job = time.time()
    stats = pd.read_csv(stats_csv)
    land_algo = landscape_algo(landscape["algo"], stats.loc[stats["env"] == env, "algo"].unique())
    if landscape.get("pair"):  # chosen in the config
        pair = chosen_pair(stats[stats["algo"] == land_algo], env, landscape["pair"])
    else:
        pair = select_pair(stats[stats["algo"] == land_algo], env,
                           mean_tol=float(landscape.get("mean_tolerance", 0.1)))
    log(f"[landscape] {env}: {land_algo} pair chosen by {pair['reason']}")
    if pair["fallback"]:
        log(f"[landscape] WARNING {env}: {pair['fallback']}")
    for role in ("noisy", "smooth"):
        r = pair[role]
        log(f"[landscape] {role}: {r['algo']} seed {r['seed']} step {r['step']}: mean {r['mean']:.4g}, "
            f"std {r['std']:.4g}, LTP {r['ltp']:.4g}")
    G, horizon, chunk = int(landscape["grid"]), int(post_update["horizon"]), int(post_update["chunk_size"])
    axes = grid_axes(G, float(landscape["extent"]), float(landscape["zoom"]))
    sources = Sources(train_pattern)
    evaluators, updates, results, renderer = {}, {}, {}, None
    for role in ("noisy", "smooth"):
        row = pair[role]
        algo, seed, step = row["algo"], int(row["seed"]), int(row["step"])
        src = sources(algo, seed)
        state, (lo, hi) = src.checkpoint(step)
        if algo not in evaluators:
            updates[algo] = make_update(src)
            evaluators[algo] = make_landscape_evaluator(src, horizon)
        thetas = two_updates(updates[algo], src.agent, state, src.replay, lo, hi,
                             sample_key(int(landscape["seed"]), seed, step))
        start = src.env.reference_state()
        # theta0, theta', theta'' and every level's grid: one list of points, one batch shape
        pts = np.concatenate([np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])] + [grid_points(ax, ax) for ax in axes])
        log(f"[landscape] {role}: {algo} seed {seed} step {step}; {len(axes)} levels of {G}x{G} points, "
            f"a, b within +-{[float(ax[-1]) for ax in axes]}")
        r, l, poses = evaluate_points(evaluators[algo], thetas, pts, start, chunk, log, f"landscape {role}")
        refs = r[:3]
        rets = list(r[3:].reshape(len(axes), G, G))
        lens = list(l[3:].reshape(len(axes), G, G))
        ret0, len0 = float(r[0]), int(l[0])  # point 0 is theta0: its poses are the gait
        steps = gait_frame_steps(len0, int(landscape["frames"]))
        frames, renderer = render_frames(src.env, poses, steps, render)
        pu = read_post_update(post_update_pattern.format(algo=algo, seed=seed, step=step))[0]
        results[role] = dict(row=row, axes=np.stack(axes), returns=np.stack(rets), lengths=np.stack(lens),
                             refs=refs, frames=frames, frame_steps=steps, post_update_returns=pu,
                             gait_return=float(ret0), gait_length=int(len0))
        log(f"[landscape] {role}: R(theta0)={refs[0]:.1f}, R(theta')={refs[1]:.1f}, R(theta'')={refs[2]:.1f}; "
            f"level-0 map min {rets[0].min():.1f} max {rets[0].max():.1f}")
    prov = provenance.record(config_record, backend=src.attrs["backend"])
    with atomic_path(out_h5) as tmp:
        with h5py.File(tmp, "w") as f:
            set_attrs(f, {"format": LANDSCAPE_FORMAT, "env": env, "grid": G, "extent": landscape["extent"],
                          "zoom": landscape["zoom"], "levels": N_LEVELS, "horizon": horizon,
                          "update_seed": landscape["seed"], "renderer": renderer, "criterion": pair["criterion"],
                          "selection": pair["reason"], "fallback": pair["fallback"],
                          "mean_tol": pair["mean_tol"], "provenance": prov})
            for role, res in results.items():
                g = f.create_group(role)
                row = res["row"]
                set_attrs(g, {k: (row[k].item() if hasattr(row[k], "item") else row[k])
                              for k in ("algo", "seed", "step", "mean", "std", "ltp", "mode")})
                set_attrs(g, {"return_theta0": res["refs"][0], "return_theta1": res["refs"][1],
                              "return_theta2": res["refs"][2], "gait_return": res["gait_return"],
                              "gait_length": res["gait_length"]})
                for k in ("axes", "returns", "lengths", "frames", "frame_steps", "post_update_returns"):
                    g.create_dataset(k, data=res[k])
            f.attrs["complete"] = True
    rows = [{"role": role, **{k: res["row"][k] for k in ("algo", "seed", "step", "mean", "std", "ltp", "mode")},
             "return_theta0": res["refs"][0], "criterion": pair["criterion"], "reason": pair["reason"],
             "fallback": pair["fallback"]}
            for role, res in results.items()]
    write_csv(pd.DataFrame(rows), out_csv, prov)
    log(f"[landscape] {env} done in {time.time() - t_job:.1f}s (renderer: {renderer})")


def fig01_job(*, landscape_h5: str, env: str, out_png: str, out_pdf: str, out_png27: str, out_pdf27: str,
              dpi: int) -> None:
    """Paper Fig. 1 (map, histograms, gait frames) and Fig. 27 (maps at three scales)."""
    from ..plots.landscape import fig01_landscape, fig27_multiscale, read_landscape

    data = read_landscape(landscape_h5)
    fig01_landscape(data, env, out_png, out_pdf, dpi=dpi)
    fig27_multiscale(data, env, out_png27, out_pdf27, dpi=dpi)
