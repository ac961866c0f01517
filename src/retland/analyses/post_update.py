"""E2 / paper Sec. 3.1, Fig. 2: the post-update return distribution of a policy.

For a checkpoint theta, draw N independent updates u(theta, X_i) (for TD3: one actor
step on a fresh minibatch of the replay buffer as it was at the checkpoint) and roll
each updated deterministic policy out for ``horizon`` steps from the reference initial
state s_I. Updates and rollouts are one jitted function per chunk of ``chunk_size``
samples (the rollouts vmapped; on the CPU the updates one key after another, so a sample's
bits do not depend on the chunk: ``rollout.map_updates``), so N = 1000 at horizon 1000 fits
in memory. Generic over agents: the agent
module supplies ``post_update`` and ``make_policy``.
"""

from __future__ import annotations

import time
from typing import Callable

import jax
import numpy as np

from ..base.envs import is_host_stepped
from ..rollout import chunked, make_update_estimator, pad_to
from .source import policy_of


def make_estimator(src, horizon: int, chunk_size: int = 1, workers: int = 1, return_definition: str = "first_life",
                   pool_seed: int = 0):
    """``f(keys[C], state, replay, lo, hi, start_state) -> (returns[C], lengths[C])`` for the
    agent, config and environment of ``src`` (:class:`retland.analyses.source.Source` or a
    training file opened for analysis) (``rollout.make_update_estimator``: fused and jitted
    for JAX-stepped suites; for host-stepped ones ``chunk_size`` environment copies over
    ``workers`` processes; ``return_definition``: what a return counts, ``"authors"`` being
    the authors' Atari evaluation, ``rollout.HostRollout``). An agent whose update steps
    host environments itself (on-policy: PPO) gives it as ``host_update(cfg, env)``, a
    ``rollout.HostUpdate`` (a pooled one seeds its pool with ``pool_seed``)."""
    agent, env, cfg = src.agent, src.env, src.cfg
    if is_host_stepped(env) and hasattr(agent, "host_update"):
        update = agent.host_update(cfg, env)
    else:
        def update(key, state, replay, lo, hi):
            return agent.post_update(state, key, replay, lo, hi, cfg, env)

    return make_update_estimator(env, policy_of(src), horizon, update, chunk_size, workers, return_definition,
                                 pool_seed)


def post_update_returns(
    src,
    state,
    key: jax.Array,
    *,
    replay,
    lo: int,
    hi: int,
    n_samples: int,
    horizon: int,
    chunk_size: int,
    start_state=None,
    log: Callable[[str], None] = print,
    estimator=None,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """N post-update returns and episode lengths of one checkpoint (float64, int32): agent
    state ``state`` of ``src`` (its agent, config, environment), the buffer rows [lo, hi)
    of ``replay``, the N update keys split from ``key``."""
    if n_samples < 1 or horizon < 1:
        raise ValueError(f"n_samples and horizon must be >= 1, got {n_samples}, {horizon}")
    start_state = src.env.reference_state() if start_state is None else start_state
    chunk_size = min(chunk_size, n_samples)
    estimator = estimator or make_estimator(src, horizon, chunk_size, workers)
    keys = jax.random.split(key, n_samples)
    rets, lens = [], []
    t0 = time.time()
    for s, e in chunked(n_samples, chunk_size):
        r, l = estimator(pad_to(keys[s:e], chunk_size), state, replay, lo, hi, start_state)
        rets.append(np.asarray(r[: e - s], np.float64))
        lens.append(np.asarray(l[: e - s], np.int32))
        el = time.time() - t0
        rate = e * horizon / max(el, 1e-9)
        log(f"[post_update] {e}/{n_samples} samples, {rate:.0f} env-steps/s, "
            f"ETA {(n_samples - e) * horizon / max(rate, 1e-9):.0f}s")
    return np.concatenate(rets), np.concatenate(lens)
