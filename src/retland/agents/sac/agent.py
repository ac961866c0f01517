"""SAC (Haarnoja et al. 2018, the learned-temperature version of arXiv:1812.05905) with
the hyperparameters of the paper's Table 1: the agent (``retland.agents.Agent``; its
declaration and frozen config are the package, :mod:`retland.agents.sac`).

Laid out like ``td3/agent.py``: ``init``, the functions of the off-policy training loops
(:func:`offpolicy_agent`, run by ``retland.training.offpolicy``), and the post-update step
u(theta, X) of paper Eq. 3 / Def. 3.1: one SAC actor step on a fresh minibatch of the
replay buffer as it was at the checkpoint, continuing the checkpoint's actor Adam state,
with the checkpoint's critics and temperature held fixed.

Details the paper leaves out follow its code (jaxrl's SAC learner in
github.com/nathanrahn/return-landscapes, ``run_algorithm/jaxrl/agents/sac/`` and
``run_algorithm/jaxrl/networks/policies.py``):

* policy: tanh-squashed diagonal Gaussian; one trunk with a mean head and a log-std
  head; the log-std is squashed smoothly into [-10, 2] as
  ``-10 + 12 * (1 + tanh(x)) / 2`` (jaxrl's ``NormalTanhPolicy``, which replaced the
  hard clip by this rescaling "for stability"). The deterministic policy analysed by
  the paper (evaluation, post-update returns) is tanh(mean); training samples from
  the policy.
* one update per environment step, in jaxrl's order on one shared minibatch: critic
  step (soft target r + gamma * (1 - terminal) * (min(Q1', Q2')(s', a') - alpha *
  log pi(a'|s')), a' ~ pi(.|s') from the online actor; twin critics, clipped double Q),
  then the critic target EMA (every update: target update period 1, coefficient 0.995),
  then the actor step against the *new* critics (loss mean(alpha * log pi(a|s) -
  min(Q1, Q2)(s, a)), reparameterised a), then the temperature step.
* temperature: alpha = exp(log_alpha), initial value 1, loss alpha * (H - H_target)
  with H = -mean(log pi) of the actor step's sample (held fixed), Adam like every
  network. Target entropy: **-act_dim / 2**. The paper's config
  (``run_algorithm/conf/experiment/train_jaxrl.yaml``) sets ``target_entropy: null``
  and its ``SACLearner.__init__`` maps None to ``-action_dim / 2`` (jaxrl's default),
  not to the -act_dim heuristic of Haarnoja et al. 2018; we follow the code the paper
  ran. ``target_entropy`` in the config overrides it with an explicit number.
* Adam for actor, critics and temperature uses Table 1's (lr 3e-4, b1 0.9, b2 0.999,
  eps 1.5e-4); learning starts after 10^4 uniformly random actions
  (``start_training: 1e4``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from . import (ANNEAL_OVER_TRAINING, NAME, SUITE_DEFAULTS, SUITES, TRAINS_IN_ENV, UPDATE_KIND,  # noqa: F401
               Config, SACConfig)
from ..common import twin_critic_update
from ...base.networks import MLP, TwinCritic, init_actor_critic
from ...base.replay import Transition, sample_batch
from ...training.offpolicy import OffPolicyAgent, offpolicy_setup

LOG_STD_MIN = -10.0  # jaxrl networks/policies.py
LOG_STD_MAX = 2.0


class SACState(NamedTuple):
    actor: Any
    critic: Any
    critic_target: Any
    log_alpha: Any  # scalar, alpha = exp(log_alpha)
    actor_opt: Any
    critic_opt: Any
    temp_opt: Any


class GaussianTanhActor(nn.Module):
    """(mean, log_std) of the pre-tanh Gaussian; log_std smoothly squashed into
    [LOG_STD_MIN, LOG_STD_MAX] as in jaxrl's NormalTanhPolicy."""

    hidden: Sequence[int]
    act_dim: int

    @nn.compact
    def __call__(self, obs):
        out = MLP(self.hidden, 2 * self.act_dim)(obs)  # shared trunk, [mean | log_std] heads
        mean, raw = out[..., : self.act_dim], out[..., self.act_dim:]
        log_std = LOG_STD_MIN + (LOG_STD_MAX - LOG_STD_MIN) * 0.5 * (1.0 + jnp.tanh(raw))
        return mean, log_std


