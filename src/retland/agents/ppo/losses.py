"""PPO's losses: GAE, the clipped surrogate, the PPO update (one implementation for every
action distribution and torso: ``networks.nets``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from .config import PPOConfig
from .networks import nets
from .optim import optimizer
from .state import PPOState, normalize


def gae(reward, value, next_value, term, end, discount: float, lam: float):
    """Generalised advantage estimation over the leading (time) axis.

    ``term`` = 1 where the episode terminated at this step (no bootstrap), ``end`` = 1
    where it ended for any reason (termination or time limit; the trace is cut).
    ``next_value`` is V of each step's true next observation (before any reset).
    Returns (advantages, returns = advantages + value).
    """
    delta = reward + discount * (1.0 - term) * next_value - value

    def body(a_next, x):
        d, e = x
        a = d + discount * lam * (1.0 - e) * a_next
        return a, a

    _, adv = jax.lax.scan(body, jnp.zeros_like(delta[0]), (delta, end), reverse=True)
    return adv, adv + value


def clipped_surrogate(ratio, adv, clip_coef: float):
    """CleanRL's policy loss: mean(max(-A r, -A clip(r, 1 - c, 1 + c)))."""
    return jnp.maximum(-adv * ratio, -adv * jnp.clip(ratio, 1.0 - clip_coef, 1.0 + clip_coef)).mean()


class Batch(NamedTuple):
    """One iteration's data, leading axes [unroll_length, num_envs]; raw observations."""

    obs: jax.Array
    action: jax.Array  # the sampled action (unclipped Gaussian, or a discrete index)
    logp: jax.Array
    reward: jax.Array
    term: jax.Array
    end: jax.Array
    next_obs: jax.Array  # true next observation (before a reset)


def ppo_loss(params, mb, obs_norm, cfg: PPOConfig, act_dim: int):
    """(loss, (pg_loss, v_loss, entropy)) on one minibatch (obs, action, logp, adv, ret[,
    old value]). With ``cfg.clip_value_loss`` (needs the old values, as ``advantages``
    gives) the value loss is CleanRL's clipped one: 0.5 * mean(max((V - ret)^2, (V_old +
    clip(V - V_old, -c, c) - ret)^2))."""
    net = nets(cfg, act_dim)
    obs, action, old_logp, adv, ret = mb[:5]
    nobs = normalize(obs_norm, obs, cfg)
    out = net.actor(params["actor"], nobs)
    ratio = jnp.exp(net.dist.log_prob(out, action) - old_logp)
    if cfg.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg = clipped_surrogate(ratio, adv, cfg.clip_coef)
    v = net.value(params["actor"], params["critic"], nobs)
    if cfg.clip_value_loss:
        old_v = mb[5]
        v_clip = old_v + jnp.clip(v - old_v, -cfg.clip_coef, cfg.clip_coef)
        v_loss = 0.5 * jnp.maximum((v - ret) ** 2, (v_clip - ret) ** 2).mean()
    else:
        v_loss = 0.5 * ((v - ret) ** 2).mean()
    ent = net.dist.entropy(out).mean()
    return pg - cfg.ent_coef * ent + cfg.vf_coef * v_loss, (pg, v_loss, ent)


def advantages(state: PPOState, batch: Batch, cfg: PPOConfig, act_dim: int):
    """GAE with the state's value net (normalised by its normaliser) over the batch,
    flattened time-major (row t * num_envs + e): the B rows (obs, action, logp, adv, ret,
    value) that minibatches index."""
    value_fn = nets(cfg, act_dim).value
    value = value_fn(state.actor, state.critic, normalize(state.obs_norm, batch.obs, cfg))
    next_value = value_fn(state.actor, state.critic, normalize(state.obs_norm, batch.next_obs, cfg))
    adv, ret = gae(batch.reward, value, next_value, batch.term, batch.end, cfg.discount, cfg.gae_lambda)
    B = batch.reward.shape[0] * batch.reward.shape[1]
    return jax.tree_util.tree_map(lambda x: x.reshape((B,) + x.shape[2:]),
                                  (batch.obs, batch.action, batch.logp, adv, ret, value))


def ppo_update(state: PPOState, batch: Batch, key: jax.Array, cfg: PPOConfig, act_dim: int,
               n_steps: int | None = None, post_update: bool = False) -> PPOState:
    """One PPO update: GAE with the current value net, then ``epochs`` passes of
    ``num_minibatches`` Adam steps over random permutations of the batch (only the
    first ``n_steps`` of these steps when given; ``post_update``: the learning rate of a
    post-update, ``optim.optimizer``). The normaliser is left unchanged."""
    flat = advantages(state, batch, cfg, act_dim)
    return ppo_epochs(state, flat, key, cfg, act_dim, optimizer(cfg, post_update=post_update), state.opt, n_steps)


def ppo_epochs(state: PPOState, flat, key: jax.Array, cfg: PPOConfig, act_dim: int,
               tx: optax.GradientTransformation, opt, n_steps: int | None = None) -> PPOState:
    """The optimisation part of :func:`ppo_update` on the B rows ``flat`` of
    :func:`advantages`: ``epochs`` passes of ``num_minibatches`` steps of ``tx`` from the
    optimizer state ``opt`` over random permutations (key ``key``) of the rows (only the first
    ``n_steps`` steps when given). Returns ``state`` with the new networks and ``opt``."""
    B = cfg.batch_size
    perms = jax.vmap(lambda k: jax.random.permutation(k, B))(jax.random.split(key, cfg.epochs))
    idx = perms.reshape(cfg.epochs * cfg.num_minibatches, cfg.minibatch_size)
    if n_steps:
        idx = idx[:n_steps]
    grad_fn = jax.grad(ppo_loss, has_aux=True)

    def step(carry, mb_idx):
        params, opt = carry
        mb = jax.tree_util.tree_map(lambda x: x[mb_idx], flat)
        grads, _ = grad_fn(params, mb, state.obs_norm, cfg, act_dim)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), None

    params = {"actor": state.actor, "critic": state.critic}
    (params, opt), _ = jax.lax.scan(step, (params, opt), idx)
    return state._replace(actor=params["actor"], critic=params["critic"], opt=opt)


def one_step_update(state: PPOState, batch: Batch, key: jax.Array, cfg: PPOConfig, act_dim: int) -> PPOState:
    """The authors' post-update step: GAE as in training, then ONE Adam step (clip at
    ``post_update_max_grad_norm``, default ``max_grad_norm``) continuing ``state.opt``,
    on one minibatch of B / num_minibatches rows of the time-major batch: rows
    [0, B / num_minibatches) (``post_update_minibatch = "first"``, theirs) or that many
    rows drawn with ``key`` (``"random"``). The normaliser is left unchanged."""
    flat = advantages(state, batch, cfg, act_dim)
    n = cfg.minibatch_size
    if cfg.post_update_minibatch == "random":
        idx = jax.random.permutation(key, cfg.batch_size)[:n]
        mb = jax.tree_util.tree_map(lambda x: x[idx], flat)
    else:
        mb = jax.tree_util.tree_map(lambda x: x[:n], flat)
    params = {"actor": state.actor, "critic": state.critic}
    grads, _ = jax.grad(ppo_loss, has_aux=True)(params, mb, state.obs_norm, cfg, act_dim)
    updates, opt = optimizer(cfg, cfg.post_update_max_grad_norm, post_update=True).update(grads, state.opt, params)
    params = optax.apply_updates(params, updates)
    return state._replace(actor=params["actor"], critic=params["critic"], opt=opt)
