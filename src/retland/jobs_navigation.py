"""Job entry points of the navigation experiments E6-E9 (paper Sec. 4, App. A.3, A.9, A.10).

Each function does one rule's work: read inputs, call ``analyses.interpolation`` /
``analyses.rejection``, write outputs atomically. CSV outputs carry their provenance in a
``<name>.provenance.json`` beside them. Only ``interpolation_job`` and ``rejection_job``
import JAX.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

from . import provenance
from .provenance import write_csv
from .base.atomic import write_text
from .jobs import log


def _seed_of_path(path: str) -> int:
    base = os.path.basename(path)
    if not (base.startswith("seed") and base.endswith(".h5")):
        raise ValueError(f"training file {path!r} is not named seed<N>.h5")
    return int(base[4:-3])


class _Policies:
    """Policy parameters of any (seed, step) of one (env, algo): one CheckpointSource for
    the agent, config and environment (the first file), plain checkpoint reads otherwise."""

    def __init__(self, train_paths):
        from .jobs import CheckpointSource

        self.paths = {_seed_of_path(p): p for p in train_paths}
        first = sorted(self.paths)[0]
        self.src = CheckpointSource(self.paths[first])
        self._sources = {first: self.src}

    def source(self, seed: int):
        from .jobs import CheckpointSource

        seed = int(seed)
        if seed not in self.paths:
            raise ValueError(f"no training file for seed {seed} (have {sorted(self.paths)})")
        if seed not in self._sources:
            self._sources = {seed: CheckpointSource(self.paths[seed])}  # one replay in memory
        return self._sources[seed]

    def theta(self, seed: int, step: int):
        from .base.checkpoints import TrainFile

        with TrainFile(self.paths[int(seed)]) as tf:
            state, _ = tf.checkpoint(int(step), self.src.template)
        return self.src.agent.policy_params(state)


# ---------------------------------------------------------------------------------------
# E6 / E7: interpolation (Fig. 5, 8, 9, Tab. 2) and below-threshold proportion (Fig. 6)
# ---------------------------------------------------------------------------------------
def interpolation_job(env: str, stats_csv: str, train_paths, p: dict, out: dict,
                      config_record: dict | None = None) -> None:
    """One environment: Tab. 2 pair selection, Fig. 5/8 paths, Fig. 6 per-pair BTP.

    ``out``: ``pairs`` (Tab. 2 CSV), ``paths`` (per-point CSV), ``btp_pairs`` (per-pair BTP)."""
    from .jobs import sample_key, setup_jax

    jax = setup_jax()
    from .analyses import interpolation as I

    t_job = time.time()
    stats = pd.read_csv(stats_csv)
    algo = p["algo"]
    pol = _Policies(train_paths)
    src = pol.src
    prov = provenance.record(config_record, backend=src.attrs["backend"], env=env, algo=algo)
    start = src.env.reference_state()
    evaluator = I.make_path_evaluator(src.agent, src.env, src.cfg, p["horizon"])
    chunk = int(p["chunk_size"])

    # Tab. 2 / Fig. 5, 8: similar mean, different std; deterministic path + noise-based PURD
    pairs = pd.concat([I.select_similar_pairs(stats, env, algo, k, p["n_pairs"], p["mean_tolerance"])
                       for k in I.KINDS], ignore_index=True)
    write_csv(pairs, out["pairs"], prov)
    alphas = np.linspace(0.0, 1.0, p["n_points"])

    def path(i, row, ta, tb):
        key = jax.random.fold_in(sample_key(p["seed"], 0, 0), i)
        det = I.path_returns(evaluator, ta, tb, alphas, 1, 0.0, key, chunk, start)[:, 0]
        noisy = I.path_returns(evaluator, ta, tb, alphas, p["n_perturbations"], p["noise_scale"],
                               jax.random.fold_in(key, 1), chunk, start)
        return pd.DataFrame({
            "env": env, "kind": row.kind, "pair": i, "seed_a": row.seed_a, "step_a": row.step_a,
            "seed_b": row.seed_b, "step_b": row.step_b, "alpha": alphas, "return": det,
            "purd_mean": noisy.mean(axis=1), "purd_std": noisy.std(axis=1, ddof=0),
            "purd_n_nonfinite": (~np.isfinite(noisy)).sum(axis=1), "n_perturbations": noisy.shape[1]})

    log(f"[interpolation] {env}: {len(pairs)} Tab. 2 pairs x {p['n_points']} points x "
        f"(1 + {p['n_perturbations']}) rollouts of {p['horizon']} steps")
    paths = pd.concat(I.run_pairs(pairs, pol.theta, path, log, "interpolation"), ignore_index=True)
    write_csv(paths, out["paths"], prov)

    # Fig. 6: random pairs, BTP of the per-point mean return over Gaussian perturbations
    rnd = pd.concat([I.sample_random_pairs(stats, env, algo, k, p["btp_pairs"], p["seed"]) for k in I.KINDS],
                    ignore_index=True)
    grid = I.btp_alphas(p["btp_points"])

    def btp(i, row, ta, tb):
        key = jax.random.fold_in(sample_key(p["seed"], 1, 0), i)
        r = I.path_returns(evaluator, ta, tb, grid, p["btp_perturbations"], p["noise_scale"], key, chunk, start)
        value, ra, rb = I.pair_btp(I.finite_point_means(r), p["btp_fraction"])
        return {"btp": value, "return_a": ra, "return_b": rb, "n_nonfinite": int((~np.isfinite(r)).sum())}

    log(f"[below_threshold] {env}: {len(rnd)} random pairs x ({p['btp_points']} + 2) points x "
        f"{p['btp_perturbations']} perturbations")
    res = pd.DataFrame(I.run_pairs(rnd, pol.theta, btp, log, "below_threshold"))
    rnd = pd.concat([rnd[["env", "kind", "seed_a", "step_a", "seed_b", "step_b"]], res], axis=1)
    write_csv(rnd, out["btp_pairs"], prov)
    log(f"[interpolation] {env} done in {time.time() - t_job:.1f}s; mean BTP "
        + ", ".join(f"{k} {g['btp'].mean():.3f}" for k, g in rnd.groupby("kind")))


def below_threshold_stats_job(btp_csvs, stats_cfg: dict, out_csv: str, out_summary: str) -> None:
    """Fig. 6 table: every pair's BTP (DESIGN.md contract) and the rliable summary."""
    from .analyses.interpolation import below_threshold_summary

    df = pd.concat([pd.read_csv(p) for p in btp_csvs], ignore_index=True)
    cols = ["env", "kind", "seed_a", "step_a", "seed_b", "step_b", "btp"]
    write_csv(df[cols], out_csv)
    summary = below_threshold_summary(df, stats_cfg["n_boot"], stats_cfg["ci"], stats_cfg["seed"])
    write_csv(summary, out_summary)
    log(f"[below_threshold] {len(df)} pairs -> {out_csv}\n{summary.to_string(index=False)}")


