"""Host-stepped environments: a batch of environments stepped in lockstep on the CPU.

Brax environments are pure JAX and live inside jitted code; DeepMind Control (C MuJoCo
through dm-control) and the ALE are stepped on the host. What every host-stepped suite
gives is one environment object per copy (:class:`HostEnv`); what the shared code uses is a
:class:`HostBatch` of them: ``n`` copies stepped together, one numpy array of actions in,
one array of observations, rewards and termination flags out. The copies are spread over
``workers`` processes (each steps a contiguous block of copies), or stepped in this
process when ``workers <= 1``; both give the same numbers (tests/base/test_dmc.py).

A host environment's whole state (simulator and random number generator) is a float64
vector (``snapshot``/``restore``): the reference state s_I is one snapshot copied into every
environment of a rollout batch, and a training job's resume point stores one per seed.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import traceback
from typing import Callable, Protocol, Sequence

import numpy as np


class HostEnv(Protocol):
    """One copy of a host-stepped task (lives in a worker process)."""

    obs_dim: int
    act_dim: int

    def reset(self) -> np.ndarray:
        """A training initial state drawn from rho_0 with this copy's own random stream;
        returns the observation."""

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool]:
        """(next observation, reward, terminated); ``action`` in [-1, 1]^act_dim. Time
        limits are the caller's business."""

    def snapshot(self) -> np.ndarray:
        """The complete state (simulator and random stream) as a float64 vector."""

    def restore(self, snap: np.ndarray) -> np.ndarray:
        """Set the state from :meth:`snapshot`'s vector; returns the observation."""


class _Block:
    """Copies ``[lo, hi)`` of a batch, stepped in one process."""

    def __init__(self, make: Callable[[int], HostEnv], indices: Sequence[int]):
        self.envs = [make(int(i)) for i in indices]

    def call(self, cmd: str, arg):
        envs = self.envs
        if cmd == "reset":  # arg: mask of the copies to reset
            return np.stack([e.reset() for e, m in zip(envs, arg) if m]) if np.any(arg) else None
        if cmd == "step":  # arg: (actions, mask of live copies)
            actions, live = arg
            out = [e.step(a) for e, a, m in zip(envs, actions, live) if m]
            if not out:
                return None
            return (np.stack([o[0] for o in out]), np.array([o[1] for o in out], np.float64),
                    np.array([o[2] for o in out], bool))
        if cmd == "snapshot":
            return np.stack([e.snapshot() for e in envs])
        if cmd == "restore":  # arg: one snapshot per copy
            return np.stack([e.restore(s) for e, s in zip(envs, arg)])
        raise ValueError(f"unknown command {cmd!r}")


def _serve(rfile, wfile):
    """A worker's loop: build its block, then answer commands until told to stop."""
    try:
        make, indices = pickle.load(rfile)
        block = _Block(make, indices)
        reply = ("ok", None)
    except BaseException:
        block, reply = None, ("error", traceback.format_exc())
    pickle.dump(reply, wfile, protocol=pickle.HIGHEST_PROTOCOL)
    wfile.flush()
    while block is not None:
        try:
            msg = pickle.load(rfile)
        except EOFError:
            return
        if msg is None:
            return
        try:
            reply = ("ok", block.call(*msg))
        except BaseException:
            reply = ("error", traceback.format_exc())
        pickle.dump(reply, wfile, protocol=pickle.HIGHEST_PROTOCOL)
        wfile.flush()


