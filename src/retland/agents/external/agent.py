"""A policy trained elsewhere: the agent (``retland.agents.Agent``) behind ``retland
import`` and the public API (its declaration and config: :mod:`retland.agents.external`).

The agent state is the policy's parameter tree itself, as nested dicts of arrays with
string keys (``flax.serialization.to_state_dict`` of the saved object: a ``brax.training``
PPO's ``(normalizer, policy, value)`` tuple becomes ``{"0": ..., "1": ..., "2": ...}``).
``make_policy`` imports the apply function named by the config; ``post_update`` is the
Gaussian perturbation u(theta, X) = theta + sigma X of the perturbed leaves only.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import (ANNEAL_OVER_TRAINING, NAME, PROVIDES, SUITE_DEFAULTS, SUITES, TRAINS_IN_ENV,  # noqa: F401
               UPDATE_KIND, Config, ExternalConfig)
from ...base.checkpoints import path_name


def resolve_apply(spec: str, kwargs: dict | None = None) -> Callable:
    """The function named ``module:function`` (dotted attribute paths allowed after the
    colon), with ``kwargs`` bound as keywords; ``ValueError`` naming what is missing."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ValueError(f"apply function {spec!r} is not named as module:function")
    mod_name, attr = spec.split(":")
    try:
        fn: Any = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"apply function {spec!r}: module {mod_name!r} cannot be imported ({e})") from None
    for part in attr.split("."):
        if not hasattr(fn, part):
            raise ValueError(f"apply function {spec!r}: module {mod_name!r} has no {attr!r}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise ValueError(f"apply function {spec!r} is not callable")
    return functools.partial(fn, **kwargs) if kwargs else fn


def leaf_table(tree) -> tuple:
    """((path, shape, dtype), ...) of every leaf of ``tree``, in flattening order."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return tuple((path_name(p), tuple(int(n) for n in np.shape(x)), str(np.dtype(getattr(x, "dtype", None)
                                                                                   or np.asarray(x).dtype)))
                 for p, x in leaves)


def tree_from_table(leaves) -> dict:
    """Nested dicts of zero arrays with the paths, shapes and dtypes of ``leaves``."""
    if not leaves:
        raise ValueError("the external agent's config has no parameter leaves (write it with retland import)")
    root: dict = {}
    for path, shape, dtype in leaves:
        node = root
        *parents, last = path.split("/")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"leaf path {path!r} runs through a leaf")
        node[last] = jnp.zeros(tuple(shape), jnp.dtype(dtype))
    return root


def perturb_mask(tree, pattern: str = "") -> Any:
    """A pytree of Python bools: True for the floating leaves whose path name matches
    ``pattern`` (``re.search``; "" matches all). ``ValueError`` when none matches."""
    rx = re.compile(pattern or "")
    paths, treedef = jax.tree_util.tree_flatten_with_path(tree)
    mask = [bool(jnp.issubdtype(getattr(x, "dtype", None) or np.asarray(x).dtype, jnp.floating))
            and bool(rx.search(path_name(p)))
            for p, x in paths]
    if not any(mask):
        names = [path_name(p) for p, _ in paths][:8]
        raise ValueError(f"perturb pattern {pattern!r} matches no floating parameter leaf (leaves: {names} ...)")
    return jax.tree_util.tree_unflatten(treedef, mask)


def perturb(theta, key, sigma, mask):
    """theta + sigma N(0, I) on the leaves where ``mask`` is True (one split key per leaf,
    as ``analyses.interpolation.gaussian_perturbation``)."""
    leaves, treedef = jax.tree_util.tree_flatten(theta)
    flags = jax.tree_util.tree_leaves(mask)
    keys = jax.random.split(key, len(leaves))
    return jax.tree_util.tree_unflatten(treedef, [
        x + sigma * jax.random.normal(k, x.shape, x.dtype) if m else x for x, k, m in zip(leaves, keys, flags)])


# --- the Agent protocol ------------------------------------------------------------------

def init(key, obs_dim: int, act_dim: int, cfg: ExternalConfig):
    """The parameter tree's structure (zeros): a checkpoint's template."""
    del key, obs_dim, act_dim
    return tree_from_table(cfg.leaves)


def make_policy(act_dim: int, cfg: ExternalConfig) -> Callable:
    del act_dim
    return resolve_apply(cfg.apply, cfg.apply_kwargs)


def policy_params(state):
    return state


def perturbable(theta, cfg: ExternalConfig):
    """Which leaves of ``theta`` the perturbations change (config ``perturb``)."""
    return perturb_mask(theta, cfg.perturb)


def post_update(state, key, replay, lo, hi, cfg: ExternalConfig, env):
    """u(theta, X) = theta + sigma X, X ~ N(0, I) on the perturbed leaves (Sec. 4.1)."""
    del replay, lo, hi, env
    return perturb(state, key, cfg.noise_scale, perturbable(state, cfg))
