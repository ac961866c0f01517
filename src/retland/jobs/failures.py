"""E4 (paper Sec. 3.2, Fig. 3, 4; A.8, Fig. 23): anatomy of failures, re-simulating one
successful and one failing post-update sample of TD3 policies with a left tail.
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


FAILURES_FORMAT = "retland.failures/1"


def failures_job(*, stats_csv: str, env: str, algo: str, train_pattern: str, post_update_pattern: str,
                 failures: dict, render: dict, out_h5: str, out_pairs: str, out_summary: str,
                 config_record: dict | None = None) -> None:
    """E4: one successful and one failing post-update sample of up to ``max_policies``
    ``algo`` policies of ``env`` re-simulated with the post-update job's keys; rewards,
    frames before the misstep, the pairs and the termination summary."""
    setup_jax(render=True)
    import h5py
    import jax
    import jax.numpy as jnp

    from ..analyses import failures as F
    from ..analyses.landscape import make_update
    from ..base.checkpoints import read_post_update
    from ..rollout import pad_to

    t_job = time.time()
    stats = pd.read_csv(stats_csv)
    stats = stats[(stats["env"] == env) & (stats["algo"] == algo)].reset_index(drop=True)
    stats["min"] = [float(np.nanmin(read_post_update(post_update_pattern.format(
        algo=algo, seed=int(r.seed), step=int(r.step)))[0])) for r in stats.itertuples()]
    rows, fallback, note = F.select_policies(stats, env, algo, int(failures["max_policies"]),
                                             int(failures["seed"]))
    log(f"[failures] {env}: {note}")
    sources = Sources(train_pattern)
    first, upd = None, None
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
            first = src  # the agent, config and environment of every re-simulation
            upd = make_update(first)
            horizon = int(a["horizon"])
        if int(a["horizon"]) != horizon:
            raise ValueError(f"post-update files of {env}/{algo} disagree on the horizon "
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
        raise RuntimeError(f"[failures] {env}: no chosen policy has a successful sample "
                           f"within 10% of its mean; cannot draw Fig. 3")
    B = 2 * int(failures["max_policies"])  # one compiled batch shape
    stacked = jax.tree_util.tree_map(lambda *x: pad_to(jnp.stack(x), B), *params)
    resim = F.make_resimulator(first, horizon)
    start = first.env.reference_state()
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
        frames[name], renderer = render_frames(first.env, pose_j, fsteps, render)
    summ = F.termination_summary(length[:, 1], horizon)
    summary = pd.DataFrame([{"env": env, "algo": algo, "n_policies": len(rows), "n_pairs": len(pairs),
                             **summ, "fallback": fallback, "note": note, "max_resim_diff": diff}])
    log(f"[failures] {env}: {summ['n_terminated']}/{summ['n_failing']} failing trajectories end by "
        f"termination, {summ['n_low_reward']} by a low-reward stretch; misstep of pair {best} at step {m}")
    prov = provenance.record(config_record, backend=first.env.backend)
    with atomic_path(out_h5) as tmp:
        with h5py.File(tmp, "w") as f:
            set_attrs(f, {"format": FAILURES_FORMAT, "env": env, "algo": algo, "horizon": horizon,
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
    log(f"[failures] {env} done in {time.time() - t_job:.1f}s (renderer: {renderer})")


def fig03_job(*, trajectories_h5: str, summary_csv: str, env: str, out_png: str, out_pdf: str, out_png4: str,
              out_pdf4: str, dpi: int) -> None:
    """Paper Fig. 3 / 23 (reward per step, race curves) and Fig. 4 (frames before the misstep)."""
    from ..plots.failures import fig03_failures, fig04_misstep, read_failures

    data = read_failures(trajectories_h5)
    fig03_failures(data, pd.read_csv(summary_csv), env, out_png, out_pdf, dpi=dpi)
    fig04_misstep(data, env, out_png4, out_pdf4, dpi=dpi)
