"""PPO's agent state (the checkpoint contents) and the saved training environments.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import h5py
import jax

from .networks import ObsNorm


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
