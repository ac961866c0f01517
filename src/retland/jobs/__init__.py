"""Job entry points: one module per experiment (``jobs.<experiment>``, called by the
workflow scripts with keyword arguments), and here what every job shares: logging to the
rule's log, JAX set-up, training files opened for analysis.

Each job does one rule's work: read its inputs, call the science (``retland.analyses``),
write its outputs atomically with provenance. JAX is imported only by jobs that simulate.
"""

from __future__ import annotations

import json
import contextlib
import os
import sys
import time



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


#: XLA flags every CPU job needs, whatever the instruction-set setting. XLA's
#: concurrency-optimized CPU scheduler (jax 0.10) deadlocks on PPO's vmapped update with
#: 64-wide and larger layers: the computation never completes, every worker thread idle
#: (reproduced 5/5 with hopper, num_envs 128, 2x64; 0 hangs with this flag).
SCHEDULER_FLAGS = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",)


def xla_cpu_flags(environ=None) -> tuple[str, ...]:
    """The XLA flags of every job, test and benchmark: :data:`SCHEDULER_FLAGS` and the
    instruction-set cap of ``RETLAND_XLA_CPU_ISA`` (default ``--xla_cpu_max_isa=AVX2``: same
    numbers on every x86-64 CPU; ``native`` opts out; see :mod:`retland.portability`)."""
    from ..portability import isa_flags

    return SCHEDULER_FLAGS + isa_flags(environ)


#: the flags under the default setting (AVX2 on x86-64)
XLA_CPU_FLAGS = xla_cpu_flags({})


def with_xla_cpu_flags(flags: str, environ=None) -> str:
    """``flags`` (an XLA_FLAGS value) plus :func:`xla_cpu_flags` where not already set (a
    flag the user set, ``--xla_cpu_max_isa`` included, wins)."""
    out = flags.split()
    for f in xla_cpu_flags(environ):
        if f.split("=")[0] not in {x.split("=")[0] for x in out}:
            out.append(f)
    return " ".join(out)


def add_xla_cpu_flags() -> None:
    """Put :func:`xla_cpu_flags` into this process's XLA_FLAGS and the oneDNN cap
    (``portability.onednn_env``) into its environment, before JAX starts its backend; child
    processes (Snakemake's jobs, sbatch) inherit them."""
    from ..portability import onednn_env

    os.environ["XLA_FLAGS"] = with_xla_cpu_flags(os.environ.get("XLA_FLAGS", ""))
    os.environ.update(onednn_env())


def setup_jax(cache_dir: str | None = None, render: bool = False):
    """Start of every simulating job: MuJoCo's GL backend (``render``: this job draws frames;
    see ``base.gl``), XLA CPU flags and the persistent compilation cache shared by every job
    of a run (RETLAND_JAX_CACHE). Call it before anything imports brax or mujoco."""
    from ..base.gl import configure_mujoco_gl

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


def sample_key(sample_seed: int, seed: int, step: int):
    import jax

    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(sample_seed), seed), step)


class CheckpointSource:
    """One training file opened for analysis: agent, config, environment, full replay
    log on the device (one shape for every checkpoint, so one compiled estimator), and
    the agent state of any checkpoint."""

    def __init__(self, train_path: str):
        import jax

        from ..agents import get_agent
        from ..base.checkpoints import TrainFile
        from ..base.envs import make_env
        from ..base.replay import from_numpy

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
        from ..base.checkpoints import TrainFile

        with TrainFile(self.path) as tf:
            state, ck = tf.checkpoint(step, self.template)
        return state, (int(ck["replay_lo"]), int(ck["replay_hi"]))


class Sources:
    """Training files opened once each (CheckpointSource is costly: it loads the replay)."""

    def __init__(self, pattern: str):
        self.pattern, self.cache = pattern, {}

    def __call__(self, algo: str, seed: int):
        path = self.pattern.format(algo=algo, seed=int(seed))
        if path not in self.cache:
            self.cache[path] = CheckpointSource(path)
        return self.cache[path]


def render_frames(env, poses, steps, render_cfg: dict):
    from ..base.render import poses_at, render

    return render(env.sys, poses_at(poses, steps), render_cfg["width"], render_cfg["height"], log=log)


def seed_of_path(path: str) -> int:
    base = os.path.basename(path)
    if not (base.startswith("seed") and base.endswith(".h5")):
        raise ValueError(f"training file {path!r} is not named seed<N>.h5")
    return int(base[4:-3])


class Policies:
    """Policy parameters of any (seed, step) of one (env, algo): one CheckpointSource for
    the agent, config and environment (the first file), plain checkpoint reads otherwise."""

    def __init__(self, train_paths):
        self.paths = {seed_of_path(p): p for p in train_paths}
        first = sorted(self.paths)[0]
        self.src = CheckpointSource(self.paths[first])
        self._sources = {first: self.src}

    def source(self, seed: int):
        seed = int(seed)
        if seed not in self.paths:
            raise ValueError(f"no training file for seed {seed} (have {sorted(self.paths)})")
        if seed not in self._sources:
            self._sources = {seed: CheckpointSource(self.paths[seed])}  # one replay in memory
        return self._sources[seed]

    def theta(self, seed: int, step: int):
        from ..base.checkpoints import TrainFile

        with TrainFile(self.paths[int(seed)]) as tf:
            state, _ = tf.checkpoint(int(step), self.src.template)
        return self.src.agent.policy_params(state)
