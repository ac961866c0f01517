"""PPO (Schulman et al. 2017) with the hyperparameters of the paper's Table 1: the agent
(``retland.agents.Agent``; its declaration and frozen config are the package,
:mod:`retland.agents.ppo`). The algorithm, the post-update protocols and where they follow
the authors' code: docs/ppo.md.

``init`` and ``policy_params`` (the agent state, ``state``), the deterministic policy, the
post-update u(theta, X) of paper Eq. 3 / Sec. 3.1 (``post_update``; in a host-stepped suite
``host_update``) and ``training_setup`` (``train_loop``: the iterations the on-policy loops
of ``retland.training.onpolicy`` run).
"""

from __future__ import annotations

import jax

from . import (ANNEAL_OVER_TRAINING, NAME, SUITE_DEFAULTS, SUITES, TRAINS_IN_ENV, UPDATE_KIND,  # noqa: F401
               Config, PPOConfig)
from .collection import collect, fresh_envs, saved_envs, saved_host_envs, with_fresh_saved_envs  # noqa: F401
from .config import check_env
from .losses import Batch, advantages, one_step_update, ppo_epochs, ppo_update
from .networks import nets
from .optim import fresh_post_update_optimizer, optimizer
from .state import PPOState, init, normalize, policy_params  # noqa: F401  (init: an Agent member)
from .train_loop import host_fns, training_setup  # noqa: F401
from ...base.envs import is_host_stepped


def make_policy(act_dim: int, cfg: PPOConfig):
    """Deterministic policy on normalised observations: the Gaussian mean clipped to
    [-1, 1] as every action sent to the environment (continuous actions), the argmax of
    the logits (discrete actions: the greedy policy the paper evaluates on Atari)."""
    net = nets(cfg, act_dim)

    def apply(params, obs):
        return net.dist.mode(net.actor(params["actor"], normalize(params["obs_norm"], obs, cfg)))

    return apply


def update_from_saved(state: PPOState, batch, key: jax.Array, cfg: PPOConfig, act_dim: int) -> PPOState:
    """The update part of u(theta, X) for a batch collected from the saved training
    environments: ``one_step_update`` (``post_update_protocol = "authors"``) or one full
    ``ppo_update`` (``"authors_atari"``; its first ``post_update_grad_steps`` when > 0; the
    optimizer of ``post_update_optimizer``, :func:`authors_atari_update`)."""
    if cfg.post_update_protocol == "authors_atari":
        return authors_atari_update(state, advantages(state, batch, cfg, act_dim), key, cfg, act_dim)
    return one_step_update(state, batch, key, cfg, act_dim)


def authors_atari_update(state: PPOState, rows, key: jax.Array, cfg: PPOConfig, act_dim: int) -> PPOState:
    """The authors' Atari u (paper A.6, ``atari_policy_variance.py`` l. 333-336, their
    ``update_vmapped_agent``): one full PPO update (epochs x num_minibatches steps, the first
    ``post_update_grad_steps`` when > 0) on the B rows ``rows`` of ``losses.advantages``.
    ``post_update_optimizer``: ``"fresh_adam_no_clip"`` (theirs: a fresh Adam at the
    checkpoint's learning rate, no gradient clipping, ``optim.fresh_post_update_optimizer``)
    or ``"continue"`` (the checkpoint's Adam state and rate, clipped at ``max_grad_norm``).
    Each sample is updated on its own: their ensemble averaged the loss over the B samples of
    a batch and normalised the advantages jointly (docs/appendix-suites.md), which is not
    copied."""
    n = cfg.post_update_grad_steps or None
    if cfg.post_update_optimizer == "fresh_adam_no_clip":
        tx = fresh_post_update_optimizer(cfg, state.opt)
        opt = tx.init({"actor": state.actor, "critic": state.critic})  # step 0, zero moments
        return ppo_epochs(state, rows, key, cfg, act_dim, tx, opt, n)
    return ppo_epochs(state, rows, key, cfg, act_dim, optimizer(cfg, post_update=True), state.opt, n)


