"""E2 (paper Sec. 3.1, Fig. 2, 11-13): post-update return distributions of a training
run's checkpoints, and their statistics (one row per policy).
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from .. import provenance
from ..provenance import write_csv
from ..runtime import log, setup_jax
from .sources import CheckpointSource, sample_key


def post_update_job(*, train_path: str, seed: int, steps, post_update: dict, out_h5,
                    config_record: dict | None = None, workers: int = 1, reuse: dict | None = None):
    """E2 (Sec. 3.1): N post-update returns of each checkpoint ``steps`` of one training run,
    one file per step (``out_h5``). ``post_update``: the config section (n_samples, horizon,
    chunk_size, sample_seed). ``workers``: processes stepping a host-stepped suite's
    environments (the rule's threads). ``reuse``: a dict kept by a caller that runs several
    files of one task and agent config in a row (the BC students of one run): their estimator
    and reference state are built and traced once (JAX-stepped suites only)."""
    jax = setup_jax()
    from ..analyses.post_update import make_estimator, post_update_returns
    from ..base.checkpoints import write_post_update

    n_samples, horizon = post_update["n_samples"], post_update["horizon"]
    chunk_size, sample_seed = post_update["chunk_size"], post_update["sample_seed"]
    # what a return counts (suites.atari.post_update.return_definition; rollout.HostRollout)
    return_definition = post_update.get("return_definition", "first_life")
    t_job = time.time()
    src = CheckpointSource(train_path)
    a = src.attrs
    chunk_size = min(chunk_size, n_samples)
    # a pooled post-update (PPO on Atari, post_update_data: pool) resets one pool of environments
    # per job, seeded by the run and the sample seed, and continues it over every checkpoint below
    pool_seed = int(np.random.SeedSequence([int(sample_seed), int(seed)]).generate_state(1)[0])
    # what the estimator's program depends on besides its arguments' shapes (docstring: reuse)
    program = json.dumps([a["env"], a["backend"], a.get("suite"), int(a["episode_length"]),
                          a.get("agent", a["algo"]), a["agent_config"], src.env_kwargs, horizon, chunk_size,
                          workers, return_definition, pool_seed], sort_keys=True)
    if reuse is not None and program in reuse:
        estimator, start = reuse[program]
    else:
        estimator = make_estimator(src, horizon, chunk_size, workers, return_definition, pool_seed)
        start = src.env.reference_state()
        if reuse is not None and not hasattr(estimator, "rollout"):  # host-stepped ones own processes
            reuse[program] = (estimator, start)
    for step, out_path in zip(steps, out_h5):
        t0 = time.time()
        state, (lo, hi) = src.checkpoint(step)
        log(f"[post_update] {a['env']}/{a['algo']} seed {seed} step {step}: N={n_samples}, "
            f"horizon={horizon}, buffer rows [{lo}, {hi}), backend={a['backend']}")
        key = sample_key(sample_seed, seed, step)
        if "teacher_step" in a:  # BC students of one run: one key per (teacher, student step)
            key = jax.random.fold_in(key, int(a["teacher_step"]))
        returns, lengths = post_update_returns(
            src, state, key, replay=src.replay, lo=lo, hi=hi, n_samples=n_samples, horizon=horizon,
            chunk_size=chunk_size, start_state=start, log=log, estimator=estimator,
        )
        write_post_update(out_path, returns, lengths, {
            **{k: a[k] for k in ("teacher_algo", "teacher_step", "teacher_file") if k in a},
            "update_kind": src.agent.UPDATE_KIND,
            "learning_rate": getattr(src.cfg, "learning_rate", float("nan")),
            "noise_scale": float(getattr(src.cfg, "noise_scale", 0.0)),  # Gaussian post-update (external agents)
            "n_samples": n_samples,
            "horizon": horizon,
            "backend": a["backend"],
            "suite": a["suite"],
            "env": a["env"],
            "env_kwargs": src.env_kwargs,
            "algo": a["algo"],
            "seed": seed,
            "step": step,
            "sample_seed": sample_seed,
            # only where the config names it (Atari): the other suites' files stay as they were
            **({"return_definition": return_definition} if "return_definition" in post_update else {}),
            "train_file": os.path.relpath(train_path),
            "provenance": provenance.record(config_record, backend=a["backend"]),
        })
        log(f"[post_update] step {step} done in {time.time() - t0:.1f}s: mean {returns.mean():.1f}, "
            f"std {returns.std():.1f}, non-finite {int((~np.isfinite(returns)).sum())}")
    if hasattr(estimator, "rollout"):  # a host-stepped suite: stop its worker processes
        estimator.rollout.close()
    log(f"[post_update] job done in {time.time() - t_job:.1f}s")


def post_update_stats_job(*, post_update_paths, stats: dict, out_csv: str, config_record: dict | None = None) -> None:
    """Statistics of every post-update file, one row per policy (docs/design.md, section 4)."""
    import pandas as pd

    from .. import stats as S
    from ..base.checkpoints import read_post_update

    rows = []
    for i, p in enumerate(post_update_paths):
        returns, lengths, a = read_post_update(p)
        row = {k: a[k] for k in ("suite", "env", "algo")}
        row.update(seed=int(a["seed"]), step=int(a["step"]), horizon=int(a["horizon"]),
                   backend=a["backend"], update_kind=a["update_kind"], mean_length=float(lengths.mean()))
        row.update(S.summarize(returns, n_boot=stats["n_boot"], ci=stats["ci"],
                               seed=stats["seed"] + i, cvar_alpha=stats["cvar_alpha"]))
        rows.append(row)
    df = pd.DataFrame(rows).sort_values(["suite", "env", "algo", "seed", "step"])
    write_csv(df, out_csv, provenance.record(config_record))
    log(f"[stats] {len(df)} policies -> {out_csv}")


def fig02_job(*, stats_csv: str, env: str, post_update_pattern: str, out_png: str, out_pdf: str,
              out_hist_png: str, out_hist_pdf: str, dpi: int, highlight: int) -> None:
    """Paper Fig. 2 / 11-13: the scatter of one environment's policies and the post-update
    histograms of its highlighted ones (``post_update_pattern`` names their files by
    ``{algo}``, ``{seed}``, ``{step}``)."""
    import pandas as pd

    from ..base.checkpoints import read_post_update
    from ..plots.post_update import fig02_histograms, fig02_scatter

    stars = fig02_scatter(pd.read_csv(stats_csv), env, out_png, out_pdf, dpi=dpi, highlight=highlight)
    log(f"[fig02] highlighted: {stars}")
    hists = [(f"{s['algo'].upper()} seed {s['seed']} step {s['step']}",
              read_post_update(post_update_pattern.format(**s))[0]) for s in stars]
    fig02_histograms(hists, env, out_hist_png, out_hist_pdf, dpi=dpi)
