"""PPO's networks (CleanRL's orthogonal init), observation normaliser and optimizer.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from .config import OBS_NORM_EPS, PPOConfig


def _hidden_init():
    return nn.initializers.orthogonal(math.sqrt(2.0))


class GaussianActor(nn.Module):
    """mean = MLP(obs) (no tanh), log_std a free parameter (state independent)."""

    hidden: Sequence[int]
    act_dim: int

    @nn.compact
    def __call__(self, obs):
        x = obs
        for h in self.hidden:
            x = nn.relu(nn.Dense(h, kernel_init=_hidden_init(), bias_init=nn.initializers.zeros)(x))
        mean = nn.Dense(self.act_dim, kernel_init=nn.initializers.orthogonal(0.01),
                        bias_init=nn.initializers.zeros)(x)
        log_std = self.param("log_std", nn.initializers.zeros, (self.act_dim,))
        return mean, jnp.broadcast_to(log_std, mean.shape)


class ValueNet(nn.Module):
    hidden: Sequence[int]

    @nn.compact
    def __call__(self, obs):
        x = obs
        for h in self.hidden:
            x = nn.relu(nn.Dense(h, kernel_init=_hidden_init(), bias_init=nn.initializers.zeros)(x))
        return nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0), bias_init=nn.initializers.zeros)(x)[..., 0]


def _nets(cfg: PPOConfig, act_dim: int):
    return GaussianActor(cfg.hidden, act_dim), ValueNet(cfg.hidden)


def optimizer(cfg: PPOConfig, max_grad_norm: float | None = None) -> optax.GradientTransformation:
    """One Adam over {"actor", "critic"} with global-norm gradient clipping (Table 1) at
    ``max_grad_norm`` (default ``cfg.max_grad_norm``; the optimizer state does not
    depend on it)."""
    return optax.chain(
        optax.clip_by_global_norm(cfg.max_grad_norm if max_grad_norm is None else max_grad_norm),
        optax.adam(cfg.learning_rate, b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps),
    )


class ObsNorm(NamedTuple):
    mean: jax.Array
    var: jax.Array
    count: jax.Array


def init_obs_norm(obs_dim: int) -> ObsNorm:
    # gym's RunningMeanStd: mean 0, var 1, count 1e-4 (the first batch replaces it)
    return ObsNorm(jnp.zeros((obs_dim,), jnp.float32), jnp.ones((obs_dim,), jnp.float32),
                   jnp.asarray(1e-4, jnp.float32))


def normalize(obs_norm: ObsNorm, obs: jax.Array, cfg: PPOConfig) -> jax.Array:
    if not cfg.normalize_observations:
        return obs
    z = (obs - obs_norm.mean) / jnp.sqrt(obs_norm.var + OBS_NORM_EPS)
    return jnp.clip(z, -cfg.obs_clip, cfg.obs_clip)


def update_obs_norm(n: ObsNorm, x: jax.Array) -> ObsNorm:
    """Running mean/variance absorbing the rows of ``x`` [B, obs_dim] (Chan et al.)."""
    b = jnp.asarray(x.shape[0], jnp.float32)
    bm = x.mean(0)
    bv = x.var(0)
    tot = n.count + b
    delta = bm - n.mean
    mean = n.mean + delta * b / tot
    m2 = n.var * n.count + bv * b + delta**2 * n.count * b / tot
    return ObsNorm(mean, m2 / tot, tot)
