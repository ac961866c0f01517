"""Same config and seed, same numbers on every x86-64 CPU (docs/numbers-that-travel.md).

XLA compiles its CPU code for the host's instruction set: an AVX-512 machine and an AVX2
machine round differently (other vector widths, other fused multiply-adds, other
reduction orders), and RL training turns a last-bit difference into another policy within
a few thousand steps. Every job, test and benchmark therefore caps XLA's CPU instruction set
at one level that every x86-64 CPU a researcher uses has: ``--xla_cpu_max_isa=AVX2``
(:data:`DEFAULT_ISA`; measured against the other levels in docs/numbers-that-travel.md), and
turns off the two parts of XLA:CPU that choose code by the host CPU at run time or by platform
(:data:`CONSISTENCY_FLAGS`). The setting is
``RETLAND_XLA_CPU_ISA``: an XLA level (``SSE4_2``, ``AVX``, ``AVX2``, ``AVX512``, ...), or
``native`` to let XLA use everything the host has (faster on some hosts, numbers that
only hold on the same kind of CPU). The same setting caps oneDNN's run-time dispatch
(``ONEDNN_MAX_CPU_ISA``, :data:`ONEDNN_ISA`), which runs XLA:CPU's matrix products. An explicit ``--xla_cpu_max_isa`` in ``XLA_FLAGS`` wins
over both. Where the CPU is not x86-64 the flag is not set (XLA's levels are x86 names).

:func:`machine` is the machine line of every output's provenance; the tiny TD3 run whose
checksums ``tests/test_portability.py`` pins as literals is :mod:`retland.fingerprint`
(``python -m retland.fingerprint``).

No JAX import (jax/jaxlib versions are read from the installed packages' metadata): the flags
must be in the environment before JAX starts. Imports nothing of ``retland``: provenance,
runtime and the tools import it.
"""

from __future__ import annotations

import functools
import os
import platform
from importlib import metadata

#: the environment variable that chooses XLA's CPU instruction set (docs/numbers-that-travel.md)
ISA_ENV = "RETLAND_XLA_CPU_ISA"
#: AVX2 (with FMA): every x86-64 CPU sold for desktops, laptops and servers since 2013-2015
#: (Intel Haswell, AMD Zen/Excavator) has it; measured to cost nothing here
#: (docs/numbers-that-travel.md)
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


#: the other two sources of CPU-dependent bits found (docs/numbers-that-travel.md), pinned
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


#: the environment variable that caps the threads XLA's CPU client computes with (unset: one
#: per core this process may run on, XLA's default; ``runtime.start_cpu_backend`` applies it).
#: Large products (the Atari CNN's) change their last bits with the thread count, so the
#: workflow sets it to 1 for every job (workflow/rules/common.smk; docs/numbers-that-travel.md).
THREADS_ENV = "RETLAND_XLA_CPU_THREADS"


def threads_setting(environ=None) -> int | None:
    """``RETLAND_XLA_CPU_THREADS`` as a positive integer, or None where unset (XLA's default)."""
    environ = os.environ if environ is None else environ
    raw = environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{THREADS_ENV}={raw!r} must be a positive integer (the threads XLA's CPU client uses), "
                         "or unset for one per core")
    return int(raw)


def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cores_threads(m: dict) -> str:
    """``2 threads`` (XLA's default, one thread per core), or ``2 cores, XLA on 1 thread``
    where RETLAND_XLA_CPU_THREADS capped it (machine lines written before the cap: threads)."""
    cores, threads = m.get("cores"), m.get("threads")
    if cores is None or cores == threads:
        return f"{threads} threads"
    return f"{cores} cores, XLA on {threads} thread{'s' if threads != 1 else ''}"


def cpu_threads(environ=None) -> int:
    """The threads XLA's CPU client computes with: one per core this process may run on (XLA
    sizes its thread pool from them), at most ``RETLAND_XLA_CPU_THREADS``."""
    cores = cpu_cores()
    cap = threads_setting(environ)
    return cores if cap is None else min(cores, cap)


@functools.lru_cache(maxsize=None)
def package_versions(packages: tuple) -> dict:
    """Installed version of each of ``packages`` (package metadata; nothing is imported),
    absent where not installed. ``provenance.versions()`` records every package this way."""
    out = {}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def machine() -> dict:
    """The machine line of every output's provenance and of the archive's platform.json."""
    v = package_versions(("jax", "jaxlib"))
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
        "cores": cpu_cores(),
        "threads": cpu_threads(),
    }


def machine_line(m: dict | None = None) -> str:
    """One line for logs and summaries: CPU, threads, instruction set, jax."""
    m = m or machine()
    return (f"{m['cpu_model']} ({m['arch']}, {cores_threads(m)}), XLA CPU ISA {m['xla_cpu_max_isa']} "
            f"(setting {m['isa_setting']}), jax {m['jax']} / jaxlib {m['jaxlib']}")
