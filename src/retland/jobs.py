"""Job entry points called by the workflow scripts (plain arguments, no snakemake).

Each function does one rule's work: read its inputs, call the science, write its
outputs atomically with provenance. JAX is imported only by the jobs that simulate.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

from . import provenance


@contextlib.contextmanager
def log_to(path: str | None):
    """Send this job's stdout and stderr (Python and C level) to ``path``."""
    if not path:
        yield
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def setup_jax(cache_dir: str | None = None):
    """Persistent compilation cache shared by every job of a run (RETLAND_JAX_CACHE)."""
    import jax

    cache_dir = cache_dir or os.environ.get("RETLAND_JAX_CACHE")
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return jax


def train_job(env_name: str, algo: str, seeds, backend: str, episode_length: int, train: dict,
              agent_overrides: dict, out_paths, config_record: dict | None = None) -> dict:
    """E1: train ``seeds`` of (env, algo) vmapped in one process; one HDF5 file per seed."""
    setup_jax()
    from .agents import get_agent
    from .base.envs import make_env
    from .training import train_offpolicy

    agent = get_agent(algo)
    cfg = agent.Config.from_dict(agent_overrides)
    env = make_env(env_name, backend, episode_length)
    attrs = {
        "suite": env.spec.suite,
        "env": env_name,
        "algo": algo,
        "backend": backend,
        "episode_length": episode_length,
        "total_steps": train["total_steps"],
        "checkpoint_steps": sorted(train["checkpoints"]),
        "agent_config": cfg.to_dict(),
        "provenance": provenance.record(config_record, backend=backend),
    }
    summary = train_offpolicy(
        agent, env, cfg, seeds, train["total_steps"], train["checkpoints"], out_paths, attrs,
        max_chunk=train["max_chunk_steps"], log=log,
    )
    log(f"[train] done in {summary['wall_seconds']:.1f}s "
        f"({summary['steps_per_second_per_seed']:.0f} env-steps/s per seed); "
        f"final deterministic returns {[round(r, 1) for r in summary['final_eval_returns']]}")
    return summary


def sample_key(sample_seed: int, seed: int, step: int):
    import jax

    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(sample_seed), seed), step)


def load_checkpoint(train_path: str, step: int):
    """(agent module, agent config, env, agent state, device replay window, attrs) of one checkpoint."""
    import json

    import jax

    from .agents import get_agent
    from .base.checkpoints import TrainFile
    from .base.envs import make_env
    from .base.replay import from_numpy

    with TrainFile(train_path) as tf:
        attrs = tf.attrs
        agent = get_agent(attrs["algo"])
        cfg = agent.Config.from_dict(json.loads(attrs["agent_config"]))
        env = make_env(attrs["env"], attrs["backend"], int(attrs["episode_length"]))
        template = agent.init(jax.random.PRNGKey(0), env.spec.obs_dim, env.spec.act_dim, cfg)
        state, ck = tf.checkpoint(step, template)
        replay = from_numpy(tf.replay(int(ck["replay_lo"]), int(ck["replay_hi"])))
    return agent, cfg, env, state, replay, attrs


def post_update_job(train_path: str, seed: int, step: int, n_samples: int, horizon: int,
                    chunk_size: int, sample_seed: int, out_path: str, config_record: dict | None = None):
    """E2: N post-update returns of the checkpoint at ``step`` (Sec. 3.1)."""
    setup_jax()
    from .analyses.post_update import post_update_returns
    from .base.checkpoints import write_post_update

    t0 = time.time()
    agent, cfg, env, state, replay, attrs = load_checkpoint(train_path, step)
    n_rows = int(replay.obs.shape[0])
    log(f"[post_update] {attrs['env']}/{attrs['algo']} seed {seed} step {step}: N={n_samples}, "
        f"horizon={horizon}, buffer rows={n_rows}, backend={attrs['backend']}")
    returns, lengths = post_update_returns(
        agent, env, cfg, state, replay, 0, n_rows, n_samples, horizon, chunk_size,
        sample_key(sample_seed, seed, step), log=log,
    )
    write_post_update(out_path, returns, lengths, {
        "update_kind": agent.UPDATE_KIND,
        "learning_rate": getattr(cfg, "learning_rate", float("nan")),
        "noise_scale": 0.0,
        "n_samples": n_samples,
        "horizon": horizon,
        "backend": attrs["backend"],
        "suite": attrs["suite"],
        "env": attrs["env"],
        "algo": attrs["algo"],
        "seed": seed,
        "step": step,
        "sample_seed": sample_seed,
        "train_file": os.path.relpath(train_path),
        "provenance": provenance.record(config_record, backend=attrs["backend"]),
    })
    log(f"[post_update] done in {time.time() - t0:.1f}s: mean {returns.mean():.1f}, std {returns.std():.1f}")


def post_update_stats_job(paths, stats: dict, out_csv: str) -> None:
    """Statistics of every post-update file, one row per policy (DESIGN.md contract)."""
    import pandas as pd

    from . import stats as S
    from .base.atomic import atomic_path
    from .base.checkpoints import read_post_update

    rows = []
    for i, p in enumerate(paths):
        returns, lengths, a = read_post_update(p)
        row = {k: a[k] for k in ("suite", "env", "algo")}
        row.update(seed=int(a["seed"]), step=int(a["step"]), horizon=int(a["horizon"]),
                   backend=a["backend"], update_kind=a["update_kind"], mean_length=float(lengths.mean()))
        row.update(S.summarize(returns, n_boot=stats["n_boot"], ci=stats["ci"],
                               seed=stats["seed"] + i, cvar_alpha=stats["cvar_alpha"]))
        rows.append(row)
    df = pd.DataFrame(rows).sort_values(["suite", "env", "algo", "seed", "step"])
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    log(f"[stats] {len(df)} policies -> {out_csv}")


def learning_curves_job(paths, out_csv: str) -> None:
    import pandas as pd

    from .base.atomic import atomic_path
    from .base.checkpoints import TrainFile

    frames = []
    for p in paths:
        with TrainFile(p) as tf:
            a = tf.attrs
            lc = tf.learning_curve()
        frames.append(pd.DataFrame({
            "suite": a["suite"], "env": a["env"], "algo": a["algo"], "seed": int(a["seed"]),
            "step": lc["step"], "return": lc["return"], "length": lc["length"],
        }))
    df = pd.concat(frames, ignore_index=True)
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    log(f"[learning_curves] {len(paths)} runs -> {out_csv}")
