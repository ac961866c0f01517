"""Off-policy training driver (paper A.1): jitted chunks of environment steps and
updates, vmapped over seeds, with the learning curve and the checkpoints of the
data contract written as it goes.

The host only moves data between chunks (transitions to the HDF5 log, evaluation
returns, checkpoints); it never steps the environment itself.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import jax
import numpy as np

from .base.checkpoints import TrainWriter
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
) -> dict:
    """Train ``len(seeds)`` agents in one vmapped job and write one training file per seed.

    Returns a summary (final evaluation returns, wall time, steps per second).
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

    writers = [
        TrainWriter(p, {**attrs, "seed": s}, spec.obs_dim, spec.act_dim) for p, s in zip(out_paths, seeds)
    ]
    t_start = time.time()
    last_eval = None
    try:
        for i in range(n_chunks):
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
            elapsed = time.time() - t_start
            rate = step / max(elapsed, 1e-9)
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
            w.abort()
        raise
    for w in writers:
        w.close()
    wall = time.time() - t_start
    return {
        "final_eval_returns": [float(x) for x in last_eval],
        "wall_seconds": wall,
        "steps_per_second_per_seed": total_steps / wall,
    }
