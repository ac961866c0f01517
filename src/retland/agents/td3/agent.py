"""TD3 (Fujimoto et al. 2018) with the hyperparameters of the paper's Table 1: the agent
(``retland.agents.Agent``; its declaration and frozen config are the package,
:mod:`retland.agents.td3`).

``init``, the functions of the off-policy training loops (:func:`offpolicy_agent`: the
behaviour policy and one update per environment step, run by
``retland.training.offpolicy``), and the post-update step u(theta, X) of paper Eq. 3 /
Def. 3.1: one actor step on a fresh minibatch of the replay buffer as it was at the
checkpoint, continuing the checkpoint's Adam state and using the checkpoint's critic.

Details the paper leaves out follow its code (jaxrl's DDPG/TD3 learner): the actor
loss is -mean(min(Q1, Q2)(s, pi(s))); the actor and both target networks are updated
every ``policy_delay`` critic updates; learning starts after 10^4 uniformly random
actions.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import (ANNEAL_OVER_TRAINING, NAME, SUITE_DEFAULTS, SUITES, TRAINS_IN_ENV, UPDATE_KIND,  # noqa: F401
               Config, TD3Config)
from ..common import twin_critic_update
from ...base.networks import DeterministicActor, TwinCritic, init_actor_critic
from ...base.replay import Transition, sample_batch
from ...training.offpolicy import OffPolicyAgent, offpolicy_setup


class TD3State(NamedTuple):
    actor: Any
    critic: Any
    actor_target: Any
    critic_target: Any
    actor_opt: Any
    critic_opt: Any


def _nets(cfg: TD3Config, act_dim: int):
    return DeterministicActor(cfg.hidden, act_dim), TwinCritic(cfg.hidden)


def optimizer(cfg: TD3Config) -> optax.GradientTransformation:
    return optax.adam(cfg.learning_rate, b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps)


def init(key: jax.Array, obs_dim: int, act_dim: int, cfg: TD3Config) -> TD3State:
    actor, critic = init_actor_critic(*_nets(cfg, act_dim), key, obs_dim, act_dim)
    tx = optimizer(cfg)
    return TD3State(actor, critic, actor, critic, tx.init(actor), tx.init(critic))


def policy_params(state: TD3State):
    """The parameters theta of the deterministic policy analysed by the paper."""
    return state.actor


def make_policy(act_dim: int, cfg: TD3Config):
    actor_net, _ = _nets(cfg, act_dim)
    return actor_net.apply


def _actor_loss(actor_params, critic_params, obs, actor_apply, critic_apply):
    a = actor_apply(actor_params, obs)
    q1, q2 = critic_apply(critic_params, obs, a)
    return -jnp.minimum(q1, q2).mean()


def actor_step(state: TD3State, batch: Transition, cfg: TD3Config, act_dim: int) -> TD3State:
    """One Adam step of the actor against the (fixed) critic. Returns the new state
    with only ``actor`` and ``actor_opt`` changed."""
    actor_net, critic_net = _nets(cfg, act_dim)
    grads = jax.grad(_actor_loss)(state.actor, state.critic, batch.obs, actor_net.apply, critic_net.apply)
    updates, opt = optimizer(cfg).update(grads, state.actor_opt, state.actor)
    return state._replace(actor=optax.apply_updates(state.actor, updates), actor_opt=opt)


def post_update(state: TD3State, key: jax.Array, replay: Transition, lo, hi, cfg: TD3Config, env):
    """u(theta, X): one TD3 actor update on a fresh minibatch X of 256 transitions drawn
    from the buffer as it was at the checkpoint (rows [lo, hi)), with the checkpoint's
    critic and optimizer state. Returns the updated policy parameters."""
    batch = sample_batch(replay, key, lo, hi, cfg.batch_size)
    return actor_step(state, batch, cfg, env.spec.act_dim).actor


def critic_step(state: TD3State, batch: Transition, key: jax.Array, cfg: TD3Config, act_dim: int) -> TD3State:
    actor_net, critic_net = _nets(cfg, act_dim)
    noise = jnp.clip(
        cfg.policy_noise * jax.random.normal(key, batch.action.shape), -cfg.noise_clip, cfg.noise_clip
    )
    next_a = jnp.clip(actor_net.apply(state.actor_target, batch.next_obs) + noise, -1.0, 1.0)
    tq1, tq2 = critic_net.apply(state.critic_target, batch.next_obs, next_a)
    target = batch.reward + cfg.discount * (1.0 - batch.terminal) * jnp.minimum(tq1, tq2)
    target = jax.lax.stop_gradient(target)
    critic, opt = twin_critic_update(state.critic, state.critic_opt, target, batch, critic_net.apply, optimizer(cfg))
    return state._replace(critic=critic, critic_opt=opt)


def _ema(target, online, tau):
    return jax.tree_util.tree_map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def delayed_step(state: TD3State, batch: Transition, cfg: TD3Config, act_dim: int) -> TD3State:
    state = actor_step(state, batch, cfg, act_dim)
    return state._replace(
        actor_target=_ema(state.actor_target, state.actor, cfg.tau),
        critic_target=_ema(state.critic_target, state.critic, cfg.tau),
    )


def update(state: TD3State, replay: Transition, lo, hi, key, do_actor, cfg: TD3Config, act_dim: int) -> TD3State:
    """One TD3 update: a critic step, and every ``policy_delay`` updates an actor step
    plus EMA of both targets. ``do_actor`` must be unbatched under vmap (it is derived
    from the global step counter), so the branch stays a real ``lax.cond``."""
    kb, kn = jax.random.split(key)
    batch = sample_batch(replay, kb, lo, hi, cfg.batch_size)
    state = critic_step(state, batch, kn, cfg, act_dim)
    return jax.lax.cond(
        do_actor, lambda s: delayed_step(s, batch, cfg, act_dim), lambda s: s, state
    )


def offpolicy_agent(spec, cfg: TD3Config) -> OffPolicyAgent:
    """TD3 for the off-policy training loops (``training.offpolicy``), for an environment of
    ``spec``: exploration adds Gaussian noise (std 0.1) to the deterministic action; every
    step a critic update, every ``policy_delay`` steps an actor update and the target EMA."""
    act_dim = spec.act_dim

    def learn(agent, replay, size, key, t):
        do_actor = (t + 1 - cfg.learning_starts) % cfg.policy_delay == 0
        return update(agent, replay, 0, size, key, do_actor, cfg, act_dim)

    return OffPolicyAgent(NAME, init=lambda k: init(k, spec.obs_dim, act_dim, cfg),
                          explore=lambda agent, obs, key: explore(agent, obs, key, cfg, act_dim), learn=learn,
                          policy_params=policy_params, learning_starts=cfg.learning_starts,
                          buffer_size=cfg.buffer_size)


def training_setup(env, cfg: TD3Config, seeds, total_steps: int, checkpoint_steps, max_chunk: int, log):
    """E1 for TD3 (``training.train``): the off-policy loops over :func:`offpolicy_agent`."""
    return offpolicy_setup(offpolicy_agent(env.spec, cfg), env, seeds, total_steps, checkpoint_steps, max_chunk,
                           log)


# --- Algorithm 1 (paper Sec. 4.2): one full TD3 training step in a reusable form -------
def explore(state: TD3State, obs: jax.Array, key: jax.Array, cfg: TD3Config, act_dim: int) -> jax.Array:
    """The training behaviour policy: deterministic action plus N(0, 0.1^2) noise, clipped."""
    noise = cfg.exploration_noise * jax.random.normal(key, (act_dim,))
    return jnp.clip(make_policy(act_dim, cfg)(state.actor, obs) + noise, -1.0, 1.0)


def full_update(state: TD3State, key: jax.Array, replay: Transition, lo, hi, cfg: TD3Config, act_dim: int,
                step) -> TD3State:
    """One TD3 learner update on a fresh minibatch from rows [lo, hi): the proposal
    u(theta, B) of Algorithm 1. A critic step always; an actor step and the EMA of both
    targets iff ``step % policy_delay == 0``, with the critic and actor steps on the same
    minibatch.

    ``step`` is the learner's update counter as the authors' rejection code keeps it: it
    builds a fresh ``SimpleDDPGLearner`` from the checkpoint (improve_ltp/experiments/
    td3_reject_ltp.py l. 133-140, ``**ddpg_config`` of the training run, whose
    ``target_update_period`` is 2: run_algorithm/conf/experiment/train_jaxrl.yaml l. 69),
    whose counter starts at 1 (improve_ltp/jaxrl/agents/ddpg/simple_ddpg_learner.py l. 180),
    gates critic-target, actor and actor-target updates with ``update_target = self.step %
    self.target_update_period == 0`` (l. 248, l. 57-78) and then counts ``self.step += 1``
    (l. 254). The counter is part of ``agent_params()`` (l. 215), so a rejected proposal
    restores it (l. 224; td3_reject_ltp.py l. 260). Algorithm 1 therefore passes 1 for its
    first proposal, counts it up per kept proposal, and the first proposal from a
    checkpoint updates only the critic, whatever the checkpoint's training-step parity.
    ``step`` may be traced (a ``lax.cond`` chooses the branch)."""
    do_actor = jnp.asarray(step) % cfg.policy_delay == 0
    return update(state, replay, lo, hi, key, do_actor, cfg, act_dim)
