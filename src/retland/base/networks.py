"""Networks of Table 1: 2 hidden layers of 256 ReLU units for every network."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLP(nn.Module):
    """ReLU hidden layers, each followed by dropout of rate ``dropout`` when ``train``
    (behaviour cloning's student; 0 adds no layer, so the parameters are the same)."""

    hidden: Sequence[int]
    out_dim: int
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x, train: bool = False):
        for h in self.hidden:
            x = nn.relu(nn.Dense(h)(x))
            if self.dropout > 0:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.out_dim)(x)


class DeterministicActor(nn.Module):
    """pi_theta(s) = tanh(MLP(s)), actions in [-1, 1] (TD3; with ``dropout``, the BC
    student, whose parameters have the same structure as its TD3 teacher's)."""

    hidden: Sequence[int]
    act_dim: int
    dropout: float = 0.0

    @nn.compact
    def __call__(self, obs, train: bool = False):
        return jnp.tanh(MLP(self.hidden, self.act_dim, self.dropout)(obs, train))


class TwinCritic(nn.Module):
    """Two independent Q networks Q1(s, a), Q2(s, a) (clipped double-Q)."""

    hidden: Sequence[int]

    @nn.compact
    def __call__(self, obs, act):
        x = jnp.concatenate([obs, act], axis=-1)
        q1 = MLP(self.hidden, 1, name="q1")(x)[..., 0]
        q2 = MLP(self.hidden, 1, name="q2")(x)[..., 0]
        return q1, q2


def init_actor_critic(actor_net, critic_net, key, obs_dim: int, act_dim: int):
    """(actor params, critic params) of an actor(obs) and a critic(obs, act) for one key."""
    ka, kc = jax.random.split(key)
    obs = jnp.zeros((1, obs_dim))
    return actor_net.init(ka, obs), critic_net.init(kc, obs, jnp.zeros((1, act_dim)))
