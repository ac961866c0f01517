"""``retland``: the paper's lenses on a policy trained elsewhere, from the command line
(docs/your-own-agent.md, "Command line").

    retland import --name NAME --env TASK --format {brax,flax,orbax} --apply MODULE:FUNCTION \\
                   --checkpoint STEP=PATH [--checkpoint ...] --out TRAIN.h5
    retland post-update TRAIN.h5 --step K --out DIR
    retland landscape TRAIN.h5 --step K [--step-b K2 [--train-b B.h5]] --out DIR
    retland interpolate A.h5 --step-a K B.h5 --step-b K --out DIR

``import`` writes a training file (``retland.train/1``) of the ``external`` agent from the
checkpoints (:func:`retland.external.import_checkpoints`); the other commands read any
training file (an imported one or one the workflow trained) and write what the
workflow's jobs write: post-update files, statistics, landscape and interpolation tables,
and the paper's figures. Progress goes to stderr, a summary of what was written to stdout.
Every output is written atomically and carries its provenance (an HDF5 attribute, or a
``<name>.provenance.json`` beside a table or figure). Bad inputs (a missing or foreign
file, an unknown step, an apply function that cannot be imported, a policy that does not
fit the task) end with one line ``retland <command>: error: ...`` and exit status 2,
before any output is written.

The apply function's module is imported from ``PYTHONPATH`` or the current directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys


class InputError(ValueError):
    """A bad input of a command (exit status 2)."""


def _bad_inputs() -> tuple:
    from .base.checkpoints import CheckpointError

    # OSError: a file or directory that cannot be read or written (missing, permissions, full disk)
    return (ValueError, OSError, ImportError, CheckpointError)


def _record(args) -> dict:
    """The config part of every output's provenance: the command and its arguments."""
    return {"command": f"retland {args.command}",
            "arguments": {k: v for k, v in sorted(vars(args).items()) if k not in ("func", "command")}}


def _json_arg(text: str | None, flag: str) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{flag}: not JSON ({e.msg} at column {e.colno}): {text!r}") from None
    if not isinstance(value, dict):
        raise InputError(f"{flag}: must be a JSON object of keyword arguments, got {text!r}")
    return value


def _sidecar(path: str, prov: dict) -> None:
    """The provenance of a figure, beside it (``<stem>.provenance.json``)."""
    from .base.atomic import write_text
    from .provenance import sidecar_path, to_json

    write_text(sidecar_path(path), to_json(prov) + "\n")


def _train_info(path: str, steps) -> dict:
    """A training file's attributes, refusing a missing or foreign file and unknown steps."""
    from .base.checkpoints import TrainFile

    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    with TrainFile(path) as tf:
        attrs, have = tf.attrs, tf.checkpoint_steps
    for step in steps:
        if int(step) not in have:
            raise InputError(f"{path}: no checkpoint at step {step}; it has steps {have}")
    return attrs


def _out_dir(path: str) -> str:
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"--out {path}: exists and is not a directory")
    return path


def _log(msg: str) -> None:
    from .runtime import log

    log(msg)


# ---------------------------------------------------------------------------------------
# retland import
# ---------------------------------------------------------------------------------------
def _checkpoints(items) -> dict:
    out = {}
    for item in items or ():
        step, sep, path = item.partition("=")
        try:
            step = int(step)
        except ValueError:
            step = None
        if not sep or step is None or not path:
            raise InputError(f"--checkpoint {item!r}: expected STEP=PATH (an environment step, then the file)")
        if step in out:
            raise InputError(f"--checkpoint: step {step} given twice")
        if not os.path.exists(path):
            raise InputError(f"--checkpoint {item}: {path}: no such file or directory")
        out[step] = path
    if not out:
        raise InputError("no --checkpoint STEP=PATH given")
    return out


def cmd_import(args) -> list[str]:
    from .external import import_checkpoints
    from .runtime import setup_jax

    checkpoints = _checkpoints(args.checkpoint)
    apply_kwargs = _json_arg(args.apply_kwargs, "--apply-kwargs")
    env_kwargs = _json_arg(args.env_kwargs, "--env-kwargs")
    if os.path.isdir(args.out):
        raise InputError(f"--out {args.out}: is a directory (give the training file's name, e.g. seed0.h5)")
    setup_jax()
    summary = import_checkpoints(
        name=args.name, env=args.env, fmt=args.format, apply=args.apply, checkpoints=checkpoints, seed=args.seed,
        out_h5=args.out, apply_kwargs=apply_kwargs, perturb=args.perturb, noise_scale=args.noise_scale,
        backend=args.backend, episode_length=args.episode_length, env_kwargs=env_kwargs,
        eval_horizon=args.eval_horizon, config_record=_record(args), log=_log)
    return [f"{args.out}: {args.name} on {args.env}, steps {summary['steps']}, deterministic returns "
            + ", ".join(f"{r:.4g}" for r in summary["returns"])]


