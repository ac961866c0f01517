"""Job entry points called by the workflow scripts (plain arguments, no snakemake).

Each function does one rule's work: read its inputs, call the science, write its
outputs atomically with provenance. JAX is imported only by the jobs that simulate.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

import numpy as np

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


#: XLA flags every CPU job needs. XLA's concurrency-optimized CPU scheduler (jax 0.10)
#: deadlocks on PPO's vmapped update with 64-wide and larger layers: the computation never
#: completes, every worker thread idle (reproduced 5/5 with hopper, num_envs 128, 2x64;
#: 0 hangs with this flag). It must be in the environment before JAX starts its backend.
XLA_CPU_FLAGS = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",)


def with_xla_cpu_flags(flags: str) -> str:
    """``flags`` (an XLA_FLAGS value) plus :data:`XLA_CPU_FLAGS` where not already set."""
    out = flags.split()
    for f in XLA_CPU_FLAGS:
        if f.split("=")[0] not in {x.split("=")[0] for x in out}:
            out.append(f)
    return " ".join(out)


def add_xla_cpu_flags() -> None:
    """Put :data:`XLA_CPU_FLAGS` into this process's XLA_FLAGS (before JAX starts its backend)."""
    os.environ["XLA_FLAGS"] = with_xla_cpu_flags(os.environ.get("XLA_FLAGS", ""))


def setup_jax(cache_dir: str | None = None, render: bool = False):
    """Start of every simulating job: MuJoCo's GL backend (``render``: this job draws frames;
    see ``base.gl``), XLA CPU flags and the persistent compilation cache shared by every job
    of a run (RETLAND_JAX_CACHE). Call it before anything imports brax or mujoco."""
    from .base.gl import configure_mujoco_gl

    configure_mujoco_gl(render=render, log=log)
    add_xla_cpu_flags()
    import jax

    cache_dir = cache_dir or os.environ.get("RETLAND_JAX_CACHE")
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return jax


def train_job(env_name: str, algo: str, seeds, backend: str, episode_length: int, train: dict,
              agent_overrides: dict, out_paths, config_record: dict | None = None,
              resume_every_minutes: float = 10.0, env_kwargs: dict | None = None) -> dict:
    """E1: train ``seeds`` of (env, algo) vmapped in one process; one HDF5 file per seed.
    ``env_kwargs``: the task variant (Brax constructor arguments; config ``env_kwargs.<env>``)."""
    setup_jax()
    from .agents import get_agent
    from .base.envs import make_env
    from .training import train
    agent = get_agent(algo)
    cfg = agent.Config.from_dict(agent_overrides)
    env = make_env(env_name, backend, episode_length, env_kwargs)
    attrs = {
        "suite": env.spec.suite,
        "env": env_name,
        "env_kwargs": env.env_kwargs,
        "algo": algo,
        "backend": backend,
        "episode_length": episode_length,
        "total_steps": train["total_steps"],
        "checkpoint_steps": sorted(train["checkpoints"]),
        "agent_config": cfg.to_dict(),
        "provenance": provenance.record(config_record, backend=backend),
    }
    summary = train(
        agent, env, cfg, seeds, train["total_steps"], train["checkpoints"], out_paths, attrs,
        max_chunk=train["max_chunk_steps"], log=log,
        resume_every=60.0 * resume_every_minutes,
    )
    if summary["resumed_from"]:
        log(f"[train] resumed from step {summary['resumed_from']}")
    log(f"[train] done in {summary['wall_seconds']:.1f}s "
        f"({summary['steps_per_second_per_seed']:.0f} env-steps/s per seed); "
        f"final deterministic returns {[round(r, 1) for r in summary['final_eval_returns']]}")
    return summary


def sample_key(sample_seed: int, seed: int, step: int):
    import jax

    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(sample_seed), seed), step)