# ---------------------------------------------------------------------------------------
# E8: Algorithm 1 (Fig. 7, 24, 26)
# ---------------------------------------------------------------------------------------
def rejection_job(env: str, stats_csv: str, train_paths, p: dict, out_csv: str, out_starts: str,
                  config_record: dict | None = None) -> None:
    """Algorithm 1 and plain TD3 from ``n_starts`` start policies x ``n_runs`` runs of one env."""
    from .jobs import sample_key, setup_jax

    jax = setup_jax()
    from .analyses import rejection as R
    from .analyses.post_update import make_estimator, post_update_returns

    t_job = time.time()
    stats = pd.read_csv(stats_csv)
    pol = _Policies(train_paths)
    agent, cfg, envo = pol.src.agent, pol.src.cfg, pol.src.env
    prov = provenance.record(config_record, backend=pol.src.attrs["backend"], env=env, algo=p["algo"])
    starts = R.select_start_policies(stats, env, p["algo"], p["n_starts"], p["seed"])
    write_csv(starts, out_starts, prov)
    start_state = envo.reference_state()
    est = make_estimator(agent, envo, cfg, p["horizon"])
    propose = R.make_propose(agent, envo, cfg)
    n, chunk = int(p["n_samples"]), int(p["chunk_size"])

    def estimate(state, buffer, key):
        return post_update_returns(agent, envo, cfg, state, buffer.data, buffer.lo, buffer.hi, n, p["horizon"],
                                   chunk, key, start_state=start_state, log=lambda m: None, estimator=est)[0]

    rows, total, done = [], len(starts) * p["n_runs"], 0
    for s in starts.itertuples(index=False):
        src = pol.source(s.seed)
        state, (lo, hi) = src.checkpoint(int(s.step))
        buffer = R.working_buffer(src.replay, lo, hi, p["n_iterations"])
        for run in range(p["n_runs"]):
            key = jax.random.fold_in(sample_key(p["seed"], int(s.seed), int(s.step)), run)
            k_env, key = jax.random.split(key)
            carry = R.Carry(state, buffer, envo.reset(k_env), jax.numpy.int32(0))
            log(f"[rejection] {env} seed {s.seed} step {s.step} (start LTP {s.ltp:.3f}) run {run}: "
                f"{p['n_iterations']} iterations, N={n}, horizon {p['horizon']}, buffer rows [{lo}, {hi})")
            for r in R.run_start_policy(carry, key, p["n_iterations"], propose, estimate, p["cvar_alpha"],
                                        p["delta"], log=log):
                rows.append({"env": env, "seed": int(s.seed), "step": int(s.step), "run_index": run, **r})
            done += 1
            el = time.time() - t_job
            log(f"[rejection] {done}/{total} runs done, ETA {el / done * (total - done):.0f}s")
    df = pd.DataFrame(rows)
    cols = ["env", "seed", "step", "run_index", "method", "iteration", "accepted", "purd_mean", "purd_ltp",
            f"purd_cvar_{p['cvar_alpha']:g}"]
    write_csv(df[cols], out_csv, prov)
    log(f"[rejection] {env} done in {time.time() - t_job:.1f}s")


