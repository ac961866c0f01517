"""Same config and seed, same numbers on every x86-64 CPU (README "Numbers that travel").

XLA compiles its CPU code for the host's instruction set: an AVX-512 machine and an AVX2
machine round differently (other vector widths, other fused multiply-adds, other
reduction orders), and RL training turns a last-bit difference into another policy within
a few thousand steps. Every job, test and benchmark therefore caps XLA's CPU instruction set
at one level that every x86-64 CPU a researcher uses has: ``--xla_cpu_max_isa=AVX2``
(:data:`DEFAULT_ISA`; measured against the other levels in the README), and turns off the
two parts of XLA:CPU that choose code by the host CPU at run time or by platform
(:data:`CONSISTENCY_FLAGS`). The setting is
``RETLAND_XLA_CPU_ISA``: an XLA level (``SSE4_2``, ``AVX``, ``AVX2``, ``AVX512``, ...), or
``native`` to let XLA use everything the host has (faster on some hosts, numbers that
only hold on the same kind of CPU). The same setting caps oneDNN's run-time dispatch
(``ONEDNN_MAX_CPU_ISA``, :data:`ONEDNN_ISA`), which runs XLA:CPU's matrix products. An explicit ``--xla_cpu_max_isa`` in ``XLA_FLAGS`` wins
over both. Where the CPU is not x86-64 the flag is not set (XLA's levels are x86 names).

:func:`machine` is the machine line of every output's provenance; :func:`fingerprint`
(``python -m retland.portability``) is the tiny TD3 run whose checksums
``tests/test_portability.py`` pins as literals.

No JAX import at module level: the flags must be in the environment before JAX starts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys

#: the environment variable that chooses XLA's CPU instruction set (README "Numbers that travel")
ISA_ENV = "RETLAND_XLA_CPU_ISA"
#: AVX2 (with FMA): every x86-64 CPU sold for desktops, laptops and servers since 2013-2015
#: (Intel Haswell, AMD Zen/Excavator) has it; measured to cost nothing here (README)
DEFAULT_ISA = "AVX2"
#: XLA's names for ``--xla_cpu_max_isa`` on x86-64 (xla/service/cpu/cpu_options / tsl cpu_info)
X86_ISAS = ("SSE4_2", "AVX", "AVX2", "AVX512", "AVX512_VNNI", "AVX512_BF16", "AMX", "AVX_VNNI")
NATIVE = "native"
ISA_FLAG = "--xla_cpu_max_isa"


def is_x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def isa_setting(environ=None) -> str:
    """The chosen setting: ``RETLAND_XLA_CPU_ISA`` (upper-cased XLA level, or ``native``),
    default :data:`DEFAULT_ISA`. A value XLA does not know is refused with the list."""
    environ = os.environ if environ is None else environ
    raw = environ.get(ISA_ENV, "").strip()
    if not raw:
        return DEFAULT_ISA
    if raw.lower() == NATIVE:
        return NATIVE
    isa = raw.upper()
    if isa not in X86_ISAS:
        raise ValueError(f"{ISA_ENV}={raw!r} is not an XLA CPU instruction set: use one of "
                         f"{', '.join(X86_ISAS)} or {NATIVE!r}")
    return isa


#: the other two sources of CPU-dependent bits found (README "Numbers that travel"), pinned
#: with the instruction set: XLA's platform-dependent math (its own help: "faster code at the
#: expense of consistent results across CPUs") and YNNPACK fusions (dots and elementwise ops
#: run by XNNPACK's YNNPACK, whose kernels are chosen at run time from the host's CPUID, so
#: ``--xla_cpu_max_isa`` does not reach them; an empty list turns them off)
CONSISTENCY_FLAGS = ("--xla_cpu_enable_platform_dependent_math=false", "--xla_cpu_experimental_ynn_fusion_type=")


#: oneDNN's name for each XLA level: XLA:CPU's dots run through Eigen, whose contraction
#: kernel is oneDNN's sgemm, which picks its JIT kernel (AVX-512 or AVX2 ...) from the host's
#: CPUID at run time, out of ``--xla_cpu_max_isa``'s reach; ``ONEDNN_MAX_CPU_ISA`` caps it
ONEDNN_ISA = {"SSE4_2": "SSE41", "AVX": "AVX", "AVX2": "AVX2", "AVX512": "AVX512_CORE",
              "AVX512_VNNI": "AVX512_CORE_VNNI", "AVX512_BF16": "AVX512_CORE_BF16", "AMX": "AVX512_CORE_AMX",
              "AVX_VNNI": "AVX2_VNNI"}
ONEDNN_ENV = "ONEDNN_MAX_CPU_ISA"


def onednn_env(environ=None) -> dict:
    """The environment variables this setting adds: ``ONEDNN_MAX_CPU_ISA`` (x86-64, not
    ``native``); none where the user set it already."""
    environ = os.environ if environ is None else environ
    isa = isa_setting(environ)
    if isa == NATIVE or not is_x86_64() or environ.get(ONEDNN_ENV) or environ.get("DNNL_MAX_CPU_ISA"):
        return {}
    return {ONEDNN_ENV: ONEDNN_ISA[isa]}


def isa_flags(environ=None) -> tuple[str, ...]:
    """The flags this setting adds: ``--xla_cpu_max_isa=<level>`` (x86-64 only) and
    :data:`CONSISTENCY_FLAGS`; none for ``native``."""
    isa = isa_setting(environ)
    if isa == NATIVE:
        return ()
    return ((f"{ISA_FLAG}={isa}",) if is_x86_64() else ()) + CONSISTENCY_FLAGS


def effective_isa(environ=None) -> str:
    """What XLA compiles for in this process: the level of an ``--xla_cpu_max_isa`` in
    XLA_FLAGS, else ``native`` (with why, where it is not the user's choice)."""
    environ = os.environ if environ is None else environ
    for f in environ.get("XLA_FLAGS", "").split():
        if f.split("=")[0] == ISA_FLAG:
            return f.split("=", 1)[1] if "=" in f else ""
    if not is_x86_64():
        return f"native ({platform.machine()}: not x86-64)"
    return NATIVE


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo; platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                if key.strip() in ("model name", "Processor", "cpu model", "uarch"):
                    return val.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@functools.lru_cache(maxsize=1)
def cpu_isa_features() -> list[str]:
    """The x86 vector extensions the host has (the ones XLA's levels are made of)."""
    want = ("sse4_2", "avx", "fma", "avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "avx_vnni")
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [w for w in want if w in have]
    except OSError:
        pass
    return []


def cpu_threads() -> int:
    """The cores this process may run on (XLA sizes its thread pool from them)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine() -> dict:
    """The machine line of every output's provenance and of the archive's platform.json."""
    from .provenance import versions  # stdlib only, imported here: provenance imports this module

    v = versions()
    return {
        "cpu_model": cpu_model(),
        "arch": platform.machine(),
        "cpu_features": cpu_isa_features(),
        "isa_setting": isa_setting(),
        "xla_cpu_max_isa": effective_isa(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "onednn_max_cpu_isa": os.environ.get(ONEDNN_ENV) or os.environ.get("DNNL_MAX_CPU_ISA") or "native",
        "jax": v.get("jax"),
        "jaxlib": v.get("jaxlib"),
        "threads": cpu_threads(),
    }


def machine_line(m: dict | None = None) -> str:
    """One line for logs and summaries: CPU, threads, instruction set, jax."""
    m = m or machine()
    return (f"{m['cpu_model']} ({m['arch']}, {m['threads']} threads), XLA CPU ISA {m['xla_cpu_max_isa']} "
            f"(setting {m['isa_setting']}), jax {m['jax']} / jaxlib {m['jaxlib']}")


# ---------------------------------------------------------------------------------------
# the fingerprint run (tests/test_portability.py, make bench)
# ---------------------------------------------------------------------------------------
#: the tiny TD3 run whose bits the portability test pins: hopper (spring, no termination),
#: 32x32 networks, 2,000 environment steps (1,500 updates), then N = 16 post-update returns
FINGERPRINT = dict(env="hopper", hidden=(32, 32), batch_size=64, learning_starts=500, total_steps=2000,
                   episode_length=200, n_samples=16, horizon=200, seed=0, sample_seed=0)


def tree_sha256(tree) -> str:
    """sha256 of every leaf's bytes (little-endian, in tree order), shapes and dtypes included."""
    import jax
    import numpy as np

    h = hashlib.sha256()
    for x in jax.tree_util.tree_leaves(tree):
        a = np.ascontiguousarray(np.asarray(x))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def fingerprint(out_dir: str, **overrides) -> dict:
    """Train :data:`FINGERPRINT` (a tiny TD3 run), estimate one post-update distribution of
    its last checkpoint, and return the checksums of its parameters and returns, a few
    statistics and the machine. Same bits on every x86-64 CPU under the pinned ISA."""
    from .jobs import setup_jax

    jax = setup_jax()
    import numpy as np

    from . import stats as S
    from .agents import get_agent
    from .analyses.post_update import post_update_returns
    from .base.envs import make_env
    from .jobs import CheckpointSource, sample_key
    from .training import train

    p = {**FINGERPRINT, **overrides}
    agent = get_agent("td3")
    cfg = agent.Config(hidden=tuple(p["hidden"]), batch_size=p["batch_size"], learning_starts=p["learning_starts"])
    env_kwargs = {"terminate_when_unhealthy": False}
    env = make_env(p["env"], "spring", p["episode_length"], env_kwargs)
    path = os.path.join(out_dir, "seed0.h5")
    attrs = {"suite": "brax", "env": p["env"], "algo": "td3", "backend": "spring",
             "episode_length": p["episode_length"], "env_kwargs": json.dumps(env_kwargs),
             "total_steps": p["total_steps"], "checkpoint_steps": [p["total_steps"]],
             "agent_config": cfg.to_dict()}
    summary = train(agent, env, cfg, [p["seed"]], p["total_steps"], [p["total_steps"]], [path], attrs,
                    max_chunk=p["total_steps"], log=lambda m: None)
    src = CheckpointSource(path)
    state, (lo, hi) = src.checkpoint(p["total_steps"])
    returns, _ = post_update_returns(src.agent, src.env, src.cfg, state, src.replay, lo, hi, p["n_samples"],
                                     p["horizon"], p["n_samples"], sample_key(p["sample_seed"], p["seed"],
                                                                              p["total_steps"]),
                                     log=lambda m: None)
    return {
        "params_sha256": tree_sha256(agent.policy_params(state)),
        "state_sha256": tree_sha256(state),
        "returns_sha256": hashlib.sha256(np.asarray(returns, "<f8").tobytes()).hexdigest(),
        "final_return": float(summary["final_eval_returns"][0]),
        "mean": float(S.mean(returns)),
        "std": float(S.std(returns)),
        "ltp": float(S.ltp(returns)),
        "min": float(np.min(returns)),
        "machine": machine(),
    }


def main(argv=None) -> None:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description="The portability fingerprint: a tiny TD3 run and one post-update "
                                             "distribution; prints checksums and statistics as JSON (the last "
                                             "line of standard output).")
    ap.add_argument("--steps", type=int, default=FINGERPRINT["total_steps"])
    ap.add_argument("--hidden", type=int, nargs="+", default=list(FINGERPRINT["hidden"]))
    args = ap.parse_args(argv)
    from .jobs import add_xla_cpu_flags

    add_xla_cpu_flags()
    with tempfile.TemporaryDirectory() as d:
        out = fingerprint(d, total_steps=args.steps, hidden=tuple(args.hidden))
    # one line, last: imports (brax, mujoco) may print to stdout before it
    print(json.dumps(out, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