class CheckpointSource:
    """One training file opened for analysis: agent, config, environment, full replay
    log on the device (one shape for every checkpoint, so one compiled estimator), and
    the agent state of any checkpoint."""

    def __init__(self, train_path: str):
        import json

        import jax

        from .agents import get_agent
        from .base.checkpoints import TrainFile
        from .base.envs import make_env
        from .base.replay import from_numpy

        self.path = train_path
        with TrainFile(train_path) as tf:
            self.attrs = tf.attrs
            self.steps = tf.checkpoint_steps
            replay_file = self.attrs.get("replay_file")  # a BC student's data: its teacher run's log
        with TrainFile(replay_file or train_path) as tf:
            n_rows = tf.n_replay_rows  # 0 for on-policy agents (PPO): no replay log
            replay = tf.replay(0, n_rows) if n_rows else None
        self.agent = get_agent(self.attrs["algo"])
        self.cfg = self.agent.Config.from_dict(json.loads(self.attrs["agent_config"]))
        self.env_kwargs = json.loads(self.attrs.get("env_kwargs", "{}"))  # files before task variants: {}
        self.env = make_env(self.attrs["env"], self.attrs["backend"], int(self.attrs["episode_length"]),
                            self.env_kwargs)
        spec = self.env.spec
        self.template = jax.eval_shape(
            lambda k: self.agent.init(k, spec.obs_dim, spec.act_dim, self.cfg), jax.random.PRNGKey(0)
        )
        self.replay = from_numpy(replay) if replay is not None else None

    def checkpoint(self, step: int):
        """(agent state, (lo, hi)): rows [lo, hi) of the replay are the buffer at ``step``."""
        from .base.checkpoints import TrainFile

        with TrainFile(self.path) as tf:
            state, ck = tf.checkpoint(step, self.template)
        return state, (int(ck["replay_lo"]), int(ck["replay_hi"]))


def post_update_job(train_path: str, seed: int, steps, n_samples: int, horizon: int,
                    chunk_size: int, sample_seed: int, out_paths, config_record: dict | None = None):
    """E2 (Sec. 3.1): N post-update returns of each checkpoint ``steps`` of one training run."""
    jax = setup_jax()
    from .analyses.post_update import make_estimator, post_update_returns
    from .base.checkpoints import write_post_update

    t_job = time.time()
    src = CheckpointSource(train_path)
    a = src.attrs
    estimator = make_estimator(src.agent, src.env, src.cfg, horizon)
    start = src.env.reference_state()
    for step, out_path in zip(steps, out_paths):
        t0 = time.time()
        state, (lo, hi) = src.checkpoint(step)
        log(f"[post_update] {a['env']}/{a['algo']} seed {seed} step {step}: N={n_samples}, "
            f"horizon={horizon}, buffer rows [{lo}, {hi}), backend={a['backend']}")
        key = sample_key(sample_seed, seed, step)
        if "teacher_step" in a:  # BC students of one run: one key per (teacher, student step)
            key = jax.random.fold_in(key, int(a["teacher_step"]))
        returns, lengths = post_update_returns(
            src.agent, src.env, src.cfg, state, src.replay, lo, hi, n_samples, horizon, chunk_size,
            key, start_state=start, log=log, estimator=estimator,
        )
        write_post_update(out_path, returns, lengths, {
            **{k: a[k] for k in ("teacher_algo", "teacher_step", "teacher_file") if k in a},
            "update_kind": src.agent.UPDATE_KIND,
            "learning_rate": getattr(src.cfg, "learning_rate", float("nan")),
            "noise_scale": 0.0,
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
            "train_file": os.path.relpath(train_path),
            "provenance": provenance.record(config_record, backend=a["backend"]),
        })
        log(f"[post_update] step {step} done in {time.time() - t0:.1f}s: mean {returns.mean():.1f}, "
            f"std {returns.std():.1f}, non-finite {int((~np.isfinite(returns)).sum())}")
    log(f"[post_update] job done in {time.time() - t_job:.1f}s")


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
