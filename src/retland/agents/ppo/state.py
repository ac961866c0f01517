"""PPO's agent state (the checkpoint contents): its initial value (``init``) and policy part
(``policy_params``), the observation normaliser it holds, and the saved training
environments.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import h5py
import jax
import jax.numpy as jnp

from .config import OBS_NORM_EPS, PPOConfig
from .networks import nets
from .optim import optimizer


# --- the observation normaliser (running mean/var as CleanRL/brax PPO) -----------------

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


# --- the saved training environments ---------------------------------------------------

class SavedEnvs:
    """The training environments saved with a checkpoint (``PPOState.env_state``).

    A pytree of the arrays of the checkpoint's ``env_state/`` group, keyed by dataset
    name ({} when there is none; ``missing`` then says which file and group lacked
    it). The agent template (``init``) holds an empty one, which reads the group itself
    (``read_h5_group``, called by ``base.checkpoints.read_pytree``): the structure of a
    simulator state is the environment's, unknown to ``init``; ``saved_envs`` rebuilds
    it. Static data (names, ``missing``) are the same for every complete checkpoint of
    an environment, so one compiled post-update serves them all.
    """

    def __init__(self, arrays: dict | None = None, missing: str = ""):
        self.arrays = dict(arrays or {})
        self.missing = missing

    def read_h5_group(self, group: h5py.Group, name: str, where: str) -> "SavedEnvs":
        if name in group and isinstance(group[name], h5py.Group):
            arrays = {}
            group[name].visititems(lambda n, o: arrays.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
            if arrays:
                return SavedEnvs(arrays)
        return SavedEnvs(missing=f"{where}: group {group.name.rstrip('/')}/{name} is missing")

    def __repr__(self):
        return f"SavedEnvs({sorted(self.arrays)}, missing={self.missing!r})"


def _saved_envs_flatten(s: SavedEnvs):
    names = tuple(sorted(s.arrays))
    return [s.arrays[n] for n in names], (names, s.missing)


def _saved_envs_flatten_with_keys(s: SavedEnvs):
    names = tuple(sorted(s.arrays))
    return [(jax.tree_util.DictKey(n), s.arrays[n]) for n in names], (names, s.missing)


def _saved_envs_unflatten(aux, children) -> SavedEnvs:
    out = SavedEnvs.__new__(SavedEnvs)  # children may be tracers or placeholders
    out.arrays, out.missing = dict(zip(aux[0], children)), aux[1]
    return out


class PPOState(NamedTuple):
    actor: Any
    critic: Any
    opt: Any  # optax state of optimizer(cfg) over {"actor": actor, "critic": critic}
    obs_norm: ObsNorm
    env_state: SavedEnvs = SavedEnvs()  # read from a checkpoint: its training environments


jax.tree_util.register_pytree_with_keys(SavedEnvs, _saved_envs_flatten_with_keys, _saved_envs_unflatten,
                                      _saved_envs_flatten)


def init(key: jax.Array, obs_dim: int, act_dim: int, cfg: PPOConfig) -> PPOState:
    """A fresh agent state: the networks, their Adam state and an identity normaliser."""
    actor, critic = nets(cfg, act_dim).init(key, obs_dim)
    opt = optimizer(cfg).init({"actor": actor, "critic": critic})
    return PPOState(actor, critic, opt, init_obs_norm(obs_dim), SavedEnvs())


def policy_params(state: PPOState):
    """theta of the deterministic policy: the actor network *and* the observation
    normaliser it is applied with (``make_policy`` needs both)."""
    return {"actor": state.actor, "obs_norm": state.obs_norm}
