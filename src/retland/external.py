"""Checkpoints trained elsewhere -> ``retland.train/1`` files (``retland import``, the
workflow's ``external`` section; issue 24, docs/your-own-agent.md).

A checkpoint file holds a policy's parameters in one of :data:`FORMATS`:

* ``brax``: a pickle written by ``brax.io.model.save_params`` (``brax.training``'s
  ``(normalizer_params, policy_params, value_params)`` of PPO, or any pytree);
* ``flax``: ``flax.serialization.to_bytes`` / ``msgpack_serialize`` bytes (a ``.msgpack``);
* ``orbax``: an orbax ``PyTreeCheckpointer`` / ``StandardCheckpointer`` directory.

The parameters become nested dicts of numpy arrays with string keys
(``flax.serialization.to_state_dict``), the state of the agent ``external``
(:mod:`retland.agents.external`), and are checked against the task before anything is
written: the apply function must accept the task's observation and return an action of
the task's size, every parameter must be finite, and the checkpoints of one file must
have one structure. The training file gets one checkpoint per step, no replay rows, a
learning curve of each checkpoint's deterministic return from the reference initial
state s_I, the source files' paths and sha256, and provenance. It is written to a
temporary name and renamed when complete: an error leaves nothing behind.

Loading a ``brax`` pickle runs Python code from the file (``pickle``): import only
checkpoints you trust.
"""

from __future__ import annotations

import hashlib
import os
from typing import Callable

import numpy as np

FORMATS = ("brax", "flax", "orbax")


class ExternalError(ValueError):
    """A checkpoint trained elsewhere that cannot be analysed, and why."""


