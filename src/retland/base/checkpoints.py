"""HDF5 files of the data contracts (docs/file-formats.md), readable with h5py alone.

Training file ``results/{run}/train/{env}/{algo}/seed{seed}.h5``::

    /                      attrs: format="retland.train/1", suite, env, algo, seed, backend,
                                  total_steps, checkpoint_steps, agent_config (JSON),
                                  provenance (JSON: config, versions, git commit, platform)
    /checkpoints/step{K}/  one group per checkpoint after K environment steps;
                           attrs: step, replay_lo, replay_hi (the buffer's live rows of
                           /replay at that moment), n_updates;
                           subgroups = the agent state pytree (e.g. actor/params/...,
                           critic/..., actor_opt/...), one float32 dataset per leaf
    /checkpoints/step{K}/env_state/
                           PPO only: the training environments at the checkpoint (the
                           per-seed vmapped simulator state state/..., per-env episode
                           step counters ep_t and returns ep_ret; leading axis num_envs),
                           from which PPO's post-update continues collection
    /replay/{obs,action,reward,next_obs,terminal}
                           every transition of the run in collection order (row i =
                           environment step i); the buffer at checkpoint K is rows
                           [replay_lo, replay_hi) -- one copy, not one per checkpoint
                           (0 rows for on-policy agents such as PPO: no replay log)
    /learning_curve/{step,return,length}
                           deterministic return from the reference initial state

Post-update file ``results/{run}/post_update/{env}/{algo}/seed{seed}/step{K}.h5``::

    /returns float64 [N], /lengths int32 [N]; attrs: format="retland.post_update/1",
    update_kind, learning_rate, noise_scale, n_samples, horizon, backend, env, algo, seed,
    step, sample_seed, provenance (JSON)

Every file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np

from .atomic import tmp_name

TRAIN_FORMAT = "retland.train/1"
POST_UPDATE_FORMAT = "retland.post_update/1"
REPLAY_FIELDS = ("obs", "action", "reward", "next_obs", "terminal")


class CheckpointError(RuntimeError):
    """A result file is missing, truncated, corrupt or not what the caller expects."""


# --- pytrees <-> HDF5 groups ---------------------------------------------------------

def _key_name(k) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def path_name(path) -> str:
    """The dataset name of a pytree key path (``jax.tree_util.tree_flatten_with_path``)."""
    return "/".join(_key_name(k) for k in path)


def flatten_with_names(tree) -> list[tuple[str, np.ndarray]]:
    import jax

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [(path_name(path), np.asarray(leaf)) for path, leaf in leaves]


def _reads_itself(x) -> bool:
    """A template node that reads its own subgroup (see ``read_pytree``)."""
    return hasattr(x, "read_h5_group") and not isinstance(x, type)


def write_pytree(group: h5py.Group, tree) -> None:
    for name, value in flatten_with_names(tree):
        group.create_dataset(name, data=value)


def read_pytree(group: h5py.Group, template, where: str = ""):
    """Read a pytree stored by ``write_pytree`` into the structure of ``template``
    (arrays or ``jax.ShapeDtypeStruct`` leaves, e.g. from ``jax.eval_shape``).

    A template node with a ``read_h5_group(group, name, where)`` method reads its own
    part: it is called with this group and its dataset/subgroup name (which may be
    absent) and its return value takes the node's place (PPO's saved environments,
    whose structure the agent template cannot know)."""
    import jax

    paths, treedef = jax.tree_util.tree_flatten_with_path(template, is_leaf=_reads_itself)
    leaves = []
    for path, leaf in paths:
        name = path_name(path)
        if _reads_itself(leaf):
            leaves.append(leaf.read_h5_group(group, name, where))
            continue
        if name not in group:
            raise CheckpointError(f"{where}: dataset {group.name}/{name} is missing")
        value = group[name][()]
        if tuple(np.shape(value)) != tuple(leaf.shape):
            raise CheckpointError(
                f"{where}: dataset {group.name}/{name} has shape {np.shape(value)}, expected {tuple(leaf.shape)}"
            )
        leaves.append(value.astype(leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, leaves)


def set_attrs(obj, attrs: dict) -> None:
    """HDF5 attributes of a file, group or dataset: dicts, lists and tuples as JSON."""
    for k, v in attrs.items():
        obj.attrs[k] = json.dumps(v, default=str) if isinstance(v, (dict, list, tuple)) else v


# --- training file -------------------------------------------------------------------

class TrainWriter:
    """Writes one seed's training file incrementally into a temporary file; ``close``
    renames it into place. Resumable writers reopen the temporary file."""

    def __init__(self, path: str, attrs: dict, obs_dim: int, act_dim: int, partial: str | None = None):
        """Write to ``partial`` (default: a per-process temporary name next to ``path``).
        A fixed ``partial`` name lets a killed job resume from it (see ``reopen``)."""
        self.path = path
        self.tmp = partial or tmp_name(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.f = h5py.File(self.tmp, "w")
        self.f.attrs["format"] = TRAIN_FORMAT
        set_attrs(self.f, attrs)
        rep = self.f.create_group("replay")
        dims = {"obs": (obs_dim,), "action": (act_dim,), "reward": (), "next_obs": (obs_dim,), "terminal": ()}
        for k, shape in dims.items():
            rep.create_dataset(k, shape=(0, *shape), maxshape=(None, *shape), dtype="f4",
                               chunks=(4096, *shape))
        lc = self.f.create_group("learning_curve")
        for k, dt in (("step", "i8"), ("return", "f8"), ("length", "i4")):
            lc.create_dataset(k, shape=(0,), maxshape=(None,), dtype=dt)
        self.f.create_group("checkpoints")

    @classmethod
    def reopen(cls, path: str, partial: str, step: int, replay_rows: int | None = None,
               keep_checkpoints=None) -> "TrainWriter":
        """Reopen a partial file written by a killed job and cut it back to its last resume
        point: the learning curve to ``step``, the replay log to ``replay_rows`` rows (None:
        the job logs no replay), the checkpoints to the labels in ``keep_checkpoints``
        (None: those at steps <= ``step``); anything written after it is dropped."""
        self = cls.__new__(cls)
        self.path, self.tmp = path, partial
        self.f = h5py.File(partial, "a")
        try:
            if replay_rows is not None:
                for k in REPLAY_FIELDS:
                    rows = self.f["replay"][k].shape[0]
                    if rows < replay_rows:
                        raise CheckpointError(f"{partial}: has {rows} replay rows, resume needs {replay_rows}")
                    self.f["replay"][k].resize(replay_rows, axis=0)
            lc = self.f["learning_curve"]
            keep = int(np.searchsorted(lc["step"][()], step, side="right"))
            for k in ("step", "return", "length"):
                lc[k].resize(keep, axis=0)
            for name in list(self.f["checkpoints"]):
                s = int(self.f["checkpoints"][name].attrs["step"])
                if (s > step) if keep_checkpoints is None else (s not in keep_checkpoints):
                    del self.f["checkpoints"][name]
        except BaseException:
            self.f.close()
            raise
        return self

    def flush(self) -> None:
        self.f.flush()

    @staticmethod
    def _append(ds: h5py.Dataset, rows: np.ndarray) -> None:
        n = ds.shape[0]
        ds.resize(n + rows.shape[0], axis=0)
        ds[n:] = rows

    def append_replay(self, transitions: dict) -> None:
        for k in REPLAY_FIELDS:
            self._append(self.f["replay"][k], np.asarray(transitions[k], np.float32))

    def append_learning_curve(self, step: int, ret: float, length: int) -> None:
        lc = self.f["learning_curve"]
        self._append(lc["step"], np.array([step]))
        self._append(lc["return"], np.array([ret], np.float64))
        self._append(lc["length"], np.array([length], np.int32))

    def write_checkpoint(self, step: int, agent_state, replay_lo: int, replay_hi: int, n_updates: int,
                         **extra) -> None:
        """Checkpoint ``step`` (group ``step{step}``); ``extra``: further attributes
        (PPO: env_steps, iterations)."""
        g = self.f["checkpoints"].create_group(f"step{step}")
        g.attrs.update(step=step, replay_lo=replay_lo, replay_hi=replay_hi, n_updates=n_updates, **extra)
        write_pytree(g, agent_state)

    def close(self, complete: bool = True) -> None:
        if complete:
            self.f.attrs["complete"] = True
        self.f.close()
        if complete:
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.f.close()
        finally:
            if os.path.exists(self.tmp):
                os.remove(self.tmp)


def open_h5(path: str, expected_format: str) -> h5py.File:
    """Open a result file read-only, with an error naming the file and the problem."""
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: file does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise CheckpointError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {e}") from e
    fmt = f.attrs.get("format")
    if fmt != expected_format:
        f.close()
        raise CheckpointError(f"{path}: format attribute is {fmt!r}, expected {expected_format!r}")
    if not f.attrs.get("complete", False):
        f.close()
        raise CheckpointError(f"{path}: file is incomplete (its writer did not finish)")
    return f


class TrainFile:
    """Read access to a training file."""

    def __init__(self, path: str):
        self.path = path
        self.f = open_h5(path, TRAIN_FORMAT)
        for g in ("checkpoints", "replay", "learning_curve"):
            if g not in self.f:
                self.f.close()
                raise CheckpointError(f"{path}: group /{g} is missing")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    @property
    def attrs(self) -> dict:
        return dict(self.f.attrs)

    def json_attr(self, key: str):
        return json.loads(self.f.attrs[key])

    @property
    def checkpoint_steps(self) -> list[int]:
        return sorted(int(self.f["checkpoints"][k].attrs["step"]) for k in self.f["checkpoints"])

    def checkpoint(self, step: int, template):
        name = f"step{step}"
        if name not in self.f["checkpoints"]:
            raise CheckpointError(f"{self.path}: no checkpoint at step {step}; has {self.checkpoint_steps}")
        g = self.f["checkpoints"][name]
        return read_pytree(g, template, where=self.path), dict(g.attrs)

    @property
    def n_replay_rows(self) -> int:
        return int(self.f["replay"]["obs"].shape[0])

    def replay(self, lo: int, hi: int) -> dict:
        n = self.n_replay_rows
        if not (0 <= lo < hi <= n):
            raise CheckpointError(f"{self.path}: replay rows [{lo}, {hi}) out of range (file has {n} rows)")
        return {k: self.f["replay"][k][lo:hi] for k in REPLAY_FIELDS}

    def learning_curve(self) -> dict:
        return {k: self.f["learning_curve"][k][()] for k in ("step", "return", "length")}


# --- post-update file ----------------------------------------------------------------

def write_post_update(path: str, returns: np.ndarray, lengths: np.ndarray, attrs: dict) -> None:
    tmp = tmp_name(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = POST_UPDATE_FORMAT
            f.create_dataset("returns", data=np.asarray(returns, np.float64))
            f.create_dataset("lengths", data=np.asarray(lengths, np.int32))
            set_attrs(f, attrs)
            f.attrs["complete"] = True
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_post_update(path: str) -> tuple[np.ndarray, np.ndarray, dict]:
    with open_h5(path, POST_UPDATE_FORMAT) as f:
        for k in ("returns", "lengths"):
            if k not in f:
                raise CheckpointError(f"{path}: dataset /{k} is missing")
        returns = f["returns"][()]
        lengths = f["lengths"][()]
        attrs = dict(f.attrs)
    n = int(attrs.get("n_samples", returns.shape[0]))
    if returns.shape != (n,) or lengths.shape != (n,):
        raise CheckpointError(
            f"{path}: expected {n} returns and lengths, found {returns.shape} and {lengths.shape}"
        )
    return returns, lengths, attrs