def _nets(cfg: SACConfig, act_dim: int):
    return GaussianTanhActor(cfg.hidden, act_dim), TwinCritic(cfg.hidden)


def optimizer(cfg: SACConfig) -> optax.GradientTransformation:
    return optax.adam(cfg.learning_rate, b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps)


def sample_action(mean, log_std, key):
    """Reparameterised a = tanh(mean + std * eps) and log pi(a|s) (summed over action
    dims), with the tanh Jacobian in the stable form log(1 - tanh(u)^2) =
    2 (log 2 - u - softplus(-2u)) (as TFP's Tanh bijector)."""
    eps = jax.random.normal(key, mean.shape)
    u = mean + jnp.exp(log_std) * eps
    logp_u = (-0.5 * eps**2 - log_std - 0.5 * math.log(2.0 * math.pi)).sum(-1)
    log_det = (2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u))).sum(-1)
    return jnp.tanh(u), logp_u - log_det


def init(key: jax.Array, obs_dim: int, act_dim: int, cfg: SACConfig) -> SACState:
    actor, critic = init_actor_critic(*_nets(cfg, act_dim), key, obs_dim, act_dim)
    log_alpha = jnp.full((), math.log(cfg.init_temperature), jnp.float32)
    tx = optimizer(cfg)
    return SACState(actor, critic, critic, log_alpha, tx.init(actor), tx.init(critic), tx.init(log_alpha))


def policy_params(state: SACState):
    """The parameters theta of the deterministic policy analysed by the paper."""
    return state.actor


def make_policy(act_dim: int, cfg: SACConfig):
    """Deterministic policy ``apply(params, obs) -> tanh(mean)``."""
    actor_net, _ = _nets(cfg, act_dim)

    def apply(params, obs):
        mean, _ = actor_net.apply(params, obs)
        return jnp.tanh(mean)

    return apply


def _actor_loss(actor_params, critic_params, alpha, obs, key, actor_apply, critic_apply):
    mean, log_std = actor_apply(actor_params, obs)
    a, logp = sample_action(mean, log_std, key)
    q1, q2 = critic_apply(critic_params, obs, a)
    return (alpha * logp - jnp.minimum(q1, q2)).mean(), -logp.mean()


def actor_step(state: SACState, batch: Transition, key: jax.Array, cfg: SACConfig, act_dim: int):
    """One Adam step of the actor against the (fixed) critics and temperature.
    Returns (new state with only ``actor`` and ``actor_opt`` changed, entropy estimate
    -mean(log pi) of the pre-step policy on this batch)."""
    actor_net, critic_net = _nets(cfg, act_dim)
    alpha = jnp.exp(state.log_alpha)
    grads, entropy = jax.grad(_actor_loss, has_aux=True)(
        state.actor, state.critic, alpha, batch.obs, key, actor_net.apply, critic_net.apply
    )
    updates, opt = optimizer(cfg).update(grads, state.actor_opt, state.actor)
    return state._replace(actor=optax.apply_updates(state.actor, updates), actor_opt=opt), entropy


def post_update(state: SACState, key: jax.Array, replay: Transition, lo, hi, cfg: SACConfig, env):
    """u(theta, X): one SAC actor update on a fresh minibatch X of ``batch_size``
    transitions drawn from the buffer as it was at the checkpoint (rows [lo, hi)), with
    the checkpoint's critics, temperature and actor Adam state; ``key`` draws both the
    minibatch and the reparameterisation noise. Returns the updated actor parameters
    (evaluated through the deterministic tanh(mean) policy)."""
    kb, ka = jax.random.split(key)
    batch = sample_batch(replay, kb, lo, hi, cfg.batch_size)
    return actor_step(state, batch, ka, cfg, env.spec.act_dim)[0].actor