def rejection_stats_job(csvs, stats_cfg: dict, out_csv: str, out_summary: str) -> None:
    """Fig. 7 table: every iteration of every run (contract) and the rliable LTP-reduction summary."""
    from .analyses.rejection import ltp_reduction_summary

    df = pd.concat([pd.read_csv(p) for p in csvs], ignore_index=True)
    write_csv(df, out_csv)
    summary = ltp_reduction_summary(df, stats_cfg["n_boot"], stats_cfg["ci"], stats_cfg["seed"])
    write_csv(summary, out_summary)
    log(f"[rejection] {len(df)} rows -> {out_csv}\n{summary.to_string(index=False)}")


# ---------------------------------------------------------------------------------------
# E9: CVaR ranking (Fig. 25) and the claims summary
# ---------------------------------------------------------------------------------------
def cvar_ranking_job(stats_csv: str, pattern: str, algo: str, alphas, out_csv: str) -> None:
    """CVaR_alpha of every ``algo`` policy's stored post-update returns, ranked per env."""
    from .analyses.rejection import cvar_ranking
    from .base.checkpoints import read_post_update

    stats = pd.read_csv(stats_csv)
    stats = stats[stats["algo"] == algo]
    df = cvar_ranking(stats, lambda r: read_post_update(pattern.format(
        env=r.env, algo=r.algo, seed=r.seed, step=r.step))[0], alphas)
    write_csv(df, out_csv)
    log(f"[cvar_ranking] {len(df)} policies, alphas {list(alphas)} -> {out_csv}")