# ---------------------------------------------------------------------------------------
# retland post-update
# ---------------------------------------------------------------------------------------
def _check_sizes(args, names) -> None:
    for name in names:
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")


def _check_fractions(args, names) -> None:
    """Options that must lie in (0, 1]."""
    for name in names:
        value = getattr(args, name)
        if not 0 < value <= 1:
            raise InputError(f"--{name.replace('_', '-')} must lie in (0, 1], got {value}")


def cmd_post_update(args) -> list[str]:
    import pandas as pd

    from . import provenance
    from .base.checkpoints import read_post_update
    from .jobs.post_update import post_update_job, post_update_stats_job
    from .runtime import setup_jax

    _check_sizes(args, ("n_samples", "horizon", "chunk_size", "n_boot"))
    _check_fractions(args, ("ci", "cvar_alpha"))
    steps = sorted(set(args.step))
    attrs = _train_info(args.train, steps)
    out = _out_dir(args.out)
    setup_jax()
    record = _record(args)
    h5s = [os.path.join(out, f"step{k}.h5") for k in steps]
    post_update_job(train_path=args.train, seed=int(attrs["seed"]), steps=steps,
                    post_update={"n_samples": args.n_samples, "horizon": args.horizon, "chunk_size": args.chunk_size,
                                 "sample_seed": args.sample_seed},
                    out_h5=h5s, config_record=record)
    csv = os.path.join(out, "post_update.csv")
    post_update_stats_job(post_update_paths=h5s, stats={"n_boot": args.n_boot, "ci": args.ci, "seed": args.stats_seed,
                                                        "cvar_alpha": args.cvar_alpha},
                          out_csv=csv, config_record=record)
    png = os.path.join(out, "fig02_histograms.png")
    from .plots.post_update import fig02_histograms

    algo = str(attrs["algo"])
    fig02_histograms([(f"{algo.upper()} seed {attrs['seed']} step {k}", read_post_update(p)[0])
                      for k, p in zip(steps, h5s)], str(attrs["env"]), png, None, dpi=args.dpi)
    _sidecar(png, provenance.record(record, backend=attrs["backend"]))
    stats = pd.read_csv(csv)
    lines = [f"{p}: {algo} on {attrs['env']} seed {attrs['seed']} step {int(r['step'])}: N={int(r['n'])}, mean "
             f"{r['mean']:.4g}, std {r['std']:.4g}, LTP {r['ltp']:.3g}, CVaR {r[f'cvar_{args.cvar_alpha:g}']:.4g}"
             for p, (_, r) in zip(h5s, stats.sort_values("step").iterrows())]
    return lines + [f"{csv}: statistics", f"{png}: Fig. 2 histograms"]


