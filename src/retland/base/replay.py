"""Replay transitions as a pytree of device arrays (shared by off-policy agents)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .checkpoints import REPLAY_FIELDS as FIELDS  # the /replay datasets of a training file


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminal: jax.Array  # 1.0 when the episode terminated (not truncated) at this step


def empty_replay(capacity: int, obs_dim: int, act_dim: int) -> Transition:
    def z(*shape):
        return jnp.zeros(shape, jnp.float32)

    return Transition(z(capacity, obs_dim), z(capacity, act_dim), z(capacity), z(capacity, obs_dim), z(capacity))


def sample_batch(replay: Transition, key: jax.Array, lo, hi, batch_size: int) -> Transition:
    """Uniform minibatch from rows [lo, hi) of ``replay`` (the buffer's live window)."""
    idx = jax.random.randint(key, (batch_size,), lo, hi)
    return jax.tree_util.tree_map(lambda x: x[idx], replay)


def from_numpy(rows: dict) -> Transition:
    """Rows read from a training file's /replay group -> device Transition."""
    return Transition(*(jnp.asarray(rows[k]) for k in FIELDS))
