"""PPO's data collection with the raw Brax env, and the training environments a checkpoint saves.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .config import PPOConfig
from .losses import Batch
from .networks import nets
from .state import PPOState, SavedEnvs, normalize
from ...base.checkpoints import CheckpointError, flatten_with_names, path_name


def _select(mask, a, b):
    """Per-env ``where(mask, a, b)`` over pytrees with leading axis num_envs."""
    return jax.tree_util.tree_map(
        lambda x, y: jnp.where(mask.reshape(mask.shape + (1,) * (x.ndim - 1)), x, y), a, b)


def sample_actions(state: PPOState, obs, key, cfg: PPOConfig, act_dim: int):
    """(action, logp) of the stochastic policy for a batch of raw observations: the sampled
    action (what the batch stores) and its log-probability. ``dist.env_action`` of it is
    what the environment gets."""
    net = nets(cfg, act_dim)
    out = net.actor(state.actor, normalize(state.obs_norm, obs, cfg))
    action = net.dist.sample(out, key)
    return action, net.dist.log_prob(out, action)


def collect(state: PPOState, env, cfg: PPOConfig, env_state, ep_t, ep_ret, key):
    """Roll the stochastic policy for ``unroll_length`` steps in ``num_envs`` envs
    (leading axis of ``env_state``), resetting each env that terminates or reaches the
    time limit with a fresh draw from rho_0. Returns (env_state, ep_t, ep_ret, Batch,
    finished episode returns [T, N], NaN where no episode ended)."""
    act_dim = env.spec.act_dim
    env_action = nets(cfg, act_dim).dist.env_action
    N = cfg.num_envs
    step_v = jax.vmap(env.step)
    reset_v = jax.vmap(env.reset)

    def body(c, k):
        env_state, ep_t, ep_ret = c
        k_act, k_reset = jax.random.split(k)
        obs = env.obs(env_state)
        action, logp = sample_actions(state, obs, k_act, cfg, act_dim)
        nxt = step_v(env_state, env_action(action))
        reward = env.reward(nxt)
        term = (env.done(nxt) > 0).astype(jnp.float32)
        ep_t = ep_t + 1
        ep_ret = ep_ret + reward
        end = (term > 0) | (ep_t >= env.episode_length)
        fresh = reset_v(jax.random.split(k_reset, N))
        env_state = _select(end, fresh, nxt)
        tr = Batch(obs, action, logp, reward, term, end.astype(jnp.float32), env.obs(nxt))
        finished = jnp.where(end, ep_ret, jnp.nan)
        return (env_state, jnp.where(end, 0, ep_t), jnp.where(end, 0.0, ep_ret)), (tr, finished)

    (env_state, ep_t, ep_ret), (batch, finished) = jax.lax.scan(
        body, (env_state, ep_t, ep_ret), jax.random.split(key, cfg.unroll_length))
    return env_state, ep_t, ep_ret, batch, finished


def fresh_envs(env, cfg: PPOConfig, key):
    """``num_envs`` fresh initial states and zeroed episode counters."""
    env_state = jax.vmap(env.reset)(jax.random.split(key, cfg.num_envs))
    return env_state, jnp.zeros((cfg.num_envs,), jnp.int32), jnp.zeros((cfg.num_envs,), jnp.float32)


def with_fresh_saved_envs(state: PPOState, env, cfg: PPOConfig, key) -> PPOState:
    """``state`` holding ``num_envs`` freshly reset environments as if saved with a checkpoint
    (benchmarks and tests of an untrained agent; a real checkpoint holds its own)."""
    return state._replace(env_state=SavedEnvs(dict(flatten_with_names(env_state_tree(*fresh_envs(env, cfg, key))))))


def _saved(state: PPOState, why: str):
    """``state.env_state``; ``CheckpointError`` (naming the file and group when read from one)
    when it holds no saved training environments."""
    saved = state.env_state
    if not saved.arrays:
        raise CheckpointError(
            (saved.missing or "this PPO state was not read from a checkpoint and")
            + ": no saved training environments (checkpoint group env_state/, written by PPO training"
            f" since the post-update continues from them{why}); retrain this run")
    return saved


def saved_envs(state: PPOState, env, cfg: PPOConfig):
    """(env_state, ep_t, ep_ret) of the ``num_envs`` training environments saved with the
    checkpoint ``state`` was read from, in the structure ``collect`` takes (rebuilt from
    ``state.env_state`` by dataset name). Raises ``CheckpointError`` (naming the file and
    group when read from one) when the checkpoint has none."""
    saved = _saved(state, ", post_update_protocol 'authors'")
    template = jax.eval_shape(lambda k: env_state_tree(*fresh_envs(env, cfg, k)), jax.random.PRNGKey(0))
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, leaf in paths:
        name = path_name(path)
        if name not in saved.arrays:
            raise CheckpointError(f"saved training environments: dataset env_state/{name} is missing "
                                  f"(has {sorted(saved.arrays)})")
        x = saved.arrays[name]
        if tuple(jnp.shape(x)) != tuple(leaf.shape):
            raise CheckpointError(f"saved training environments: env_state/{name} has shape {jnp.shape(x)}, "
                                  f"expected {tuple(leaf.shape)} (num_envs={cfg.num_envs})")
        leaves.append(jnp.asarray(x, leaf.dtype))
    out = jax.tree_util.tree_unflatten(treedef, leaves)
    return out["state"], out["ep_t"], out["ep_ret"]


def saved_host_envs(state: PPOState, cfg: PPOConfig):
    """(snapshots [num_envs, K], ep_t [num_envs], ep_ret [num_envs]) of the host-stepped
    training environments saved with the checkpoint ``state`` was read from (``env_state/``:
    ``state`` = one snapshot per environment, written by
    ``training.onpolicy.HostOnPolicyLoop``). Raises ``CheckpointError`` naming what is
    missing or misshapen."""
    import numpy as np

    saved = _saved(state, "")
    out = []
    for name, ndim in (("state", 2), ("ep_t", 1), ("ep_ret", 1)):
        x = saved.arrays.get(name)
        if x is None or np.ndim(x) != ndim or np.shape(x)[0] != cfg.num_envs:
            raise CheckpointError(f"saved host training environments: env_state/{name} is "
                                  + ("missing" if x is None else f"of shape {np.shape(x)}")
                                  + f", expected {ndim} axes with num_envs={cfg.num_envs} first (has "
                                  f"{sorted(saved.arrays)})")
        out.append(np.asarray(x))
    return tuple(out)


def env_state_tree(env_state, ep_t, ep_ret) -> dict:
    """What a checkpoint saves of the training environments (``env_state/`` group): the
    simulator states and the per-env episode step counters and returns."""
    return {"state": env_state, "ep_t": ep_t, "ep_ret": ep_ret}
