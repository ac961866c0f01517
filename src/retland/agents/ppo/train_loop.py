"""E1 for PPO: one seed's iteration (collect, update, absorb the observations), the training
carry and schedule, and ``training_setup``, which hands them to the on-policy loops of
``retland.training.onpolicy`` (JAX-stepped: ``OnPolicyLoop`` over :func:`iteration`;
host-stepped: ``HostOnPolicyLoop`` over :func:`host_fns`).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from . import NAME
from .config import PPOConfig, check_env
from .collection import collect, fresh_envs, sample_actions
from .losses import Batch, ppo_update
from .networks import nets
from .state import PPOState, init, policy_params, update_obs_norm
from ...base.envs import is_host_stepped
from ...training.driver import Schedule, Setup
from ...training.onpolicy import HostOnPolicyLoop, OnPolicyCarry, OnPolicyLoop

#: PPO's training carry of one seed (``agent``: its PPOState; ``env_state``, ``ep_t``,
#: ``ep_ret``: its ``num_envs`` training environments)
Carry = OnPolicyCarry


def iteration(c: Carry, env, cfg: PPOConfig) -> Carry:
    """One PPO iteration of one seed: collect, update, absorb the observations."""
    key, k_col, k_upd = jax.random.split(c.key, 3)
    env_state, ep_t, ep_ret, batch, finished = collect(c.agent, env, cfg, c.env_state, c.ep_t, c.ep_ret, k_col)
    agent = ppo_update(c.agent, batch, k_upd, cfg, env.spec.act_dim)
    if cfg.normalize_observations:
        agent = agent._replace(obs_norm=update_obs_norm(agent.obs_norm, batch.obs.reshape(-1, batch.obs.shape[-1])))
    done = jnp.isfinite(finished)
    return Carry(agent, env_state, ep_t, ep_ret, key,
                 c.ret_sum + jnp.where(done, finished, 0.0).sum(), c.ret_count + done.sum())


def host_fns(cfg: PPOConfig, act_dim: int):
    """(sample, learn) of one seed for ``training.onpolicy.HostOnPolicyLoop`` (a host-stepped
    suite): ``sample(agent, key, obs[N]) -> (key, env_action, action, logp)`` (the stochastic
    policy; as ``collect``), ``learn(agent, key, data) -> (agent, key)``: the PPO update of
    :func:`iteration` on the collected ``OnPolicyData`` (fields in ``Batch``'s order), then
    the normaliser absorbs the observations (when used)."""
    env_action = nets(cfg, act_dim).dist.env_action

    def sample(agent, key, obs):
        key, k = jax.random.split(key)
        action, logp = sample_actions(agent, obs, k, cfg, act_dim)
        return key, env_action(action), action, logp

    def learn(agent, key, data):
        key, k = jax.random.split(key)
        batch = Batch(*data)
        agent = ppo_update(agent, batch, k, cfg, act_dim)
        if cfg.normalize_observations:
            obs = batch.obs.reshape((-1, agent.obs_norm.mean.shape[0])).astype(jnp.float32)
            agent = agent._replace(obs_norm=update_obs_norm(agent.obs_norm, obs))
        return agent, key

    return sample, learn


def init_carry(env, cfg: PPOConfig, seeds) -> Carry:
    spec = env.spec

    def one(seed):
        k_init, k_reset, key = jax.random.split(jax.random.PRNGKey(seed), 3)
        env_state, ep_t, ep_ret = fresh_envs(env, cfg, k_reset)
        return Carry(init(k_init, spec.obs_dim, spec.act_dim, cfg), env_state, ep_t, ep_ret, key,
                     jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))

    return jax.jit(jax.vmap(one))(jnp.asarray(seeds, jnp.uint32))


def iterations_for(step: int, batch_size: int) -> int:
    """The whole iteration closest to ``step`` environment steps (half up), >= 1."""
    return max(1, (2 * int(step) + batch_size) // (2 * batch_size))


def schedule(total_steps: int, checkpoint_steps: Sequence[int], batch_size: int, eval_every: int):
    """(n_iterations, {requested step: iteration}, sorted chunk boundaries in iterations)."""
    n_total = iterations_for(total_steps, batch_size)
    ck = {int(s): iterations_for(s, batch_size) for s in checkpoint_steps}
    bounds = set(range(eval_every, n_total, eval_every)) | set(ck.values()) | {n_total}
    return n_total, ck, sorted(bounds)


def training_setup(env, cfg: PPOConfig, seeds, total_steps: int, checkpoint_steps, max_chunk: int, log) -> Setup:
    """E1 for PPO (``training.train``): steps are rounded to whole iterations (docs/ppo.md,
    "Checkpoints"); ``max_chunk`` (environment steps) sets the learning-curve spacing,
    ``max(1, max_chunk // B)`` iterations. The training files hold no replay (0 rows; PPO
    is on-policy): checkpoints carry the agent state (actor, critic, opt, obs_norm) with
    ``replay_lo = replay_hi = 0`` and the training environments (``env_state/``, for the
    post-update); a resume point holds the whole training carry."""
    check_env(env, cfg)
    spec = env.spec
    B = cfg.batch_size
    eval_every = max(1, int(max_chunk) // B)
    n_total, ck_iters, bounds = schedule(total_steps, checkpoint_steps, B, eval_every)
    log(f"[train] {spec.suite}/{spec.name} {NAME} seeds={list(seeds)} steps={total_steps} -> {n_total} iterations "
        f"of {cfg.num_envs}x{cfg.unroll_length}={B} env steps ({n_total * B} steps); backend={spec.backend}; "
        f"evaluation every {eval_every} iterations; checkpoints "
        + ", ".join(f"{s}->{it * B}" for s, it in ck_iters.items()))
    if len(set(ck_iters.values())) < len(ck_iters):
        log("[train] warning: several checkpoint steps round to the same iteration (same state)")
    by_iter: dict[int, list[int]] = {}
    for s, it in ck_iters.items():
        by_iter.setdefault(it, []).append(s)
    sched = Schedule("iteration", n_total, B, tuple(bounds), by_iter)

    def file_setup(w):
        w.f.attrs["env_steps_per_iteration"] = B
        w.f.attrs["trained_env_steps"] = n_total * B

    if is_host_stepped(env):
        sample, learn = host_fns(cfg, spec.act_dim)
        loop = HostOnPolicyLoop(env, seeds, sched, num_envs=cfg.num_envs, unroll_length=cfg.unroll_length,
                                sample=sample, learn=learn, policy_params=policy_params,
                                checkpoint_tree=checkpoint_tree, checkpoint_attrs=lambda u: checkpoint_attrs(cfg, u))
        agent, key = init_host_agents(spec, cfg, seeds)
        return Setup(loop, loop.initial(agent, key), [B, eval_every], file_setup)
    loop = OnPolicyLoop(env, sched, iterate=lambda c: iteration(c, env, cfg), policy_params=policy_params,
                        checkpoint_tree=checkpoint_tree, checkpoint_attrs=lambda u: checkpoint_attrs(cfg, u))
    return Setup(loop, init_carry(env, cfg, seeds), [B, eval_every], file_setup)


def init_host_agents(spec, cfg: PPOConfig, seeds):
    """(agents, keys) of the seeds, [S, ...], drawn as :func:`init_carry` draws them (the
    environments of a host-stepped suite draw their resets from their own seeds). One
    jitted call per seed, stacked: a vmapped orthogonal initialisation of the CNN's large
    matrices (batched QR) is very slow on XLA's CPU backend."""
    def one(seed):
        k_init, _, key = jax.random.split(jax.random.PRNGKey(seed), 3)
        return init(k_init, spec.obs_dim, spec.act_dim, cfg), key

    one = jax.jit(one)
    parts = [one(jnp.asarray(s, jnp.uint32)) for s in seeds]
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *parts)


def checkpoint_tree(agent: PPOState, envs: dict) -> PPOState:
    """What a checkpoint holds of one seed: its agent state and, for the post-update to
    continue from, its training environments (``envs``: {"state", "ep_t", "ep_ret"}, the
    checkpoint's ``env_state/`` group)."""
    return agent._replace(env_state=envs)


def checkpoint_attrs(cfg: PPOConfig, u: int) -> dict:
    """A checkpoint's attributes after ``u`` iterations (no replay: PPO is on-policy)."""
    return {"replay_lo": 0, "replay_hi": 0, "n_updates": u * cfg.epochs * cfg.num_minibatches,
            "env_steps": u * cfg.batch_size, "iterations": u}