def file_sha256(path: str) -> str:
    """sha256 of a file, or of a directory's files (sorted relative paths and contents)."""
    h = hashlib.sha256()
    paths = [path] if os.path.isfile(path) else sorted(
        os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs)
    for p in paths:
        if p != path:
            h.update(os.path.relpath(p, path).encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def load_params(path: str, fmt: str):
    """The parameter pytree saved at ``path`` in format ``fmt`` (:data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise ExternalError(f"unknown checkpoint format {fmt!r}; known: {list(FORMATS)}")
    if not os.path.exists(path):
        raise ExternalError(f"checkpoint {path}: does not exist")
    try:
        if fmt == "brax":
            from brax.io import model

            return model.load_params(path)
        if fmt == "flax":
            from flax import serialization

            with open(path, "rb") as f:
                return serialization.msgpack_restore(f.read())
        import orbax.checkpoint as ocp

        return ocp.PyTreeCheckpointer().restore(os.path.abspath(path))
    except ExternalError:
        raise
    except Exception as e:  # noqa: BLE001 - any reader failure is a bad checkpoint, named with its file
        raise ExternalError(f"checkpoint {path}: not a readable {fmt} checkpoint ({type(e).__name__}: {e})") from None


def as_tree(params, where: str = "params") -> dict:
    """``params`` as nested dicts of numpy arrays with string keys (tuples and
    dataclasses by ``flax.serialization.to_state_dict``); ``ExternalError`` naming a leaf
    that is not numeric or a key with '/' in it."""
    from flax import serialization

    state = serialization.to_state_dict(params)

    def convert(node, path):
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                k = str(k)
                if "/" in k or not k:
                    raise ExternalError(f"{where}: key {k!r} under {path or '/'} cannot name a leaf (empty or has '/')")
                out[k] = convert(v, f"{path}/{k}" if path else k)
            return out
        arr = np.asarray(node)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ExternalError(f"{where}: leaf {path!r} is not a numeric array ({type(node).__name__})")
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)  # JAX runs float32 (msgpack and pickles may hold float64)
        return arr

    tree = convert(state, "")
    if not isinstance(tree, dict) or not tree:
        raise ExternalError(f"{where}: holds no parameters (got {type(params).__name__})")
    return tree


def check_finite(tree, where: str = "params") -> None:
    """``ExternalError`` naming the first leaf with a NaN or an infinity."""
    from .agents.external.agent import leaf_table

    import jax

    for (path, _, _), leaf in zip(leaf_table(tree), jax.tree_util.tree_leaves(tree)):
        x = np.asarray(leaf)
        if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
            raise ExternalError(f"{where}: parameter {path!r} has {int(np.sum(~np.isfinite(x)))} non-finite values")


def check_policy(apply: Callable, params, env, where: str = "policy") -> None:
    """The policy ``apply(params, obs)`` runs on the task ``env``: it accepts an
    observation of the task's size and returns one action of the task's size, finite, from
    finite parameters; else ``ExternalError`` saying which."""
    import jax
    import jax.numpy as jnp

    check_finite(params, where)
    spec = env.spec
    obs = jnp.zeros((spec.obs_dim,), jnp.float32)
    try:
        out = jax.eval_shape(apply, params, obs)
    except Exception as e:  # noqa: BLE001 - the user's function failing on the task's observation
        raise ExternalError(f"{where}: the apply function fails on an observation of size {spec.obs_dim} "
                            f"({spec.suite} task {spec.name}): {type(e).__name__}: {e}") from None
    shape = getattr(out, "shape", None)
    if shape != (spec.act_dim,):
        raise ExternalError(f"{where}: the apply function returns {shape if shape is not None else type(out).__name__} "
                            f"for one observation; task {spec.name} takes actions of shape ({spec.act_dim},)")
    action = np.asarray(jax.jit(apply)(params, obs))
    if not np.all(np.isfinite(action)):
        raise ExternalError(f"{where}: the apply function returns a non-finite action {action} on a zero observation")


def _same_structure(tables: dict, where: str) -> tuple:
    """The leaf table shared by every checkpoint, or ``ExternalError`` naming the first
    checkpoint that differs and how."""
    (first_step, first), *rest = sorted(tables.items())
    for step, table in rest:
        if table != first:
            a, b = {p: (s, d) for p, s, d in first}, {p: (s, d) for p, s, d in table}
            diff = sorted(set(a) ^ set(b)) or [p for p in a if a[p] != b[p]]
            raise ExternalError(f"{where}: checkpoint at step {step} differs from step {first_step} in "
                                f"{diff[:5]} (one training file holds one policy architecture)")
    return first


def import_checkpoints(*, name: str, env, fmt: str, apply: str, checkpoints: dict, seed: int, out_h5: str,
                       apply_kwargs: dict | None = None, perturb: str = "", noise_scale: float = 3e-4,
                       backend: str = "spring", episode_length: int = 1000, env_kwargs: dict | None = None,
                       eval_horizon: int | None = None, config_record: dict | None = None,
                       log: Callable[[str], None] = print) -> dict:
    """Write the training file ``out_h5`` of agent ``name`` (its label in paths and figures)
    on task ``env`` (a registered name) from ``checkpoints`` {environment step: file}.
    Returns a summary (steps, deterministic returns, leaves). Nothing is written on error."""
    import jax

    from . import provenance
    from .agents import AGENTS, get_agent
    from .base.checkpoints import TrainWriter
    from .base.envs import make_env
    from .rollout import make_evaluator

    where = f"external agent {name!r}"
    if not isinstance(name, str) or not name.isidentifier():
        raise ExternalError(f"{where}: a name must be an identifier (letters, digits, _), used in result paths")
    if name in AGENTS:
        raise ExternalError(f"{where}: the name is taken by a built-in agent {sorted(AGENTS)}; choose another")
    if not checkpoints:
        raise ExternalError(f"{where}: no checkpoints given")
    steps = sorted(int(s) for s in checkpoints)
    if steps[0] < 0 or len(set(steps)) != len(checkpoints):
        raise ExternalError(f"{where}: checkpoint steps must be distinct and >= 0, got {sorted(checkpoints)}")
    agent = get_agent("external")
    task = make_env(env, backend, episode_length, env_kwargs)
    try:
        policy = agent.resolve_apply(apply, apply_kwargs or {})
    except ValueError as e:
        raise ExternalError(f"{where}: {e}") from None
    trees, tables, sources = {}, {}, {}
    for step in steps:
        path = checkpoints[step] if step in checkpoints else checkpoints[str(step)]
        trees[step] = as_tree(load_params(path, fmt), where=f"checkpoint {path}")
        tables[step] = agent.leaf_table(trees[step])
        sources[step] = {"path": os.path.abspath(path), "sha256": file_sha256(path)}
        check_policy(policy, trees[step], task, where=f"checkpoint {path} (step {step})")
        log(f"[import] {name} seed {seed}: step {step} from {path} ({len(tables[step])} leaves)")
    table = _same_structure(tables, where)
    try:
        cfg = agent.Config.from_dict({"apply": apply, "apply_kwargs": dict(apply_kwargs or {}), "perturb": perturb,
                                      "noise_scale": float(noise_scale), "leaves": table})
        agent.perturbable(trees[steps[0]], cfg)  # a pattern that matches nothing is an error now
    except (TypeError, ValueError) as e:
        raise ExternalError(f"{where}: {e}") from None
    horizon = int(eval_horizon or task.spec.episode_length)
    evaluate = make_evaluator(task, policy, horizon, batch_size=len(steps))
    batch = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *(trees[s] for s in steps))
    returns, lengths = (np.asarray(x) for x in evaluate(batch, task.reference_state()))
    if hasattr(evaluate, "close"):
        evaluate.close()
    attrs = {
        "suite": task.spec.suite, "env": env, "env_kwargs": task.env_kwargs, "algo": name, "agent": "external",
        "backend": task.spec.backend, "episode_length": int(task.spec.episode_length), "seed": int(seed),
        "total_steps": int(steps[-1]), "checkpoint_steps": steps, "eval_horizon": horizon,
        "agent_config": cfg.to_dict(), "checkpoint_format": fmt,
        "source_files": {str(s): sources[s] for s in steps},
        "provenance": provenance.record(config_record, backend=task.spec.backend),
    }
    writer = TrainWriter(out_h5, attrs, task.spec.obs_dim, task.spec.act_dim)
    try:
        for i, step in enumerate(steps):
            writer.write_checkpoint(step, trees[step], replay_lo=0, replay_hi=0, n_updates=0)
            writer.append_learning_curve(step, float(returns[i]), int(lengths[i]))
    except BaseException:
        writer.abort()
        raise
    writer.close()
    log(f"[import] wrote {out_h5}: steps {steps}, deterministic returns {[round(float(r), 1) for r in returns]}")
    return {"steps": steps, "returns": [float(r) for r in returns], "lengths": [int(n) for n in lengths],
            "leaves": len(table)}
