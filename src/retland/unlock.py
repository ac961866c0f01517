"""Remove the stale Snakemake lock a killed run left behind (``make run`` calls this first).

A run killed with SIGKILL (a laptop sleep, the OOM killer, ``kill -9`` of its process
group) leaves ``.snakemake/locks/*.lock``, and the next ``snakemake`` stops with a
``LockException`` that a new user does not know how to clear (``--unlock``). This removes
those files, saying so, but only when no Snakemake process works in this directory; if one
does, its lock is left alone (two runs must not write the same outputs). Snakemake's
``--rerun-incomplete`` logic is untouched: outputs of jobs that were running when the run
was killed are still detected as incomplete and re-made.

    python -m retland.unlock [DIR]      # DIR: the workflow directory (default: .)
"""

from __future__ import annotations

import glob
import os
import sys


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _is_snakemake(argv: list[str]) -> bool:
    """A Snakemake command line: the ``snakemake`` program, or ``python -m snakemake``."""
    if any(os.path.basename(a) == "snakemake" for a in argv[:2]):
        return True
    return any(argv[i] == "-m" and argv[i + 1] == "snakemake" for i in range(len(argv) - 1))


def snakemake_processes(workdir: str) -> list[int] | None:
    """PIDs of Snakemake processes whose working directory is ``workdir`` (None: cannot tell,
    e.g. no /proc)."""
    if not os.path.isdir("/proc/self"):
        return None
    workdir = os.path.realpath(workdir)
    mine, found = _ancestors(), []
    for d in glob.glob("/proc/[0-9]*"):
        pid = int(os.path.basename(d))
        if pid in mine:
            continue
        try:
            with open(f"{d}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            if _is_snakemake(argv) and os.path.realpath(os.readlink(f"{d}/cwd")) == workdir:
                found.append(pid)
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def remove_stale_lock(workdir: str = ".", log=print) -> bool:
    """Remove ``workdir/.snakemake/locks/*`` if no Snakemake runs there; True if removed."""
    locks = sorted(glob.glob(os.path.join(workdir, ".snakemake", "locks", "*")))
    if not locks:
        return False
    alive = snakemake_processes(workdir)
    if alive is None:
        log("[unlock] a Snakemake lock exists and this system has no /proc to check for a live run; "
            "if no run is going on here, remove it with: snakemake --unlock")
        return False
    if alive:
        log(f"[unlock] Snakemake is running in this directory (pid {', '.join(map(str, alive))}): "
            f"its lock is left in place")
        return False
    for p in locks:
        os.remove(p)
    log(f"[unlock] removed the stale lock of a run that was killed ({len(locks)} file(s) in "
        f".snakemake/locks; no Snakemake process runs here); unfinished jobs are re-run")
    return True


if __name__ == "__main__":
    remove_stale_lock(sys.argv[1] if len(sys.argv) > 1 else ".")