def critic_step(state: SACState, batch: Transition, key: jax.Array, cfg: SACConfig, act_dim: int) -> SACState:
    actor_net, critic_net = _nets(cfg, act_dim)
    mean, log_std = actor_net.apply(state.actor, batch.next_obs)
    next_a, next_logp = sample_action(mean, log_std, key)
    tq1, tq2 = critic_net.apply(state.critic_target, batch.next_obs, next_a)
    alpha = jnp.exp(state.log_alpha)
    soft_v = jnp.minimum(tq1, tq2) - alpha * next_logp
    target = jax.lax.stop_gradient(batch.reward + cfg.discount * (1.0 - batch.terminal) * soft_v)
    critic, opt = twin_critic_update(state.critic, state.critic_opt, target, batch, critic_net.apply, optimizer(cfg))
    return state._replace(critic=critic, critic_opt=opt)


def target_step(state: SACState, cfg: SACConfig) -> SACState:
    """critic_target <- 0.995 * critic_target + 0.005 * critic."""
    tau = cfg.tau
    return state._replace(
        critic_target=jax.tree_util.tree_map(lambda t, o: (1.0 - tau) * t + tau * o, state.critic_target, state.critic)
    )


def temperature_step(state: SACState, entropy, cfg: SACConfig, act_dim: int) -> SACState:
    """One Adam step on alpha * (H - H_target) w.r.t. log_alpha: the temperature falls
    when the policy's entropy is above the target and rises when it is below."""
    h = jax.lax.stop_gradient(entropy)
    grad = jax.grad(lambda la: jnp.exp(la) * (h - cfg.entropy_target(act_dim)))(state.log_alpha)
    updates, opt = optimizer(cfg).update(grad, state.temp_opt, state.log_alpha)
    return state._replace(log_alpha=optax.apply_updates(state.log_alpha, updates), temp_opt=opt)


def update(state: SACState, replay: Transition, lo, hi, key, cfg: SACConfig, act_dim: int) -> SACState:
    """One SAC update (jaxrl order): critic step, critic target EMA, actor step against
    the new critics, temperature step, all on one minibatch from rows [lo, hi)."""
    kb, kc, ka = jax.random.split(key, 3)
    batch = sample_batch(replay, kb, lo, hi, cfg.batch_size)
    state = critic_step(state, batch, kc, cfg, act_dim)
    state = target_step(state, cfg)
    state, entropy = actor_step(state, batch, ka, cfg, act_dim)
    return temperature_step(state, entropy, cfg, act_dim)


def offpolicy_agent(spec, cfg: SACConfig) -> OffPolicyAgent:
    """SAC for the off-policy training loops (``training.offpolicy``), for an environment of
    ``spec``: exploration samples the squashed Gaussian policy; one SAC update (critics,
    target EMA, actor, temperature) per environment step."""
    act_dim = spec.act_dim
    actor_net, _ = _nets(cfg, act_dim)

    def explore(agent, obs, key):
        mean, log_std = actor_net.apply(agent.actor, obs)
        action, _ = sample_action(mean, log_std, key)
        return jnp.clip(action, -1.0, 1.0)

    def learn(agent, replay, size, key, t):
        return update(agent, replay, 0, size, key, cfg, act_dim)

    return OffPolicyAgent(NAME, init=lambda k: init(k, spec.obs_dim, act_dim, cfg), explore=explore, learn=learn,
                          policy_params=policy_params, learning_starts=cfg.learning_starts,
                          buffer_size=cfg.buffer_size)


def training_setup(env, cfg: SACConfig, seeds, total_steps: int, checkpoint_steps, max_chunk: int, log):
    """E1 for SAC (``training.train``): the off-policy loops over :func:`offpolicy_agent`."""
    return offpolicy_setup(offpolicy_agent(env.spec, cfg), env, seeds, total_steps, checkpoint_steps, max_chunk,
                           log)
