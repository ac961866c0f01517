"""Off-policy training driver (paper A.1): jitted chunks of environment steps and
updates, vmapped over seeds, with the learning curve and the checkpoints of the
data contract written as it goes.

The host only moves data between chunks (transitions to the HDF5 log, evaluation
returns, checkpoints); it never steps the environment itself.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from typing import Any, Callable, NamedTuple, Sequence

import h5py
import jax
import jax.numpy as jnp
import numpy as np

from .base.atomic import atomic_path
from .base.checkpoints import CheckpointError, TrainWriter, read_pytree, write_pytree
from .base.replay import FIELDS, Transition, empty_replay
from .rollout import make_batched_rollout


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


class OffPolicyCarry(NamedTuple):
    """Per-seed training state carried across jitted chunks (leading axis = seed)."""

    agent: Any
    env_state: Any
    ep_t: jax.Array
    ep_return: jax.Array
    key: jax.Array
    replay: Transition


def make_offpolicy_chunk(env, capacity: int, chunk_steps: int, learning_starts: int, explore, learn):
    """Build ``chunk(carry[S], t0) -> (carry[S], (transitions[chunk, S], episode_returns[chunk, S]))``
    for an off-policy agent given by two functions:

    * ``explore(agent_state, obs, key) -> action`` in [-1, 1] (after ``learning_starts``;
      before it actions are uniform);
    * ``learn(agent_state, replay, size, key, t) -> agent_state``: one update from the
      ring buffer's first ``size`` rows at global step ``t``.

    Jitted end to end: ``lax.scan`` over ``chunk_steps`` environment steps, one update per
    step after ``learning_starts``; seeds are the leading axis (vmap) while the step
    counter ``t`` is unbatched, so the learning-start branch stays a real ``lax.cond``.
    Episodes end by termination or the time limit ``env.episode_length`` and restart from
    a fresh noisy initial state; transitions keep their true next observation.
    ``episode_returns`` holds the return of each training episode that ended at that
    step, NaN elsewhere (for progress logs).
    """
    act_dim = env.spec.act_dim

    def one_seed(c: OffPolicyCarry, t):
        key, k_rand, k_act, k_reset, k_upd = jax.random.split(c.key, 5)
        obs = env.obs(c.env_state)
        uniform = jax.random.uniform(k_rand, (act_dim,), minval=-1.0, maxval=1.0)
        action = jnp.where(t < learning_starts, uniform, explore(c.agent, obs, k_act))
        nxt = env.step(c.env_state, action)
        term = env.done(nxt).astype(jnp.float32)
        tr = Transition(obs, action, env.reward(nxt), env.obs(nxt), term)
        replay = jax.tree_util.tree_map(lambda buf, x: buf.at[t % capacity].set(x), c.replay, tr)
        ep_t = c.ep_t + 1
        ep_ret = c.ep_return + env.reward(nxt)
        end = (term > 0) | (ep_t >= env.episode_length)
        fresh = env.reset(k_reset)
        env_state = jax.tree_util.tree_map(lambda f, n: jnp.where(end, f, n), fresh, nxt)
        size = jnp.minimum(t + 1, capacity)
        agent = jax.lax.cond(
            t + 1 >= learning_starts, lambda a: learn(a, replay, size, k_upd, t), lambda a: a, c.agent
        )
        out_ret = jnp.where(end, ep_ret, jnp.nan)
        carry = OffPolicyCarry(agent, env_state, jnp.where(end, 0, ep_t), jnp.where(end, 0.0, ep_ret), key, replay)
        return carry, (tr, out_ret)

    batched = jax.vmap(one_seed, in_axes=(0, None))

    def chunk(carry: OffPolicyCarry, t0):
        return jax.lax.scan(lambda c, i: batched(c, t0 + i), carry, jnp.arange(chunk_steps))

    return jax.jit(chunk, donate_argnums=(0,))


def init_offpolicy_carry(env, seeds, capacity: int, init_agent) -> OffPolicyCarry:
    """Initial carry for a batch of seeds; ``init_agent(key)`` builds one agent state."""
    spec = env.spec

    def one(seed):
        key = jax.random.PRNGKey(seed)
        k_init, k_reset, key = jax.random.split(key, 3)
        return OffPolicyCarry(
            init_agent(k_init),
            env.reset(k_reset),
            jnp.zeros((), jnp.int32),
            jnp.zeros((), jnp.float32),
            key,
            empty_replay(capacity, spec.obs_dim, spec.act_dim),
        )

    return jax.jit(jax.vmap(one))(jnp.asarray(seeds, jnp.uint32))


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


def rebuild_replay(writers, step: int, capacity: int, replay_template):
    """The device ring buffer at ``step`` from the logged transitions: slot i % capacity
    holds transition i, exactly as the jitted training loop wrote it."""
    lo = max(0, step - capacity)
    bufs = {k: np.zeros((len(writers),) + tuple(getattr(replay_template, k).shape[1:]), np.float32)
            for k in FIELDS}
    slots = np.arange(lo, step) % capacity
    for j, w in enumerate(writers):
        for k in FIELDS:
            bufs[k][j][slots] = w.f["replay"][k][lo:step]
    return type(replay_template)(*(jnp.asarray(bufs[k]) for k in FIELDS))


def train_offpolicy(
    agent,
    env,
    cfg,
    seeds: Sequence[int],
    total_steps: int,
    checkpoint_steps: Sequence[int],
    out_paths: Sequence[str],
    attrs: dict,
    max_chunk: int = 5000,
    log: Callable[[str], None] = print,
    resume_every: float | None = None,
) -> dict:
    """Train ``len(seeds)`` agents in one vmapped job and write one training file per seed.

    With ``resume_every`` (seconds; 0 = after every chunk) the job saves a resume point
    periodically and, when started again after being killed (a preempted or requeued
    job), continues from the last one; on the CPU the result is bit-identical to an
    uninterrupted run. Returns a summary (final evaluation returns, wall time, rate).
    """
    seeds = [int(s) for s in seeds]
    checkpoint_steps = sorted(int(s) for s in checkpoint_steps)
    if len(out_paths) != len(seeds):
        raise ValueError(f"{len(out_paths)} output paths for {len(seeds)} seeds")
    bad = [s for s in checkpoint_steps if not 0 < s <= total_steps]
    if bad:
        raise ValueError(f"checkpoint steps {bad} are outside (0, total_steps={total_steps}]")

    spec = env.spec
    capacity = min(cfg.buffer_size, total_steps)
    chunk = choose_chunk(total_steps, checkpoint_steps, max_chunk)
    n_chunks = total_steps // chunk
    log(
        f"[train] {spec.suite}/{spec.name} {agent.NAME} seeds={seeds} steps={total_steps} "
        f"backend={spec.backend} chunk={chunk} checkpoints={checkpoint_steps}"
    )
    carry = agent.init_carry(env, cfg, seeds, capacity)
    chunk_fn = agent.make_train_chunk(env, cfg, capacity, chunk)
    evaluate = make_batched_rollout(env, agent.make_policy(spec.act_dim, cfg), env.episode_length)
    ref = env.reference_state()

    resumable = resume_every is not None
    partials = [partial_path(p) for p in out_paths] if resumable else [None] * len(out_paths)
    rpath = resume_path(out_paths)
    fingerprint = run_fingerprint(attrs, seeds, total_steps, checkpoint_steps, chunk)
    start_chunk = 0
    writers = None
    if resumable:
        found = load_resume(rpath, carry._replace(replay=()), fingerprint)
        if found is not None and all(os.path.exists(p) for p in partials):
            step0, rest = found
            try:
                writers = [TrainWriter.reopen(p, q, step0) for p, q in zip(out_paths, partials)]
            except (OSError, CheckpointError) as e:
                log(f"[train] resume point unusable ({e}); starting over")
                writers = None
            if writers is not None:
                replay = rebuild_replay(writers, step0, capacity, carry.replay)
                carry = rest._replace(replay=replay)
                start_chunk = step0 // chunk
                log(f"[train] resuming from step {step0} ({rpath})")
    if writers is None:
        writers = [
            TrainWriter(p, {**attrs, "seed": s}, spec.obs_dim, spec.act_dim, partial=q)
            for p, s, q in zip(out_paths, seeds, partials)
        ]
    last_save = time.time()
    t_start = time.time()
    last_eval = None
    try:
        for i in range(start_chunk, n_chunks):
            t0 = i * chunk
            carry, (tr, ep_rets) = chunk_fn(carry, t0)
            step = t0 + chunk
            tr = jax.tree_util.tree_map(np.asarray, tr)  # [chunk, S, ...]
            for j, w in enumerate(writers):
                w.append_replay({k: getattr(tr, k)[:, j] for k in tr._fields})
            rets, lens = evaluate(agent.policy_params(carry.agent), ref)
            rets, lens = np.asarray(rets), np.asarray(lens)
            last_eval = rets
            for j, w in enumerate(writers):
                w.append_learning_curve(step, float(rets[j]), int(lens[j]))
            if step in checkpoint_steps:
                n_updates = max(0, step - cfg.learning_starts + 1)
                for j, w in enumerate(writers):
                    state_j = jax.tree_util.tree_map(lambda x: np.asarray(x[j]), carry.agent)
                    w.write_checkpoint(step, state_j, max(0, step - capacity), step, n_updates)
            if resumable and step < total_steps and time.time() - last_save >= resume_every:
                for w in writers:
                    w.flush()
                save_resume(rpath, carry._replace(replay=()), step, fingerprint)  # replay: rebuilt from the log
                last_save = time.time()
            elapsed = time.time() - t_start
            rate = (step - start_chunk * chunk) / max(elapsed, 1e-9)
            ep = np.asarray(ep_rets)
            train_ret = np.nanmean(ep) if np.isfinite(ep).any() else float("nan")
            log(
                f"[train] step {step}/{total_steps} ({100 * step / total_steps:.0f}%) "
                f"{rate:.0f} env-steps/s per seed, ETA {format_eta((total_steps - step) / rate)}; "
                f"eval return mean {rets.mean():.1f} [min {rets.min():.1f}, max {rets.max():.1f}], "
                f"train episodes {train_ret:.1f}" + (" [checkpoint]" if step in checkpoint_steps else "")
            )
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
    return {
        "final_eval_returns": [float(x) for x in last_eval],
        "wall_seconds": wall,
        "steps_per_second_per_seed": (total_steps - start_chunk * chunk) / wall,
        "resumed_from": start_chunk * chunk,
    }