class _Worker:
    """One worker process (``python -m retland.base.host``): commands are pickled over its
    stdin, replies over a private copy of its stdout (its fd 1 goes to stderr, so nothing a
    simulator prints can corrupt a reply). A fresh interpreter, not a fork (JAX's threads
    make fork unsafe) and not multiprocessing's spawn (which re-runs the caller's script)."""

    def __init__(self, make, indices):
        import retland

        # the worker imports what this process imports: this package first, then this
        # process's path (where the factory's module lives)
        pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(retland.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([pkg_root] + [p for p in sys.path if p]))
        env["MUJOCO_GL"] = "disable"  # workers never render (and need no GL library)
        self.proc = subprocess.Popen([sys.executable, "-m", "retland.base.host"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)
        self.send((make, list(indices)))

    def send(self, msg):
        try:
            pickle.dump(msg, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise HostEnvError(f"host environment worker {self.proc.pid} is gone (exit code "
                               f"{self.proc.poll()}; see the log above)") from None

    def recv(self):
        try:
            status, val = pickle.load(self.proc.stdout)
        except EOFError:
            raise HostEnvError(f"host environment worker {self.proc.pid} died (exit code {self.proc.wait()}; "
                               "see the log above)") from None
        if status != "ok":
            raise HostEnvError(f"host environment worker failed:\n{val}")
        return val

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send(None)
                self.proc.stdin.close()
            except (HostEnvError, OSError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class HostEnvError(RuntimeError):
    pass


class HostBatch:
    """``n`` copies of a host-stepped task, stepped in lockstep.

    ``make(i)`` builds copy ``i`` (a picklable callable: workers build their own copies).
    Copies are split into ``workers`` contiguous blocks, one worker process each
    (:class:`_Worker`); with ``workers <= 1`` they are stepped in this process. Every method takes and returns arrays over all ``n`` copies; ``mask``
    arguments select the copies that act (the others are left untouched and their rows of
    the result are those given as ``fill``).
    """

    def __init__(self, make: Callable[[int], HostEnv], n: int, workers: int = 1):
        if n < 1:
            raise ValueError(f"a host batch needs n >= 1 copies, got {n}")
        self.n = n
        workers = max(1, min(int(workers), n))
        bounds = np.linspace(0, n, workers + 1).astype(int)
        self.blocks = [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]
        self._local = None
        self._workers = []
        if workers == 1:
            self._local = _Block(make, range(n))
        else:
            try:
                for lo, hi in self.blocks:
                    self._workers.append(_Worker(make, range(lo, hi)))
                for w in self._workers:
                    w.recv()
            except BaseException:
                self.close()
                raise
        self.workers = workers

    # --- plumbing ------------------------------------------------------------------
    def _call(self, cmd: str, split_arg) -> list:
        """Send each block its slice of ``split_arg`` (a function of (lo, hi)); results by block."""
        if self._local is not None:
            return [self._local.call(cmd, split_arg(0, self.n))]
        for w, (lo, hi) in zip(self._workers, self.blocks):
            w.send((cmd, split_arg(lo, hi)))
        return [w.recv() for w in self._workers]

    # --- the batch interface ----------------------------------------------------------
    def reset(self, mask: np.ndarray | None = None, fill: np.ndarray | None = None) -> np.ndarray:
        """Reset the copies of ``mask`` (all by default) to fresh training initial states;
        returns every copy's observation (``fill``'s rows for the others)."""
        mask = np.ones(self.n, bool) if mask is None else np.asarray(mask, bool)
        parts = self._call("reset", lambda lo, hi: mask[lo:hi])
        return self._merge(parts, mask, fill)

    def step(self, actions: np.ndarray, live: np.ndarray | None = None, fill_obs: np.ndarray | None = None):
        """Step the ``live`` copies (all by default) with their rows of ``actions``: (obs,
        reward, terminated) over all copies; copies not live get reward 0, terminated True
        and ``fill_obs``'s rows (zeros without it)."""
        actions = np.asarray(actions)
        live = np.ones(self.n, bool) if live is None else np.asarray(live, bool)
        parts = self._call("step", lambda lo, hi: (actions[lo:hi], live[lo:hi]))
        obs = rew = term = None
        for (lo, hi), part in zip(self.blocks, parts):
            if part is None:
                continue
            o, r, t = part
            if obs is None:
                obs = (np.zeros((self.n,) + o.shape[1:], o.dtype) if fill_obs is None else np.array(fill_obs))
                rew, term = np.zeros(self.n, np.float64), np.ones(self.n, bool)
            sel = np.arange(lo, hi)[live[lo:hi]]
            obs[sel], rew[sel], term[sel] = o, r, t
        if obs is None:
            raise ValueError("step with no live copy")
        return obs, rew, term

    def snapshot(self) -> np.ndarray:
        """Every copy's complete state, [n, snapshot size] float64."""
        return np.concatenate(self._call("snapshot", lambda lo, hi: None))

    def restore(self, snaps: np.ndarray) -> np.ndarray:
        """Set every copy's state (one row per copy, or one row copied to all); returns the observations."""
        snaps = np.asarray(snaps, np.float64)
        if snaps.ndim == 1:
            snaps = np.broadcast_to(snaps, (self.n,) + snaps.shape)
        return np.concatenate(self._call("restore", lambda lo, hi: snaps[lo:hi]))

    def _merge(self, parts, mask, fill):
        out = None if fill is None else np.array(fill)
        for (lo, hi), part in zip(self.blocks, parts):
            if part is None:
                continue
            if out is None:
                out = np.zeros((self.n,) + part.shape[1:], part.dtype)
            out[np.arange(lo, hi)[mask[lo:hi]]] = part
        return out

    def close(self):
        for w in self._workers:
            w.close()
        self._workers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def default_workers() -> int:
    """Worker processes for host stepping: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _worker_main():
    data_fd = os.dup(1)  # replies go to the original stdout; anything printed goes to stderr
    os.dup2(2, 1)
    with os.fdopen(0, "rb") as rfile, os.fdopen(data_fd, "wb") as wfile:
        _serve(rfile, wfile)


if __name__ == "__main__":
    _worker_main()
