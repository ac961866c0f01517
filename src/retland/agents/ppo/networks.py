"""PPO's networks (CleanRL's orthogonal init) and action distributions (the optimizer is
``optim``, the observation normaliser ``state``).

What the rest of PPO sees is :class:`Nets` (``nets(cfg, act_dim)``): ``init`` of the actor
and critic parameters, ``actor`` (the distribution's parameters for a batch of
observations), ``value`` and ``dist`` (the policy distribution). Two layouts, chosen by
``cfg.torso`` and ``cfg.actions``:

* ``torso="mlp"``: separate policy and value MLPs (``cfg.hidden``); continuous actions use
  :class:`GaussianActor` (Brax, paper Table 1), discrete ones a categorical MLP head;
* ``torso="nature_cnn"`` (discrete only; CleanRL's ``ppo_atari``): one Nature CNN torso
  (conv 32 8x8/4, conv 64 4x4/2, conv 64 3x3/1, dense 512, ReLU, input / 255, orthogonal
  sqrt 2) *shared* by a policy head (orthogonal 0.01) and a value head (orthogonal 1). The
  actor parameters hold the torso and the policy head (``{"torso", "head"}``, all the
  deterministic policy needs), the critic parameters the value head only; the value of an
  observation reads both, so the value loss trains the torso too, as CleanRL's one loss.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from .config import PPOConfig


def _hidden_init():
    return nn.initializers.orthogonal(math.sqrt(2.0))


def _trunk(x, hidden):
    """The ReLU MLP layers (called inside a module's compact ``__call__``: its Dense_i)."""
    for h in hidden:
        x = nn.relu(nn.Dense(h, kernel_init=_hidden_init(), bias_init=nn.initializers.zeros)(x))
    return x


class GaussianActor(nn.Module):
    """mean = MLP(obs) (no tanh), log_std a free parameter (state independent)."""

    hidden: Sequence[int]
    act_dim: int

    @nn.compact
    def __call__(self, obs):
        x = _trunk(obs, self.hidden)
        mean = nn.Dense(self.act_dim, kernel_init=nn.initializers.orthogonal(0.01),
                        bias_init=nn.initializers.zeros)(x)
        log_std = self.param("log_std", nn.initializers.zeros, (self.act_dim,))
        return mean, jnp.broadcast_to(log_std, mean.shape)


class ValueNet(nn.Module):
    hidden: Sequence[int]

    @nn.compact
    def __call__(self, obs):
        x = _trunk(obs, self.hidden)
        return nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0), bias_init=nn.initializers.zeros)(x)[..., 0]


class CategoricalActor(nn.Module):
    """logits = MLP(obs) (discrete actions with the MLP torso)."""

    hidden: Sequence[int]
    act_dim: int

    @nn.compact
    def __call__(self, obs):
        x = _trunk(obs, self.hidden)
        return nn.Dense(self.act_dim, kernel_init=nn.initializers.orthogonal(0.01),
                        bias_init=nn.initializers.zeros)(x)


#: the Nature CNN's input: 4 stacked 84x84 frames, channels last (base.atari.OBS_SHAPE)
CNN_INPUT = (84, 84, 4)


def patches(x, k: int, s: int):
    """The k x k, stride-s patches of ``x[..., H, W, C]`` (VALID), ``[..., Ho, Wo, k*k*C]``
    in the (row, column, channel) order of a flax kernel ``(k, k, C, out)`` flattened;
    for ``k`` a multiple of ``s`` (the Nature CNN's 8/4, 4/2, 3/1), by reshapes and
    slices only (no gather)."""
    *lead, H, W, C = x.shape
    b = k // s
    Hb, Wb = H // s, W // s
    x = x[..., :Hb * s, :Wb * s, :].reshape(*lead, Hb, s, Wb, s, C)
    Ho, Wo = Hb - b + 1, Wb - b + 1
    p = jnp.stack([x[..., i:i + Ho, :, j:j + Wo, :, :] for i in range(b) for j in range(b)], axis=-1)
    p = p.reshape(*lead, Ho, s, Wo, s, C, b, b)
    n = len(lead)
    # (Ho, si, Wo, sj, C, bi, bj) -> (Ho, Wo, bi, si, bj, sj, C): row = bi*s + si, col = bj*s + sj
    p = jnp.transpose(p, tuple(range(n)) + tuple(n + a for a in (0, 2, 5, 1, 6, 3, 4)))
    return p.reshape(*lead, Ho, Wo, k * k * C)