def post_update_state(state: PPOState, key: jax.Array, cfg: PPOConfig, env) -> PPOState:
    """The whole agent state after u(theta, X) (``post_update`` returns its policy part).

    ``post_update_protocol = "authors"`` / ``"authors_atari"``: continue ``collect`` from
    the checkpoint's saved training environments (``saved_envs``) for unroll_length steps
    with the checkpoint's stochastic policy (key ``split(key)[0]``), then
    ``update_from_saved`` (key ``split(key)[1]``). ``"full_update"``: collect from fresh
    resets (keys ``split(key, 3)[:2]``), then ``ppo_update`` (``split(key, 3)[2]``), its
    first ``post_update_grad_steps`` steps when > 0. JAX-stepped suites only (a
    host-stepped one: ``host_update``)."""
    if is_host_stepped(env):
        raise ValueError(f"PPO's post-update in the host-stepped suite {env.spec.suite!r} steps host "
                         "environments: use host_update (analyses.post_update.make_estimator does)")
    if cfg.post_update_protocol == "full_update":
        k_reset, k_col, k_upd = jax.random.split(key, 3)
        env_state, ep_t, ep_ret = fresh_envs(env, cfg, k_reset)
        batch = collect(state, env, cfg, env_state, ep_t, ep_ret, k_col)[3]
        n = cfg.post_update_grad_steps or None
        return ppo_update(state, batch, k_upd, cfg, env.spec.act_dim, n_steps=n)
    k_col, k_mb = jax.random.split(key)
    env_state, ep_t, ep_ret = saved_envs(state, env, cfg)
    batch = collect(state, env, cfg, env_state, ep_t, ep_ret, k_col)[3]
    return update_from_saved(state, batch, k_mb, cfg, env.spec.act_dim)


def post_update(state: PPOState, key: jax.Array, replay, lo, hi, cfg: PPOConfig, env):
    """u(theta, X), the authors' protocol by default (docs/ppo.md): X = num_envs x
    unroll_length transitions collected by the checkpoint's stochastic policy with
    ``key``, continuing the training environments saved with the checkpoint; u = ONE
    Adam step continuing the checkpoint's Adam state on B / num_minibatches of them, GAE
    with the checkpoint's value net; the normaliser is frozen. ``state`` must come from
    a checkpoint (``PPOState.env_state``; else ``CheckpointError``).
    ``replay``/``lo``/``hi`` are ignored. Returns the updated ``policy_params``.

    Jittable and vmappable over ``key`` (the saved environments are shared); its memory per
    vmapped sample: docs/ppo.md, "Memory of the post-update".
    """
    return policy_params(post_update_state(state, key, cfg, env))


def host_update(cfg: PPOConfig, env):
    """u(theta, X) in a host-stepped suite (Atari; the authors'
    ``eval_policy/experiments/atari_policy_variance.py``) as a
    :class:`retland.rollout.HostUpdate`. ``post_update_data: saved_envs``: per key, the
    checkpoint's ``num_envs`` saved training environments (``env_state/``: snapshots,
    episode counters) are restored and continued for ``unroll_length`` steps with the
    checkpoint's stochastic policy (sampled actions), then ``update_from_saved``
    (``"authors_atari"``: one full PPO update, :func:`authors_atari_update`; ``"authors"``:
    one Adam step). ``post_update_data: pool`` (``authors_atari`` only, the authors'): the
    collection continues the estimator's pool of environments instead (reset once per job,
    never restored; key i's block of ``num_envs`` copies sampled with key i), GAE runs over
    the joint collection and key i learns from its i-th time-major slice of B rows
    (``rollout.HostUpdateEstimator``). ``"full_update"``
    (fresh resets) is refused: a host suite's resets are its copies' own streams, not the
    key's. The rollout of the result is the greedy policy
    (``make_policy``)."""
    from ...rollout import HostUpdate

    check_env(env, cfg)
    if cfg.post_update_protocol == "full_update":
        raise ValueError("PPO post_update_protocol 'full_update' (fresh resets drawn with the key) has no host-stepped "
                         "version: use 'authors_atari' or 'authors' (continue the saved training environments)")
    act_dim = env.spec.act_dim
    sample, _ = host_fns(cfg, act_dim)

    def envs(state: PPOState):
        return saved_host_envs(state, cfg)

    def learn(state: PPOState, key, data):
        return policy_params(update_from_saved(state, Batch(*data), key, cfg, act_dim))

    if cfg.post_update_data == "pool" and cfg.post_update_protocol == "authors_atari":
        # the authors' data (atari_policy_variance.py l. 250-331): one pool reset once per job,
        # GAE over the joint collection with the checkpoint's value net, a slice of it per sample
        def joint_advantages(state: PPOState, data):
            return advantages(state, Batch(*data), cfg, act_dim)

        def learn_rows(state: PPOState, key, rows):
            return policy_params(authors_atari_update(state, rows, key, cfg, act_dim))

        return HostUpdate(envs, sample, learn, cfg.num_envs, cfg.unroll_length, env.episode_length,
                          joint_advantages, learn_rows)
    return HostUpdate(envs, sample, learn, cfg.num_envs, cfg.unroll_length, env.episode_length)
