"""Process set-up of every job, test and tool: logging to the rule's log, the XLA flags,
JAX (GL backend, flags, persistent compilation cache) and the frames a job draws.

Importing this module imports no JAX (nor anything that does): the workflow calls
:func:`add_xla_cpu_flags` while Snakemake parses the rules, and the flags must be in the
environment before JAX starts its backend. JAX, MuJoCo and the renderer are imported inside
:func:`setup_jax` and :func:`render_frames`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

from .portability import isa_flags, onednn_env


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

#: XLA flags that shorten compilation without changing a bit: LLVM's optional expensive passes
#: off. Half of a default-run job is compilation (docs/profile.md, section 4); this takes 5-8%
#: off it (TD3 chunk 18.4 -> 16.9 s, PPO post-update 18.1 -> 17.2 s) with the same returns,
#: training checksums (tests/test_portability.py pins them) and training speed (1,936 against
#: 1,938 env-steps/s). LLVM keeps IEEE semantics without fast-math flags, so no pass it skips
#: could have changed a result.
COMPILE_FLAGS = ("--xla_llvm_disable_expensive_passes=true",)


def xla_cpu_flags(environ=None) -> tuple[str, ...]:
    """The XLA flags of every job, test and benchmark: :data:`SCHEDULER_FLAGS`,
    :data:`COMPILE_FLAGS` and the instruction-set cap of ``RETLAND_XLA_CPU_ISA`` (default ``--xla_cpu_max_isa=AVX2``: same
    numbers on every x86-64 CPU; ``native`` opts out; see :mod:`retland.portability`)."""
    return SCHEDULER_FLAGS + COMPILE_FLAGS + isa_flags(environ)


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
    os.environ["XLA_FLAGS"] = with_xla_cpu_flags(os.environ.get("XLA_FLAGS", ""))
    os.environ.update(onednn_env())


def start_cpu_backend(threads: int | None = None) -> int | None:
    """Start JAX's backends with XLA's CPU client computing on at most ``threads`` threads
    (default: ``RETLAND_XLA_CPU_THREADS``; None leaves XLA's default, one per core).

    XLA sizes the CPU client's thread pool from the cores the starting thread may run on and
    has no flag for it, so the calling thread is held to ``threads`` cores while the client
    starts, and every thread of the process gets all its cores back right after: the pool
    keeps ``threads`` workers, which the OS moves between cores freely. Small networks and
    brax's small ops gain from fewer threads on a busy or shared CPU (docs/profile.md:
    a second worker thread mostly hands ops back and forth). The thread count changes the last
    bits of large products (the Atari CNN's; docs/numbers-that-travel.md). Returns
    the threads in effect, or None where nothing was capped (setting unset, no more cores
    than asked, no ``sched_setaffinity``, or the backends already started: a note is logged)."""
    from .portability import threads_setting

    threads = threads_setting() if threads is None else int(threads)
    if threads is None or not hasattr(os, "sched_setaffinity"):
        return None
    import jax
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        log(f"XLA's CPU client is already running: {threads} thread(s) not applied")
        return None
    allowed = os.sched_getaffinity(0)
    if threads >= len(allowed):
        return None
    os.sched_setaffinity(0, sorted(allowed)[:threads])
    try:
        jax.devices()  # the CPU client creates its thread pools now
    finally:
        for tid in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(tid), allowed)
            except OSError:  # a thread that has just ended
                pass
    return threads


def setup_jax(cache_dir: str | None = None, render: bool = False):
    """Start of every simulating job: MuJoCo's GL backend (``render``: this job draws frames;
    see ``base.gl``), XLA CPU flags, the CPU client's threads (``RETLAND_XLA_CPU_THREADS``,
    :func:`start_cpu_backend`) and the persistent compilation cache shared by every job of a
    run (RETLAND_JAX_CACHE). Call it before anything imports brax or mujoco."""
    from .base.gl import configure_mujoco_gl

    configure_mujoco_gl(render=render, log=log)
    add_xla_cpu_flags()
    import jax

    cache_dir = cache_dir or os.environ.get("RETLAND_JAX_CACHE")
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        # every program, the small ones too: a default-run job compiles 50-190 programs, most
        # of them under 0.5 s (1,386 of them, 24 s in all in one run; docs/profile.md section 4),
        # and the same ones again in the next job; a cached executable loads in less (a SAC post-update
        # job after a TD3 one: 10.6-10.9 s against 11.1-11.7 s with the former 0.5 s threshold)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    start_cpu_backend()
    return jax


def render_frames(env, poses, steps, render: dict):
    """(frames, renderer name): the recorded ``poses`` at ``steps`` drawn at the config's
    ``render`` size (``base.render``; the GL backend chosen by ``setup_jax(render=True)``)."""
    from .base.render import poses_at, render as draw

    return draw(env.sys, poses_at(poses, steps), render["width"], render["height"], log=log)
