"""Provenance carried by every output: config, package versions, git commit, backend."""

from __future__ import annotations

import datetime
import functools
import json
import os
import platform
import subprocess
import sys
from .portability import machine, package_versions

PACKAGES = (
    "retland", "jax", "jaxlib", "flax", "optax", "brax", "mujoco", "numpy", "scipy",
    "h5py", "pandas", "matplotlib", "rliable", "snakemake",
)


@functools.lru_cache(maxsize=1)
def versions() -> dict:
    return {"python": sys.version.split()[0], **package_versions(PACKAGES)}


def git_commit(repo: str | None = None) -> str:
    """HEAD of the git repository at ``repo`` (default: this package's checkout), with
    ``-dirty`` when tracked files have changes; 'unknown' outside a repository."""
    repo = repo or os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=30
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo, capture_output=True, text=True, timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown"
    return commit + ("-dirty" if dirty else "")


@functools.lru_cache(maxsize=1)
def _own_commit() -> str:
    return git_commit()


def jax_backend() -> str:
    """The JAX platform actually used (cpu/gpu/tpu), without importing JAX if unused."""
    if "jax" not in sys.modules:
        return "none"
    import jax

    return jax.default_backend()


def record(config: dict | None = None, **extra) -> dict:
    """The provenance dict stored as JSON in every output's attributes."""
    return {
        "config": config or {},
        "versions": versions(),
        "git_commit": _own_commit(),
        "jax_platform": jax_backend(),
        "host": platform.node(),
        "platform": platform.platform(),
        "machine": machine(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def to_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def sidecar_path(path: str) -> str:
    """Where the provenance of a table ``path`` goes: ``<stem>.provenance.json`` beside it."""
    return os.path.splitext(path)[0] + ".provenance.json"


def write_csv(df, path: str, prov: dict | None = None) -> None:
    """``df`` to ``path`` atomically, and its provenance (when given) to :func:`sidecar_path`."""
    from .base.atomic import atomic_path, write_text

    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    if prov is not None:
        write_text(sidecar_path(path), to_json(prov) + "\n")
