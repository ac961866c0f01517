"""The one training driver (paper A.1).

Every agent trains the same way: a jitted chunk advances all seeds (or students) of
one job, vmapped, by some units of training (environment steps for TD3/SAC, PPO
iterations, behaviour-cloning gradient steps); between chunks the host driver
(:func:`drive`) writes what the chunk logged (replay rows), evaluates the deterministic
policies from the reference state for the learning curve, writes the checkpoints due,
saves resume points, reports progress and finally renames the files into place (or
removes them when the job fails). A loop supplies only a :class:`TrainingLoop`: its
schedule, its jitted chunk, and what its checkpoints and resume points hold (the loops
are :mod:`retland.training.offpolicy`, :mod:`~retland.training.onpolicy` and
:mod:`~retland.training.offline`; an agent hands them its functions).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from typing import Any, Callable, Protocol, Sequence

import h5py
import jax
import jax.numpy as jnp
import numpy as np

from ..base.atomic import atomic_path
from ..base.checkpoints import CheckpointError, TrainWriter, read_pytree, write_pytree
from ..rollout import make_evaluator


def choose_chunk(total_steps: int, checkpoint_steps: Sequence[int], max_chunk: int) -> int:
    """Largest chunk length <= ``max_chunk`` that divides the training length and every
    checkpoint step, so checkpoints fall on chunk boundaries (one compiled chunk)."""
    g = total_steps
    for s in checkpoint_steps:
        g = math.gcd(g, int(s))
    for c in range(min(g, max_chunk), 0, -1):
        if g % c == 0:
            return c
    return 1


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}"


def partial_path(out_path: str) -> str:
    d, b = os.path.split(os.path.abspath(out_path))
    return os.path.join(d, f".{b}.partial")


def resume_path(out_paths: Sequence[str]) -> str:
    d, b = os.path.split(os.path.abspath(out_paths[0]))
    return os.path.join(d, f".{b}.resume.h5")


def run_fingerprint(attrs: dict, seeds, total_steps, checkpoint_steps, chunk) -> str:
    """What must match for a resume point to be valid (everything that shapes the run)."""
    keep = {k: v for k, v in attrs.items() if k not in ("provenance", "seed")}
    blob = json.dumps([keep, list(seeds), total_steps, list(checkpoint_steps), chunk], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def save_resume(path: str, state, position: int, fingerprint: str) -> None:
    """A resume point: the pytree ``state`` after ``position`` units of training (steps or
    iterations), written atomically so a job killed while saving keeps the previous one."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(position=position, fingerprint=fingerprint)
            write_pytree(f.create_group("state"), state)


def load_resume(path: str, template, fingerprint: str):
    """(position, state shaped like ``template``) or None when there is no valid resume point."""
    if not os.path.exists(path):
        return None
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("fingerprint") != fingerprint:
                return None
            return int(f.attrs["position"]), read_pytree(f["state"], template, where=path)
    except (OSError, KeyError, CheckpointError):
        return None


# --- the one driver --------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Schedule:
    """When a training job stops between chunks, in the loop's own units.

    ``bounds``: sorted chunk ends (the last is ``total``); ``checkpoints``: chunk end ->
    the checkpoint labels (requested steps) written there; ``unit_steps``: steps of the
    learning curve per unit (1 for environment or gradient steps, PPO's batch for
    iterations)."""

    unit: str
    total: int
    unit_steps: int
    bounds: tuple
    checkpoints: dict

    @classmethod
    def every(cls, unit: str, total: int, chunk: int, checkpoints: Sequence[int], unit_steps: int = 1):
        """Chunks of ``chunk`` units; checkpoint label s at unit s (s must be a chunk end)."""
        bounds = tuple(range(chunk, total + 1, chunk))
        missing = sorted(set(int(s) for s in checkpoints) - set(bounds))
        if missing:
            raise ValueError(f"checkpoints {missing} are not chunk ends (chunk {chunk} {unit}s)")
        return cls(unit, total, unit_steps, bounds, {int(s): [int(s)] for s in checkpoints})

    def labels_up_to(self, u: int) -> set:
        return {s for b, ss in self.checkpoints.items() if b <= u for s in ss}