class PatchConv(nn.Module):
    """``nn.Conv(features, (k, k), (s, s), padding="VALID")`` (same parameters, same
    function) computed as patches times the flattened kernel. Measured on XLA's CPU backend
    (2 cores; ``make bench``, docs/benchmarks.md): the gradient on 256 frames is 2.2x
    faster than with XLA's convolution; a CleanRL PPO update (16 Adam steps, in a scan)
    takes 4.1 s against 126 s with XLA's convolutions in the scan's while loop (12.5 s
    unrolled), two seeds' updates vmapped 9.4 s against 40 s (unrolled); a forward of 50
    different policies (vmapped over parameters: a grouped convolution for XLA) is 1.6x
    faster. A plain forward of one batch is 2.4x slower, but PPO's forwards are part of
    its gradients or vmapped over policies."""

    features: int
    k: int
    s: int

    @nn.compact
    def __call__(self, x):
        if self.k % self.s:
            raise ValueError(f"PatchConv needs the kernel size a multiple of the stride, got {self.k}/{self.s}")
        kernel = self.param("kernel", _hidden_init(), (self.k, self.k, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return jnp.einsum("...hwp,po->...hwo", patches(x, self.k, self.s),
                          kernel.reshape(-1, self.features)) + bias


class NatureCNN(nn.Module):
    """Mnih et al. (2015)'s torso as CleanRL's ``ppo_atari``: uint8 (or float) frames
    ``[..., 84, 84, 4]`` or flattened ``[..., 84*84*4]``, divided by 255 -> 512 features.
    The convolutions are :class:`PatchConv` (the same layers; faster on the CPU).
    ``channels`` / ``dense`` (default the paper's 32, 64, 64 / 512) narrow it at laptop
    scale, as ``hidden`` narrows the MLPs."""

    channels: tuple = (32, 64, 64)
    dense: int = 512

    @nn.compact
    def __call__(self, obs):
        n = math.prod(CNN_INPUT)
        if obs.shape[-1] == n:
            obs = obs.reshape(obs.shape[:-1] + CNN_INPUT)
        if obs.shape[-3:] != CNN_INPUT:
            raise ValueError(f"the Nature CNN takes observations of shape {CNN_INPUT} (or {n} flat), "
                             f"got {obs.shape}")
        lead = obs.shape[:-3]
        x = obs.reshape((-1,) + CNN_INPUT).astype(jnp.float32) / 255.0
        for i, (feat, k, s) in enumerate(zip(self.channels, (8, 4, 3), (4, 2, 1))):
            x = nn.relu(PatchConv(feat, k, s, name=f"Conv_{i}")(x))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(self.dense, kernel_init=_hidden_init(), bias_init=nn.initializers.zeros)(x))
        return x.reshape(lead + (self.dense,))


def _head(n: int, scale: float) -> nn.Dense:
    return nn.Dense(n, kernel_init=nn.initializers.orthogonal(scale), bias_init=nn.initializers.zeros)


class Gaussian:
    """Continuous actions: the distribution's parameters are (mean, log_std); samples are
    unclipped (their log-probability is of the sample) and clipped to [-1, 1] only for
    the environment; the deterministic action is the clipped mean."""

    discrete = False

    @staticmethod
    def sample(out, key):
        mean, log_std = out
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)

    @staticmethod
    def log_prob(out, action):
        return gaussian_log_prob(action, *out)

    @staticmethod
    def entropy(out):
        return gaussian_entropy(out[1])

    @staticmethod
    def env_action(action):
        return jnp.clip(action, -1.0, 1.0)

    @staticmethod
    def mode(out):
        return jnp.clip(out[0], -1.0, 1.0)


class Categorical:
    """Discrete actions: the distribution's parameters are logits; an action is an int32
    index; the deterministic action is the argmax (the paper's greedy Atari policy)."""

    discrete = True

    @staticmethod
    def sample(out, key):
        return jax.random.categorical(key, out).astype(jnp.int32)

    @staticmethod
    def log_prob(out, action):
        logp = jax.nn.log_softmax(out)
        return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), axis=-1)[..., 0]

    @staticmethod
    def entropy(out):
        logp = jax.nn.log_softmax(out)
        return -(jnp.exp(logp) * logp).sum(-1)

    @staticmethod
    def env_action(action):
        return action

    @staticmethod
    def mode(out):
        return jnp.argmax(out, axis=-1).astype(jnp.int32)


def gaussian_log_prob(action, mean, log_std):
    return (-0.5 * ((action - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi)).sum(-1)


def gaussian_entropy(log_std):
    return (log_std + 0.5 * jnp.log(2.0 * jnp.pi * jnp.e)).sum(-1)


class Nets(NamedTuple):
    """PPO's networks for one config (module docstring): ``init(key, obs_dim) -> (actor,
    critic)``, ``actor(actor_params, obs)`` -> the distribution's parameters,
    ``value(actor_params, critic_params, obs)`` -> V(obs), ``dist`` (:class:`Gaussian` or
    :class:`Categorical`)."""

    init: Any
    actor: Any
    value: Any
    dist: Any


def nets(cfg: PPOConfig, act_dim: int) -> Nets:
    dist = Categorical if cfg.actions == "discrete" else Gaussian
    if cfg.torso == "nature_cnn":
        torso = NatureCNN(tuple(cfg.cnn_channels), int(cfg.cnn_dense))
        pi, vf = _head(act_dim, 0.01), _head(1, 1.0)

        def init(key, obs_dim):
            kt, kp, kv = jax.random.split(key, 3)
            feats = jnp.zeros((1, int(cfg.cnn_dense)))
            actor = {"torso": torso.init(kt, jnp.zeros((1, obs_dim), jnp.uint8)), "head": pi.init(kp, feats)}
            return actor, vf.init(kv, feats)

        def actor(a, obs):
            return pi.apply(a["head"], torso.apply(a["torso"], obs))

        def value(a, c, obs):
            return vf.apply(c, torso.apply(a["torso"], obs))[..., 0]

        return Nets(init, actor, value, dist)
    actor_net = (CategoricalActor if dist.discrete else GaussianActor)(cfg.hidden, act_dim)
    critic_net = ValueNet(cfg.hidden)

    def init(key, obs_dim):
        ka, kc = jax.random.split(key)
        obs = jnp.zeros((1, obs_dim))
        return actor_net.init(ka, obs), critic_net.init(kc, obs)

    return Nets(init, actor_net.apply, lambda a, c, obs: critic_net.apply(c, obs), dist)
