"""Job entry points of E3-E5 (paper Sec. 3, Fig. 1, 3, 4; A.2, A.4, A.8, A.11, A.12: Fig. 10, 23, 27).

Each job reads the statistics table, post-update files and training files of a run,
computes what its figures need and writes it atomically with provenance; the plot
rules only read these files (restyling never re-simulates). One job per environment
per experiment, each tracing few jitted functions.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from . import provenance
from .provenance import write_csv
from .base.atomic import atomic_path
from .jobs import log, sample_key, setup_jax

LANDSCAPE_FORMAT = "retland.landscape/1"
FAILURES_FORMAT = "retland.failures/1"


def _h5_attrs(obj, attrs: dict) -> None:
    for k, v in attrs.items():
        obj.attrs[k] = json.dumps(v, default=str) if isinstance(v, (dict, list, tuple)) else v


class _Sources:
    """Training files opened once each (CheckpointSource is costly: it loads the replay)."""

    def __init__(self, pattern: str):
        self.pattern, self.cache = pattern, {}

    def __call__(self, algo: str, seed: int):
        from .jobs import CheckpointSource

        path = self.pattern.format(algo=algo, seed=int(seed))
        if path not in self.cache:
            self.cache[path] = CheckpointSource(path)
        return self.cache[path]


def _frames(env, poses, steps, render_cfg: dict):
    from .base.render import poses_at, render

    return render(env.sys, poses_at(poses, steps), render_cfg["width"], render_cfg["height"], log=log)


# --- E3: landscape maps (Fig. 1, 27) ---------------------------------------------------

def landscape_job(stats_csv: str, env_name: str, train_pattern: str, post_update_pattern: str,
                  landscape: dict, post_update: dict, render_cfg: dict, out_h5: str, out_csv: str,
                  config_record: dict | None = None) -> None:
    setup_jax(render=True)
    import h5py

    from .analyses.landscape import (N_LEVELS, evaluate_points, gait_frame_steps, grid_axes, grid_points,
                                     make_landscape_evaluator, make_update, select_pair, two_updates)
    from .base.checkpoints import read_post_update

    t_job = time.time()
    stats = pd.read_csv(stats_csv)
    pair = select_pair(stats[stats["algo"] == landscape["algo"]], env_name)
    log(f"[landscape] {env_name}: pair chosen by {pair['reason']}")
    G, horizon, chunk = int(landscape["grid"]), int(post_update["horizon"]), int(post_update["chunk_size"])
    axes = grid_axes(G, float(landscape["extent"]), float(landscape["zoom"]))
    sources = _Sources(train_pattern)
    evaluators, updates, results, renderer = {}, {}, {}, None
    for role in ("noisy", "smooth"):
        row = pair[role]
        algo, seed, step = row["algo"], int(row["seed"]), int(row["step"])
        src = sources(algo, seed)
        state, (lo, hi) = src.checkpoint(step)
        policy = src.agent.make_policy(src.env.spec.act_dim, src.cfg)
        if algo not in evaluators:
            updates[algo] = make_update(src.agent, src.env, src.cfg)
            evaluators[algo] = make_landscape_evaluator(src.env, policy, horizon)
        theta0, theta1, theta2 = two_updates(updates[algo], src.agent, state, src.replay, lo, hi,
                                             sample_key(int(landscape["seed"]), seed, step))
        start = src.env.reference_state()
        # theta0, theta', theta'' and every level's grid: one list of points, one batch shape
        pts = np.concatenate([np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])] + [grid_points(ax, ax) for ax in axes])
        log(f"[landscape] {role}: {algo} seed {seed} step {step}; {len(axes)} levels of {G}x{G} points, "
            f"a, b within +-{[float(ax[-1]) for ax in axes]}")
        r, l, poses = evaluate_points(evaluators[algo], theta0, theta1, theta2, pts, start, chunk, log,
                                      f"landscape {role}")
        refs = r[:3]
        rets = list(r[3:].reshape(len(axes), G, G))
        lens = list(l[3:].reshape(len(axes), G, G))
        ret0, len0 = float(r[0]), int(l[0])  # point 0 is theta0: its poses are the gait
        steps = gait_frame_steps(len0, int(landscape["frames"]))
        frames, renderer = _frames(src.env, poses, steps, render_cfg)
        pu = read_post_update(post_update_pattern.format(algo=algo, seed=seed, step=step))[0]
        results[role] = dict(row=row, axes=np.stack(axes), returns=np.stack(rets), lengths=np.stack(lens),
                             refs=refs, frames=frames, frame_steps=steps, post_update_returns=pu,
                             gait_return=float(ret0), gait_length=int(len0))
        log(f"[landscape] {role}: R(theta0)={refs[0]:.1f}, R(theta')={refs[1]:.1f}, R(theta'')={refs[2]:.1f}; "
            f"level-0 map min {rets[0].min():.1f} max {rets[0].max():.1f}")
    prov = provenance.record(config_record, backend=src.attrs["backend"])
    with atomic_path(out_h5) as tmp:
        with h5py.File(tmp, "w") as f:
            _h5_attrs(f, {"format": LANDSCAPE_FORMAT, "env": env_name, "grid": G, "extent": landscape["extent"],
                          "zoom": landscape["zoom"], "levels": N_LEVELS, "horizon": horizon,
                          "update_seed": landscape["seed"], "renderer": renderer, "criterion": pair["criterion"],
                          "selection": pair["reason"], "provenance": prov})
            for role, res in results.items():
                g = f.create_group(role)
                row = res["row"]
                _h5_attrs(g, {k: (row[k].item() if hasattr(row[k], "item") else row[k])
                              for k in ("algo", "seed", "step", "mean", "std", "ltp", "mode")})
                _h5_attrs(g, {"return_theta0": res["refs"][0], "return_theta1": res["refs"][1],
                              "return_theta2": res["refs"][2], "gait_return": res["gait_return"],
                              "gait_length": res["gait_length"]})
                for k in ("axes", "returns", "lengths", "frames", "frame_steps", "post_update_returns"):
                    g.create_dataset(k, data=res[k])
            f.attrs["complete"] = True
    rows = [{"role": role, **{k: res["row"][k] for k in ("algo", "seed", "step", "mean", "std", "ltp", "mode")},
             "return_theta0": res["refs"][0], "criterion": pair["criterion"], "reason": pair["reason"]}
            for role, res in results.items()]
    write_csv(pd.DataFrame(rows), out_csv, prov)
    log(f"[landscape] {env_name} done in {time.time() - t_job:.1f}s (renderer: {renderer})")


# --- E4: failure anatomy (Fig. 3, 4, 23) ------------------------------------------------

def failures_job(stats_csv: str, env_name: str, algo: str, train_pattern: str, post_update_pattern: str,
                 failures: dict, render_cfg: dict, out_h5: str, out_pairs: str, out_summary: str,
                 config_record: dict | None = None) -> None:
    setup_jax(render=True)
    import h5py
    import jax
    import jax.numpy as jnp

    from .analyses import failures as F
    from .analyses.landscape import make_update
    from .base.checkpoints import read_post_update
    from .rollout import pad_to

    t_job = time.time()
    stats = pd.read_csv(stats_csv)
    stats = stats[(stats["env"] == env_name) & (stats["algo"] == algo)].reset_index(drop=True)
    stats["min"] = [float(np.nanmin(read_post_update(post_update_pattern.format(
        algo=algo, seed=int(r.seed), step=int(r.step)))[0])) for r in stats.itertuples()]
    rows, fallback, note = F.select_policies(stats, env_name, algo, int(failures["max_policies"]),
                                             int(failures["seed"]))
    log(f"[failures] {env_name}: {note}")
    sources = _Sources(train_pattern)
    upd = None
    pairs, params = [], []
    for r in rows.itertuples():
        seed, step = int(r.seed), int(r.step)
        returns, lengths, a = read_post_update(post_update_pattern.format(algo=algo, seed=seed, step=step))
        picked = F.pick_pair(returns)
        if picked is None:
            log(f"[failures] seed {seed} step {step}: no successful sample within 10% of the mean; skipped")
            continue
        s, fl, kind = picked
        src = sources(algo, seed)
        if upd is None:
            agent, cfg, env = src.agent, src.cfg, src.env
            upd = make_update(agent, cfg=cfg, env=env)
            horizon = int(a["horizon"])
        if int(a["horizon"]) != horizon:
            raise ValueError(f"post-update files of {env_name}/{algo} disagree on the horizon "
                             f"({a['horizon']} vs {horizon})")
        state, (lo, hi) = src.checkpoint(step)
        # the keys of the post-update job: sample_key(sample_seed, seed, step) split N ways
        keys = jax.random.split(sample_key(int(a["sample_seed"]), seed, step), int(a["n_samples"]))
        for i in (s, fl):
            params.append(upd(state, keys[i], src.replay, lo, hi))
        c = F.classify(returns)
        pairs.append({"seed": seed, "step": step, "ltp": float(r.ltp), "mean": c["mean"], "mode": c["mode"],
                      "idx_success": s, "idx_fail": fl, "fail_kind": kind,
                      "stored_success": float(returns[s]), "stored_fail": float(returns[fl])})
    if not pairs:
        raise RuntimeError(f"[failures] {env_name}: no chosen policy has a successful sample "
                           f"within 10% of its mean; cannot draw Fig. 3")
    B = 2 * int(failures["max_policies"])  # one compiled batch shape
    stacked = jax.tree_util.tree_map(lambda *x: pad_to(jnp.stack(x), B), *params)
    resim = F.make_resimulator(env, agent.make_policy(env.spec.act_dim, cfg), horizon)
    start = env.reference_state()
    ret, length, rewards, poses = resim(stacked, start)
    n = len(params)
    ret, length, rewards = (np.asarray(x)[:n] for x in (ret, length, rewards))
    rewards = rewards.reshape(len(pairs), 2, horizon).astype(np.float64)
    ret, length = ret.reshape(len(pairs), 2).astype(np.float64), length.reshape(len(pairs), 2)
    stored = np.array([[p["stored_success"], p["stored_fail"]] for p in pairs])
    diff = float(np.nanmax(np.abs(ret - stored)))
    log(f"[failures] re-simulated {len(params)} samples with the post-update keys: "
        f"max |return - stored| = {diff:.3g}")
    for p, (rs, rf), (ls, lf) in zip(pairs, ret, length):
        p.update(resim_success=rs, resim_fail=rf, length_success=int(ls), length_fail=int(lf),
                 terminated=bool(lf < horizon))
    # Fig. 3 left / Fig. 4: the pair with the largest return gap (prefer a true LTP failure)
    gaps = [(p["fail_kind"] == "ltp", p["resim_success"] - p["resim_fail"]) for p in pairs]
    best = max(range(len(pairs)), key=lambda i: gaps[i])
    m = F.misstep_step(rewards[best, 0], rewards[best, 1], int(length[best, 1]), horizon)
    stride = int(failures["frame_stride"])
    n_fr = int(failures["frames"])
    fsteps = np.clip(m - stride * np.arange(n_fr)[::-1], 0, horizon - 1)
    fsteps = np.minimum(fsteps, int(length[best, 1]) - 1)
    frames = {}
    for j, name in enumerate(("success", "fail")):
        pose_j = jax.tree_util.tree_map(lambda x: np.asarray(x[2 * best + j]), poses)
        frames[name], renderer = _frames(env, pose_j, fsteps, render_cfg)
    summ = F.termination_summary(length[:, 1], horizon)
    summary = pd.DataFrame([{"env": env_name, "algo": algo, "n_policies": len(rows), "n_pairs": len(pairs),
                             **summ, "fallback": fallback, "note": note, "max_resim_diff": diff}])
    log(f"[failures] {env_name}: {summ['n_terminated']}/{summ['n_failing']} failing trajectories end by "
        f"termination, {summ['n_low_reward']} by a low-reward stretch; misstep of pair {best} at step {m}")
    prov = provenance.record(config_record, backend=env.backend)
    with atomic_path(out_h5) as tmp:
        with h5py.File(tmp, "w") as f:
            _h5_attrs(f, {"format": FAILURES_FORMAT, "env": env_name, "algo": algo, "horizon": horizon,
                          "fallback": fallback, "note": note, "renderer": renderer, "misstep_pair": best,
                          "misstep_step": m, "max_resim_diff": diff, "provenance": prov})
            f.create_dataset("rewards", data=rewards)
            f.create_dataset("lengths", data=length.astype(np.int32))
            f.create_dataset("returns", data=ret)
            f.create_dataset("frame_steps", data=fsteps)
            f.create_dataset("frames_success", data=frames["success"])
            f.create_dataset("frames_fail", data=frames["fail"])
            f.attrs["complete"] = True
    write_csv(pd.DataFrame(pairs), out_pairs, prov)
    write_csv(summary, out_summary, prov)
    log(f"[failures] {env_name} done in {time.time() - t_job:.1f}s (renderer: {renderer})")


# --- E5: LTP from replay-buffer start states (Fig. 10) ----------------------------------

def start_states_job(env_name: str, algo: str, train_paths: dict, start_states: dict, post_update: dict,
                     out_csv: str, config_record: dict | None = None) -> None:
    setup_jax()
    import jax

    from .analyses import start_states as SS
    from .jobs import CheckpointSource
    from .rollout import chunked, pad_to

    t_job = time.time()
    K, N, horizon = int(start_states["n_states"]), int(start_states["n_samples"]), int(post_update["horizon"])
    per_call = max(1, min(K, int(post_update["chunk_size"]) // N))
    est, rows, backend = None, [], None
    total = len(train_paths)
    for i_seed, (seed, path) in enumerate(sorted(train_paths.items())):
        src = CheckpointSource(path)
        backend = src.attrs["backend"]
        if est is None:
            est = SS.make_start_state_estimator(src.agent, src.env, src.cfg, horizon)
        # K states fixed by collection time: evenly spaced over the buffer at the last checkpoint
        last = src.checkpoint(src.steps[-1])  # read once: its buffer bounds now, its state in the loop
        lo_last, hi_last = last[1]
        idx_all = SS.buffer_indices(lo_last, hi_last, K)
        for step in src.steps:
            t0 = time.time()
            state, (lo, hi) = last if step == src.steps[-1] else src.checkpoint(step)
            held = SS.states_in_buffer(idx_all, lo, hi)
            if held.size == 0:
                log(f"[start_states] seed {seed} step {step}: none of the states is in the buffer [{lo}, {hi})")
                continue
            idx = idx_all[held]
            obs = src.replay.obs[idx]
            keys = jax.random.split(jax.random.fold_in(sample_key(int(start_states["sample_seed"]), seed, step), 1),
                                    K * N).reshape(K, N, -1)[held]
            rets = []
            for s, e in chunked(len(idx), per_call):
                r, _ = est(state, pad_to(keys[s:e], per_call), src.replay, lo, hi, pad_to(obs[s:e], per_call))
                rets.append(np.asarray(r[: e - s], np.float64))
            R = np.concatenate(rets)
            st = SS.state_stats(R)
            for j, k in enumerate(held):
                rows.append({"env": env_name, "algo": algo, "seed": seed, "step": step, "state": int(k),
                             "buffer_index": int(idx[j]),
                             "rel_pos": float(SS.relative_position(idx[j], lo_last, hi_last)),
                             "ltp": st["ltp"][j], "mode": st["mode"][j], "mean": st["mean"][j],
                             "n_samples": N, "horizon": horizon})
            log(f"[start_states] seed {seed} ({i_seed + 1}/{total}) step {step}: {len(idx)} states x {N} updates "
                f"in {time.time() - t0:.1f}s; mean LTP {np.nanmean(st['ltp']) if np.isfinite(st['ltp']).any() else float('nan'):.3f}")
    prov = provenance.record(config_record, backend=backend)
    write_csv(pd.DataFrame(rows), out_csv, prov)
    log(f"[start_states] {env_name} done in {time.time() - t_job:.1f}s")