class TrainingLoop(Protocol):
    """What an agent gives :func:`drive` (leading axis of every carry leaf = seed)."""

    tag: str              # log prefix, e.g. "train"
    rate_unit: str        # progress: what the rate counts, e.g. "env-steps/s per seed"
    schedule: Schedule
    reference: Any        # the reference state s_I the learning curve is evaluated from

    def advance(self, carry, u0: int, u1: int) -> tuple[Any, Any]:
        """Units [u0, u1) of training: (carry, what the chunk logged)."""

    def record(self, writers, logged) -> None:
        """Write what the chunk logged (replay rows) to the files."""

    def replay_rows(self, u: int) -> int | None:
        """Replay rows in the files after ``u`` units (None: this loop logs no replay)."""

    def eval_params(self, carry):
        """Batched deterministic policy parameters for the learning curve."""

    def checkpoint(self, carry, j: int, label: int, u: int) -> tuple[Any, dict]:
        """(file j's checkpoint pytree, its attributes: replay_lo, replay_hi, n_updates, ...)."""

    def resume_tree(self, carry):
        """What a resume point saves (the carry minus what the files already hold)."""

    def restore(self, tree, writers, u: int):
        """The carry from a resume point's tree and the reopened files."""

    def note(self, carry, logged) -> str:
        """Extra progress text (training-episode returns)."""


def drive(loop: TrainingLoop, carry, evaluate, out_paths: Sequence[str], *, file_attrs: Sequence[dict],
          obs_dim: int, act_dim: int, fingerprint: str, log: Callable[[str], None] = print,
          resume_every: float | None = None, file_setup: Callable | None = None) -> dict:
    """Run ``loop`` from ``carry`` to the end of its schedule, writing one training file per
    leading-axis entry of the carry (``out_paths[j]`` with ``file_attrs[j]``).

    ``evaluate(params, start) -> (returns, lengths)`` batched over the leading axis, from
    ``loop.reference`` (the reference state s_I). With ``resume_every`` (seconds; 0 =
    after every chunk) a resume point is saved periodically and a job started again after
    being killed continues from the last one, bit-identical on the CPU; without it a failed
    job leaves no file behind. Returns a summary (final evaluation returns, wall time,
    rate, where it resumed from).
    """
    sched = loop.schedule
    us = sched.unit_steps
    resumable = resume_every is not None
    partials = [partial_path(p) for p in out_paths] if resumable else [None] * len(out_paths)
    rpath = resume_path(out_paths)
    done = 0
    writers = None
    if resumable:
        found = load_resume(rpath, loop.resume_tree(carry), fingerprint)
        if found is not None and all(os.path.exists(p) for p in partials):
            u0, tree = found
            opened = []
            try:
                for p, q in zip(out_paths, partials):
                    opened.append(TrainWriter.reopen(p, q, u0 * us, loop.replay_rows(u0),
                                                     sched.labels_up_to(u0)))
                carry = loop.restore(tree, opened, u0)
                writers, done = opened, u0
                log(f"[{loop.tag}] resuming from {sched.unit} {u0} (step {u0 * us}; {rpath})")
            except (OSError, KeyError, CheckpointError) as e:
                for w in opened:
                    w.f.close()
                log(f"[{loop.tag}] resume point unusable ({e}); starting over")
    if writers is None:
        writers = [TrainWriter(p, a, obs_dim, act_dim, partial=q)
                   for p, a, q in zip(out_paths, file_attrs, partials)]
        if file_setup is not None:
            for w in writers:
                file_setup(w)
    start = done
    last_save = t_start = time.time()
    last_eval = None
    try:
        for b in sched.bounds:
            if b <= done:
                continue
            carry, logged = loop.advance(carry, done, b)
            done = b
            loop.record(writers, logged)
            rets, lens = evaluate(loop.eval_params(carry), loop.reference)
            rets, lens = np.asarray(rets), np.asarray(lens)
            last_eval = rets
            for j, w in enumerate(writers):
                w.append_learning_curve(b * us, float(rets[j]), int(lens[j]))
            for label in sched.checkpoints.get(b, []):
                for j, w in enumerate(writers):
                    tree, ck_attrs = loop.checkpoint(carry, j, label, b)
                    w.write_checkpoint(label, tree, **ck_attrs)
            if resumable and b < sched.total and time.time() - last_save >= resume_every:
                for w in writers:
                    w.flush()
                save_resume(rpath, loop.resume_tree(carry), b, fingerprint)
                last_save = time.time()
            rate = (b - start) * us / max(time.time() - t_start, 1e-9)
            where = f"{100 * b / sched.total:.0f}%" + (f", {sched.unit} {b}/{sched.total}" if us != 1 else "")
            log(f"[{loop.tag}] step {b * us}/{sched.total * us} ({where}) {rate:.0f} {loop.rate_unit}, "
                f"ETA {format_eta((sched.total - b) * us / rate)}; eval return mean {rets.mean():.1f} "
                f"[min {rets.min():.1f}, max {rets.max():.1f}]{loop.note(carry, logged)}"
                + (" [checkpoint]" if b in sched.checkpoints else ""))
    except BaseException:
        for w in writers:
            if resumable:  # keep the partial files and the resume point for the next attempt
                w.f.close()
            else:
                w.abort()
        raise
    for w in writers:
        w.close()
    if resumable and os.path.exists(rpath):
        os.remove(rpath)
    wall = time.time() - t_start
    if last_eval is None:  # everything was already done by the resumed run
        last_eval = np.asarray(evaluate(loop.eval_params(carry), loop.reference)[0])
    return {
        "final_eval_returns": [float(x) for x in last_eval],
        "wall_seconds": wall,
        "steps_per_second_per_seed": (sched.total - start) * us / wall,
        "resumed_from": start * us,
    }