# ---------------------------------------------------------------------------------------
# retland landscape
# ---------------------------------------------------------------------------------------
def _single_figure(role: dict, env: str, out_png: str, dpi: int) -> None:
    """Fig. 1's row for one policy: its map, its post-update histogram, its gait."""
    import matplotlib.pyplot as plt
    import numpy as np

    from .plots import _strip, save_figure
    from .plots.landscape import _heatmap, policy_stats

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.9), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1.0, 1.0, 1.9]})
    label = f"{str(role['algo']).upper()} seed {role['seed']} step {role['step']}"
    _heatmap(axes[0], role["axes"][0], role["returns"][0], fig, f"{label}\nreturn landscape")
    axes[0].legend(loc="upper right", fontsize=7, framealpha=0.7)
    r = np.asarray(role["post_update_returns"], float)
    r = r[np.isfinite(r)]
    axes[1].hist(r, bins=int(min(50, max(10, r.size // 5))), color="#4c72b0", alpha=0.85)
    if r.size:
        axes[1].axvline(r.mean(), color="#ff7f0e", linewidth=2, label=f"mean {r.mean():.4g}")
        axes[1].legend(fontsize=8, frameon=False)
    axes[1].set_title(f"post-update returns (N={r.size})\n{policy_stats(role)}", fontsize=9)
    axes[1].set_xlabel("Post-update return")
    axes[1].set_ylabel("Count")
    axes[2].imshow(_strip(role["frames"]))
    axes[2].set_axis_off()
    axes[2].set_title(f"gait of $\\theta_0$ from $s_I$ (steps {', '.join(str(int(s)) for s in role['frame_steps'])}; "
                      f"return {float(role['gait_return']):.4g})", fontsize=9)
    fig.suptitle(f"Return landscape around one policy, {env}: R(theta0 + a (theta' - theta0) + b (theta'' - theta0))",
                 fontsize=10)
    save_figure(fig, out_png, None, dpi=dpi)


def _label_pair(rows: list[dict], env: str) -> tuple[dict, dict]:
    """Roles of two policies as the workflow's Fig. 1 pair (``analyses.landscape.select_pair``):
    "smooth" the one of lower post-update std; returns ({role: index}, selection)."""
    import pandas as pd

    from .analyses.landscape import select_pair

    df = pd.DataFrame([{k: r[k] for k in ("env", "algo", "seed", "step", "mean", "std", "ltp", "mode")} | {"i": i}
                       for i, r in enumerate(rows)])
    try:
        pair = select_pair(df, env)
        roles = {"noisy": int(pair["noisy"]["i"]), "smooth": int(pair["smooth"]["i"])}
        sel = {k: pair[k] for k in ("criterion", "reason", "fallback", "mean_tol")}
    except ValueError as e:  # a mean that is not positive: label by std alone, and say so
        std = df["std"].to_numpy(float)
        smooth = 1 if std[1] < std[0] else 0
        roles = {"noisy": 1 - smooth, "smooth": smooth}
        sel = {"criterion": "std", "reason": "the lower post-update std is 'smooth'",
               "fallback": f"not a Fig. 1 pair ({e}): labelled by std alone", "mean_tol": float("nan")}
    return roles, sel


def cmd_landscape(args) -> list[str]:
    import numpy as np

    from . import provenance
    from . import stats as S
    from .runtime import render_frames, setup_jax

    _check_sizes(args, ("grid", "horizon", "n_samples", "chunk_size", "frames", "width", "height"))
    if args.grid < 2:
        raise InputError(f"--grid must be >= 2, got {args.grid}")
    if args.extent <= 0 or args.zoom <= 1:
        raise InputError(f"--extent must be > 0 and --zoom > 1, got {args.extent}, {args.zoom}")
    if args.train_b is not None and args.step_b is None:
        raise InputError("--train-b needs --step-b (the second policy's step)")
    policies = [(args.train, args.step)]
    if args.step_b is not None:
        policies.append((args.train_b or args.train, args.step_b))
    infos = {path: _train_info(path, [s for p, s in policies if p == path]) for path, _ in policies}
    if len(policies) == 2:
        (pa, sa), (pb, sb) = policies
        if os.path.abspath(pa) == os.path.abspath(pb) and sa == sb:
            raise InputError(f"the two policies are one ({pa} step {sa})")
        a, b = infos[pa], infos[pb]
        if (a["env"], a.get("env_kwargs", "{}")) != (b["env"], b.get("env_kwargs", "{}")):
            raise InputError(f"{pa} is a policy of {a['env']}, {pb} of {b['env']}: one landscape file holds one task")
    out = _out_dir(args.out)
    setup_jax(render=True)
    from .analyses.landscape import (evaluate_points, gait_frame_steps, grid_axes, grid_points,
                                     make_landscape_evaluator, make_update, two_updates)
    from .analyses.post_update import make_estimator, post_update_returns
    from .base.envs import is_host_stepped
    from .jobs.sources import CheckpointSource, sample_key

    sources = {path: CheckpointSource(path) for path in infos}
    for path, src in sources.items():
        if is_host_stepped(src.env):
            raise InputError(f"{path}: retland landscape draws Brax tasks (gait frames); {src.attrs['env']} "
                             "is stepped on the host")
    G, horizon = int(args.grid), int(args.horizon)
    axes = grid_axes(G, float(args.extent), float(args.zoom))
    chunk = int(args.chunk_size)
    compiled: dict = {}
    rows, renderer, starts = [], None, {}
    pts = np.concatenate([np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])] + [grid_points(ax, ax) for ax in axes])
    for path, step in policies:
        src = sources[path]
        a = src.attrs
        seed = int(a["seed"])
        if path not in compiled:
            compiled[path] = (make_update(src), make_landscape_evaluator(src, horizon),
                              make_estimator(src, horizon, min(chunk, args.n_samples)))
            starts[path] = src.env.reference_state()
        update, evaluator, estimator = compiled[path]
        state, (lo, hi) = src.checkpoint(step)
        start = starts[path]
        _log(f"[landscape] {a['env']}/{a['algo']} seed {seed} step {step}: {len(axes)} levels of {G}x{G} points, "
             f"horizon {horizon}")
        thetas = two_updates(update, src.agent, state, src.replay, lo, hi, sample_key(args.seed, seed, step))
        r, l, poses = evaluate_points(evaluator, thetas, pts, start, chunk, _log, "landscape")
        steps = gait_frame_steps(int(l[0]), int(args.frames))
        frames, renderer = render_frames(src.env, poses, steps, {"width": args.width, "height": args.height})
        pu, _ = post_update_returns(src, state, sample_key(args.sample_seed, seed, step), replay=src.replay, lo=lo,
                                    hi=hi, n_samples=args.n_samples, horizon=horizon, chunk_size=chunk,
                                    start_state=start, log=_log, estimator=estimator)
        st = S.point_stats(pu)
        rows.append({"env": a["env"], "algo": a["algo"], "seed": seed, "step": int(step), "mean": st["mean"],
                     "std": st["std"], "ltp": st["ltp"], "mode": st["mode"], "axes": np.stack(axes),
                     "returns": np.stack(list(r[3:].reshape(len(axes), G, G))),
                     "lengths": np.stack(list(l[3:].reshape(len(axes), G, G))), "refs": r[:3],
                     "frames": frames, "frame_steps": steps, "post_update_returns": pu,
                     "gait_return": float(r[0]), "gait_length": int(l[0])})
    if len(rows) == 2:
        roles, sel = _label_pair(rows, str(rows[0]["env"]))
    else:
        roles, sel = {"policy": 0}, {"criterion": "", "reason": "one policy", "fallback": "", "mean_tol": float("nan")}
    record = _record(args)
    prov = provenance.record(record, backend=sources[args.train].attrs["backend"])
    h5 = os.path.join(out, "landscape.h5")
    _write_landscape(h5, rows, roles, sel, prov, args=args, renderer=renderer)
    env = str(rows[0]["env"])
    lines = [f"{h5}: " + "; ".join(f"{role} {rows[i]['algo']} seed {rows[i]['seed']} step {rows[i]['step']}: "
                                   f"R(theta0) {rows[i]['refs'][0]:.4g}, post-update mean {rows[i]['mean']:.4g} "
                                   f"std {rows[i]['std']:.4g}" for role, i in roles.items())]
    if len(rows) == 2:
        from .plots.landscape import fig01_landscape, fig27_multiscale, read_landscape

        data = read_landscape(h5)
        png1, png27 = os.path.join(out, "fig01_landscape.png"), os.path.join(out, "fig27_multiscale.png")
        fig01_landscape(data, env, png1, None, dpi=args.dpi)
        fig27_multiscale(data, env, png27, None, dpi=args.dpi)
        pngs = [png1, png27]
        if sel["fallback"]:
            lines.append(f"pair: {sel['fallback']}")
    else:
        png1 = os.path.join(out, "landscape.png")
        _single_figure(rows[0], env, png1, args.dpi)
        pngs = [png1]
    for png in pngs:
        _sidecar(png, prov)
    return lines + [f"{png}: figure" for png in pngs]


def _write_landscape(path: str, rows, roles: dict, sel: dict, prov: dict, *, args, renderer) -> None:
    """The workflow's landscape file (``retland.landscape/1``, ``jobs.landscape``): groups
    ``noisy`` and ``smooth`` for a pair (``plots.landscape.read_landscape`` reads it), one
    group ``policy`` for a single policy."""
    import h5py

    from .analyses.landscape import N_LEVELS
    from .base.atomic import atomic_path
    from .base.checkpoints import set_attrs
    from .jobs.landscape import LANDSCAPE_FORMAT

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            set_attrs(f, {"format": LANDSCAPE_FORMAT, "env": str(rows[0]["env"]), "grid": int(args.grid),
                          "extent": float(args.extent), "zoom": float(args.zoom), "levels": N_LEVELS,
                          "horizon": int(args.horizon), "update_seed": int(args.seed), "renderer": renderer,
                          "criterion": sel["criterion"], "selection": sel["reason"], "fallback": sel["fallback"],
                          "mean_tol": float(sel["mean_tol"]), "n_samples": int(args.n_samples),
                          "sample_seed": int(args.sample_seed), "provenance": prov})
            for role, i in roles.items():
                r = rows[i]
                g = f.create_group(role)
                set_attrs(g, {"algo": str(r["algo"]), "seed": int(r["seed"]), "step": int(r["step"]),
                              "mean": float(r["mean"]), "std": float(r["std"]), "ltp": float(r["ltp"]),
                              "mode": float(r["mode"]), "return_theta0": float(r["refs"][0]),
                              "return_theta1": float(r["refs"][1]), "return_theta2": float(r["refs"][2]),
                              "gait_return": r["gait_return"], "gait_length": r["gait_length"]})
                for k in ("axes", "returns", "lengths", "frames", "frame_steps", "post_update_returns"):
                    g.create_dataset(k, data=r[k])
            f.attrs["complete"] = True


# ---------------------------------------------------------------------------------------
# retland interpolate
# ---------------------------------------------------------------------------------------
def cmd_interpolate(args) -> list[str]:
    import jax
    import numpy as np
    import pandas as pd

    from . import provenance
    from .provenance import write_csv
    from .runtime import setup_jax

    _check_sizes(args, ("n_perturbations", "horizon", "chunk_size"))
    _check_fractions(args, ("fraction",))
    if args.sigma is not None and not args.sigma >= 0:
        raise InputError(f"--sigma must be >= 0, got {args.sigma}")
    if args.n_points < 3:
        raise InputError(f"--n-points must be >= 3 (two endpoints and a point between), got {args.n_points}")
    info_a = _train_info(args.train_a, [args.step_a])
    info_b = _train_info(args.train_b, [args.step_b])
    same_file = os.path.samefile(args.train_a, args.train_b)
    if same_file and args.step_a == args.step_b:
        raise InputError(f"A and B are one policy ({args.train_a} step {args.step_a})")
    if (info_a["env"], info_a.get("env_kwargs", "{}")) != (info_b["env"], info_b.get("env_kwargs", "{}")):
        raise InputError(f"{args.train_a} is a policy of {info_a['env']}, {args.train_b} of {info_b['env']}: "
                         "a path runs between policies of one task")
    out = _out_dir(args.out)
    setup_jax()
    from .analyses.interpolation import make_path_evaluator, relative_mean_gap
    from .api import path_table
    from .jobs.sources import CheckpointSource

    src_a = CheckpointSource(args.train_a)
    src_b = src_a if same_file else CheckpointSource(args.train_b)
    theta_a = src_a.agent.policy_params(src_a.checkpoint(args.step_a)[0])
    theta_b = src_b.agent.policy_params(src_b.checkpoint(args.step_b)[0])
    ta, tb = (jax.tree_util.tree_flatten_with_path(t) for t in (theta_a, theta_b))
    if ta[1] != tb[1] or any(np.shape(x) != np.shape(y) for (_, x), (_, y) in zip(ta[0], tb[0])):
        raise InputError(f"{args.train_a} step {args.step_a} and {args.train_b} step {args.step_b}: the policies "
                         "have different architectures (parameter trees); a path needs one")
    sigma = float(args.sigma if args.sigma is not None else getattr(src_a.cfg, "noise_scale", 3e-4))
    env, algo = str(info_a["env"]), str(info_a["algo"])
    _log(f"[interpolate] {env}: {info_a['algo']} seed {info_a['seed']} step {args.step_a} <-> {info_b['algo']} seed "
         f"{info_b['seed']} step {args.step_b}: {args.n_points} points x (1 + {args.n_perturbations}) rollouts of "
         f"{args.horizon} steps, sigma {sigma:g}")
    evaluator = make_path_evaluator(src_a, int(args.horizon), int(args.chunk_size))
    table, btp = path_table(evaluator, theta_a, theta_b, start=src_a.env.reference_state(), n_points=args.n_points,
                            n_perturbations=args.n_perturbations, sigma=sigma, fraction=args.fraction,
                            key=jax.random.PRNGKey(args.seed), chunk_size=args.chunk_size)
    if hasattr(evaluator, "rollout"):
        evaluator.rollout.close()
    kind = "same_run" if same_file else "different_run"
    ids = {"env": env, "kind": kind, "seed_a": int(info_a["seed"]), "step_a": int(args.step_a),
           "seed_b": int(info_b["seed"]), "step_b": int(args.step_b)}
    ends = table.set_index("alpha")
    mean_a, mean_b = float(ends["purd_mean"].iloc[-1]), float(ends["purd_mean"].iloc[0])
    gap = float(relative_mean_gap(mean_a, mean_b))
    paths = pd.concat([pd.DataFrame({**ids, "pair": 0}, index=table.index)[
                           ["env", "kind", "pair", "seed_a", "step_a", "seed_b", "step_b"]], table], axis=1)
    paths = paths.assign(mean_a=mean_a, mean_b=mean_b, std_a=float(table["purd_std"].iloc[-1]),
                         std_b=float(table["purd_std"].iloc[0]), mean_gap=gap,
                         similar_mean=bool(gap <= args.mean_tolerance), sigma=sigma, algo_a=algo,
                         algo_b=str(info_b["algo"]))
    record = _record(args)
    prov = provenance.record(record, backend=info_a["backend"], env=env)
    csv, btp_csv = os.path.join(out, "paths.csv"), os.path.join(out, "btp.csv")
    write_csv(paths, csv, prov)
    write_csv(pd.DataFrame([{**ids, **btp, "fraction": args.fraction}]), btp_csv, prov)
    from .plots.interpolation import fig05_interpolation, fig08_interpolation_purd

    png5, png8 = os.path.join(out, "fig05_interpolation.png"), os.path.join(out, "fig08_interpolation_purd.png")
    fig05_interpolation(paths, env, png5, None, dpi=args.dpi)
    fig08_interpolation_purd(paths, env, png8, None, dpi=args.dpi)
    for png in (png5, png8):
        _sidecar(png, prov)
    return [f"{btp_csv}: {kind} path, below-threshold proportion {btp['btp']:.4g} (endpoint returns "
            f"{btp['return_a']:.4g}, {btp['return_b']:.4g}; below {args.fraction:g} x the smaller)",
            f"{csv}: {args.n_points} points", f"{png5}: Fig. 5", f"{png8}: Fig. 8"]


# ---------------------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="retland", description="The return-landscape lenses of Rahn et al. (2023) on a policy trained "
        "elsewhere: import its checkpoints, then post-update distributions, landscape maps, interpolation paths.",
        epilog="docs/your-own-agent.md describes every command and its outputs.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("import", help="checkpoints trained elsewhere -> a training file (retland.train/1)",
                       description="Write a training file of the external agent from checkpoints trained elsewhere "
                       "(retland.external.import_checkpoints); the policy is checked against the task first.")
    p.add_argument("--name", required=True, help="your name for the agent (an identifier; 'algo' in outputs)")
    p.add_argument("--env", required=True, help="registered task name (hopper, walker2d, quadruped-walk, ...)")
    p.add_argument("--format", required=True, choices=("brax", "flax", "orbax"), help="checkpoint format")
    p.add_argument("--apply", required=True, metavar="MODULE:FUNCTION",
                   help="the policy: function(params, obs, **apply_kwargs) -> action")
    p.add_argument("--apply-kwargs", default="", metavar="JSON", help="keyword arguments of the apply function")
    p.add_argument("--perturb", default="", metavar="REGEX",
                   help="leaves (path names a/b/c) the Gaussian post-update changes; default every floating leaf")
    p.add_argument("--noise-scale", type=float, default=3e-4, help="sigma of the Gaussian post-update (3e-4)")
    p.add_argument("--seed", type=int, default=0, help="the training run's seed (its label in outputs)")
    p.add_argument("--checkpoint", action="append", metavar="STEP=PATH",
                   help="a checkpoint and its environment step (repeat for several)")
    p.add_argument("--backend", default="spring", help="Brax physics backend (spring)")
    p.add_argument("--episode-length", type=int, default=1000)
    p.add_argument("--env-kwargs", default="", metavar="JSON", help="task variant (docs/task-variants.md)")
    p.add_argument("--eval-horizon", type=int, default=None,
                   help="horizon of the learning curve's deterministic returns (default the episode length)")
    p.add_argument("--out", required=True, metavar="TRAIN.h5")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("post-update", help="post-update return distributions, statistics, Fig. 2 histograms",
                       description="N post-update returns of checkpoints of a training file (the workflow's E2 job): "
                       "DIR/step<K>.h5, DIR/post_update.csv and DIR/fig02_histograms.png.")
    p.add_argument("train", metavar="TRAIN.h5")
    p.add_argument("--step", type=int, action="append", required=True, help="checkpoint step (repeat for several)")
    p.add_argument("--n-samples", type=int, default=1000)
    p.add_argument("--horizon", type=int, default=1000)
    p.add_argument("--chunk-size", type=int, default=100, help="samples simulated at once")
    p.add_argument("--sample-seed", type=int, default=0)
    _stats_args(p)
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=cmd_post_update)

    p = sub.add_parser("landscape", help="landscape maps around one policy or a pair (Fig. 1, 27)",
                       description="R(theta0 + a (theta' - theta0) + b (theta'' - theta0)) around a checkpoint "
                       "(theta', theta'': two post-updates) at three scales, its post-update histogram and gait: "
                       "DIR/landscape.h5 (retland.landscape/1) and a figure. With --step-b, two policies labelled "
                       "noisy and smooth as Fig. 1's pair: DIR/fig01_landscape.png and DIR/fig27_multiscale.png.")
    p.add_argument("train", metavar="TRAIN.h5")
    p.add_argument("--step", type=int, required=True)
    p.add_argument("--step-b", type=int, default=None, help="a second policy's step (of --train-b, else TRAIN.h5)")
    p.add_argument("--train-b", default=None, metavar="B.h5", help="the second policy's training file")
    p.add_argument("--grid", type=int, default=9, help="points per axis (9)")
    p.add_argument("--extent", type=float, default=3.0, help="a, b in [-extent, extent] (3)")
    p.add_argument("--zoom", type=float, default=4.0, help="Fig. 27's windows shrink by this twice (4)")
    p.add_argument("--horizon", type=int, default=1000)
    p.add_argument("--n-samples", type=int, default=1000, help="post-update samples of the histogram")
    p.add_argument("--chunk-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0, help="seed of the two post-updates giving the directions")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the post-update samples (as post-update's)")
    p.add_argument("--frames", type=int, default=5, help="gait frames")
    p.add_argument("--width", type=int, default=200, help="frame width")
    p.add_argument("--height", type=int, default=200, help="frame height")
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=cmd_landscape)

    p = sub.add_parser("interpolate", help="returns along the path between two policies, BTP (Fig. 5, 6, 8)",
                       description="theta = a theta_a + (1 - a) theta_b: one deterministic rollout and the mean of "
                       "Gaussian perturbations per point, and the below-threshold proportion: DIR/paths.csv, "
                       "DIR/btp.csv, DIR/fig05_interpolation.png, DIR/fig08_interpolation_purd.png.")
    p.add_argument("train_a", metavar="A.h5")
    p.add_argument("--step-a", type=int, required=True)
    p.add_argument("train_b", metavar="B.h5")
    p.add_argument("--step-b", type=int, required=True)
    p.add_argument("--n-points", type=int, default=25, help="points on the path, both endpoints included (25)")
    p.add_argument("--n-perturbations", type=int, default=10, help="Gaussian perturbations per point (10)")
    p.add_argument("--sigma", type=float, default=None,
                   help="perturbation std (default: A's noise_scale for an imported policy, else 3e-4)")
    p.add_argument("--fraction", type=float, default=0.1, help="BTP threshold: fraction of the smaller endpoint")
    p.add_argument("--mean-tolerance", type=float, default=0.1,
                   help="endpoints of similar mean: relative gap at most this (the paths table's similar_mean)")
    p.add_argument("--horizon", type=int, default=1000)
    p.add_argument("--chunk-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0, help="seed of the perturbations")
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=cmd_interpolate)
    return ap


def _stats_args(p) -> None:
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of the statistics")
    p.add_argument("--ci", type=float, default=0.95)
    p.add_argument("--cvar-alpha", type=float, default=0.1)
    p.add_argument("--stats-seed", type=int, default=0)


def main(argv=None) -> int:
    """The ``retland`` console script; returns the exit status (2: bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    if os.getcwd() not in sys.path:  # apply functions in the current directory, as python -m finds them
        sys.path.append(os.getcwd())
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the jobs' progress lines
            lines = args.func(args)
    except KeyboardInterrupt:
        print(f"retland {args.command}: interrupted", file=sys.stderr)
        return 130
    except _bad_inputs() as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"retland {args.command}: error: {msg}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