def claims_job(stats_csv: str, btp_summary_csv: str, ltp_summary_csv: str, p: dict, stats_cfg: dict, algo: str,
               out_md: str, out_csv: str) -> None:
    """The paper's three claims, checked on the produced files (see README, "Claims")."""
    from .analyses.interpolation import similar_mean_spread

    stats = pd.read_csv(stats_csv)
    btp = pd.read_csv(btp_summary_csv).set_index("kind")
    ltp = pd.read_csv(ltp_summary_csv).set_index("method")
    a = similar_mean_spread(stats, algo, p["mean_tolerance"], stats_cfg["n_boot"], stats_cfg["ci"],
                            stats_cfg["seed"])
    a_holds = bool(a["n_pairs"] > 0 and a["std_ratio_lo"] > p["std_ratio"] and a["ltp_diff_lo"] > p["ltp_diff"])
    s, d = btp.loc["same_run"], btp.loc["different_run"]
    b_holds = bool(s["hi"] < d["lo"])
    c = ltp.loc["rejection_minus_td3"] if "rejection_minus_td3" in ltp.index else None
    c_holds = bool(c is not None and c["lo"] > 0)
    ci = f"{100 * stats_cfg['ci']:g}% CI"

    def v(x):
        return f"{x:.3g}"

    rows = [
        dict(claim="a", statistic="median std ratio (max/min) of similar-mean pairs", value=a["std_ratio"],
             lo=a["std_ratio_lo"], hi=a["std_ratio_hi"], n=a["n_pairs"], holds=a_holds),
        dict(claim="a", statistic="median |LTP difference| of similar-mean pairs", value=a["ltp_diff"],
             lo=a["ltp_diff_lo"], hi=a["ltp_diff_hi"], n=a["n_pairs"], holds=a_holds),
        dict(claim="b", statistic="mean BTP, same run", value=s["mean"], lo=s["lo"], hi=s["hi"],
             n=int(s.get("n_pairs", -1)), holds=b_holds),
        dict(claim="b", statistic="mean BTP, different runs", value=d["mean"], lo=d["lo"], hi=d["hi"],
             n=int(d.get("n_pairs", -1)), holds=b_holds),
    ]
    for m in ("rejection", "td3", "rejection_minus_td3"):
        if m in ltp.index:
            r = ltp.loc[m]
            rows.append(dict(claim="c", statistic=f"mean LTP reduction, {m}", value=r["mean"], lo=r["lo"],
                             hi=r["hi"], n=int(r.get("n", -1)), holds=c_holds))
    df = pd.DataFrame(rows)
    write_csv(df, out_csv)

    def word(h):
        return "**holds**" if h else "**does not hold**"

    md = [f"# Claims of Sec. 4 checked at this scale ({ci}, rliable / bootstrap)", ""]
    md.append(f"(a) Policies of similar mean differ widely in std and LTP: {word(a_holds)} at this scale. "
              f"Over {a['n_pairs']} pairs of {algo} policies of one environment whose mean returns differ by at "
              f"most {100 * p['mean_tolerance']:g}%, the median std ratio is {v(a['std_ratio'])} "
              f"[{v(a['std_ratio_lo'])}, {v(a['std_ratio_hi'])}] and the median |LTP difference| "
              f"{v(a['ltp_diff'])} [{v(a['ltp_diff_lo'])}, {v(a['ltp_diff_hi'])}] (criterion: lower bounds "
              f"> {p['std_ratio']:g} and > {p['ltp_diff']:g}).")
    md.append("")
    md.append(f"(b) Same-run BTP is far below different-run BTP: {word(b_holds)} at this scale. Same run "
              f"{v(s['mean'])} [{v(s['lo'])}, {v(s['hi'])}], different runs {v(d['mean'])} "
              f"[{v(d['lo'])}, {v(d['hi'])}] (criterion: the intervals do not overlap, same run below).")
    md.append("")
    if c is None:
        md.append("(c) Algorithm 1 reduces LTP more than plain TD3: no paired runs to compare.")
    else:
        r, t = ltp.loc["rejection"], ltp.loc["td3"]
        md.append(f"(c) Algorithm 1 reduces LTP more than plain TD3: {word(c_holds)} at this scale. LTP "
                  f"reduction with rejection {v(r['mean'])} [{v(r['lo'])}, {v(r['hi'])}], plain TD3 "
                  f"{v(t['mean'])} [{v(t['lo'])}, {v(t['hi'])}], paired difference {v(c['mean'])} "
                  f"[{v(c['lo'])}, {v(c['hi'])}] over {int(c['n'])} (start policy, run) pairs "
                  f"(criterion: the difference's lower bound > 0).")
    write_text(out_md, "\n".join(md) + "\n")
    log("\n".join(md))