def check_schedule(seeds, checkpoint_steps, total_steps: int, out_paths) -> tuple[list, list]:
    """Sorted int seeds and checkpoint steps; errors for mismatched outputs or steps."""
    seeds = [int(s) for s in seeds]
    checkpoint_steps = sorted(int(s) for s in checkpoint_steps)
    if len(out_paths) != len(seeds):
        raise ValueError(f"{len(out_paths)} output paths for {len(seeds)} seeds")
    bad = [s for s in checkpoint_steps if not 0 < s <= total_steps]
    if bad:
        raise ValueError(f"checkpoint steps {bad} are outside (0, total_steps={total_steps}]")
    return seeds, checkpoint_steps


class LoopBase:
    """Defaults of a :class:`TrainingLoop`: chunks log nothing to the files, and a resume
    point is the whole carry."""

    tag = "train"
    rate_unit = "env-steps/s per seed"

    def record(self, writers, logged):
        pass

    def replay_rows(self, u):
        return None

    def resume_tree(self, carry):
        return carry

    def restore(self, tree, writers, u):
        return jax.tree_util.tree_map(jnp.asarray, tree)

    def note(self, carry, logged):
        return ""


@dataclasses.dataclass
class Setup:
    """What an agent's ``training_setup`` returns: its loop, the initial carry of all seeds,
    what else shapes the run (for the resume fingerprint), and an optional hook that adds
    attributes to each new training file."""

    loop: Any
    carry: Any
    fingerprint: Any
    file_setup: Callable | None = None


def train(agent, env, cfg, seeds: Sequence[int], *, total_steps: int, checkpoint_steps: Sequence[int],
          out_paths: Sequence[str], attrs: dict, max_chunk: int = 5000, log: Callable[[str], None] = print,
          resume_every: float | None = None, eval_horizon: int | None = None) -> dict:
    """E1: train ``len(seeds)`` agents of ``agent`` (an agent implementation: its
    ``training_setup`` and ``make_policy``; ``agents.get_agent``) in one vmapped job and
    write one training file per seed, ``attrs`` plus the seed. ``max_chunk`` bounds
    a chunk (environment steps); with ``resume_every`` (seconds; 0 = after every chunk) a
    killed job started again continues from its last resume point, bit-identical on the CPU.
    The learning curve's deterministic return from s_I runs ``eval_horizon`` steps (default
    the episode length; Atari: the authors' 1000-step evaluation, not envpool's 27,000-step
    episodes). Returns :func:`drive`'s summary."""
    seeds, checkpoint_steps = check_schedule(seeds, checkpoint_steps, total_steps, out_paths)
    spec = env.spec
    setup = agent.training_setup(env, cfg, seeds, total_steps, checkpoint_steps, max_chunk, log)
    horizon = env.episode_length if eval_horizon is None else int(eval_horizon)
    evaluate = make_evaluator(env, agent.make_policy(spec.act_dim, cfg), horizon, batch_size=len(seeds))
    return drive(setup.loop, setup.carry, evaluate, out_paths, file_attrs=[{**attrs, "seed": s} for s in seeds],
                 obs_dim=spec.obs_dim, act_dim=spec.act_dim,
                 fingerprint=run_fingerprint(attrs, seeds, total_steps, checkpoint_steps, setup.fingerprint),
                 log=log, resume_every=resume_every, file_setup=setup.file_setup)
