"""Networks of Table 1: 2 hidden layers of 256 ReLU units for every network."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
    hidden: Sequence[int]
    out_dim: int

    @nn.compact
    def __call__(self, x):
        for h in self.hidden:
            x = nn.relu(nn.Dense(h)(x))
        return nn.Dense(self.out_dim)(x)


class DeterministicActor(nn.Module):
    """pi_theta(s) = tanh(MLP(s)), actions in [-1, 1] (TD3)."""

    hidden: Sequence[int]
    act_dim: int

    @nn.compact
    def __call__(self, obs):
        return jnp.tanh(MLP(self.hidden, self.act_dim)(obs))


class TwinCritic(nn.Module):
    """Two independent Q networks Q1(s, a), Q2(s, a) (clipped double-Q)."""

    hidden: Sequence[int]

    @nn.compact
    def __call__(self, obs, act):
        x = jnp.concatenate([obs, act], axis=-1)
        q1 = MLP(self.hidden, 1, name="q1")(x)[..., 0]
        q2 = MLP(self.hidden, 1, name="q2")(x)[..., 0]
        return q1, q2
