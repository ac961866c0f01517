"""The paper's lenses for any JAX policy: the public Python API (docs/your-own-agent.md).

A policy trained elsewhere is an apply function ``apply(params, obs) -> action`` and its
parameters (any pytree). The functions here run the package's analyses on it, unchanged:

* :func:`post_update_distribution` -- the post-update returns R(u(theta, X_i)) of N
  independent updates (paper Sec. 3.1, Fig. 2; ``analyses.post_update``); by default u is
  the Gaussian perturbation theta + sigma X of the perturbed leaves (Sec. 4.1), or the
  user's own ``update(params, key)``;
* :func:`return_statistics` -- mean, std, skewness, mode, LTP and CVaR with bootstrap
  intervals, the columns of the workflow's ``stats/post_update.csv`` (``retland.stats``);
* :func:`landscape_map` -- R(theta + a d1 + b d2) on a grid (Fig. 1; ``analyses.landscape``);
* :func:`interpolation_path` -- returns along theta = a theta_a + (1 - a) theta_b and the
  below-threshold proportion (Sec. 4.1, Fig. 5, 6, 8; ``analyses.interpolation``);
* :func:`failure_anatomy` -- per-step rewards of a failing and a successful policy and
  the misstep (Sec. 3.2, Fig. 3, 4; ``analyses.failures``); :func:`post_update_params`
  rebuilds the parameters of any post-update sample for it;
* the figures: ``plot_post_update``, ``plot_landscape``, ``plot_interpolation`` draw the
  outputs here with the workflow's figure functions, which are re-exported too
  (``fig02_histograms``, ``fig01_landscape``, ``fig05_interpolation`` ...).

The environment is a registered task name (``"hopper"``, ``"quadruped-walk"``; built by
:func:`environment` with its ``backend``, ``episode_length``, ``env_kwargs``), a
``brax.envs.Env`` object of the user's (wrapped by :class:`retland.base.user_env.UserBraxEnv`)
or a suite object (``retland.base.envs.make_env``'s, JAX- or host-stepped). Every rollout
starts from the environment's reference initial state s_I and is deterministic.

Outputs are numpy arrays and pandas DataFrames. A policy that does not fit the environment
(observation or action size, a NaN parameter, a non-finite action) is refused with a
``ValueError`` (``retland.external.ExternalError``) naming what is wrong, before any
rollout. Compiled simulators are kept per (apply function, environment, horizon; the user's
``update``; for interpolation paths the perturbed leaves), so calling a lens again with
another ``sigma``, ``perturb``, key or parameters of the same shapes, in chunks of the same
size, does not compile again.

Importing this module imports no JAX and no matplotlib (the functions do).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import importlib
import json
from typing import Any, Callable

import numpy as np
import pandas as pd

__all__ = [
    "Policy",
    "environment",
    "post_update_distribution",
    "post_update_params",
    "return_statistics",
    "landscape_map",
    "interpolation_path",
    "failure_anatomy",
    "plot_post_update",
    "plot_landscape",
    "plot_interpolation",
    "path_table",
    "interpolation_table",
    # re-exported figure functions (retland.plots)
    "fig01_landscape",
    "fig02_histograms",
    "fig02_scatter",
    "fig03_failures",
    "fig05_interpolation",
    "fig06_below_threshold",
    "fig08_interpolation_purd",
    "fig27_multiscale",
    "read_landscape",
]

#: the workflow's figure functions, imported on first use (matplotlib is set to Agg then)
_FIGURES = {
    "fig01_landscape": "retland.plots.landscape",
    "fig27_multiscale": "retland.plots.landscape",
    "read_landscape": "retland.plots.landscape",
    "fig02_histograms": "retland.plots.post_update",
    "fig02_scatter": "retland.plots.post_update",
    "fig03_failures": "retland.plots.failures",
    "fig05_interpolation": "retland.plots.interpolation",
    "fig06_below_threshold": "retland.plots.interpolation",
    "fig08_interpolation_purd": "retland.plots.interpolation",
}


def __getattr__(name: str):
    if name in _FIGURES:
        return getattr(importlib.import_module(_FIGURES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _quiet(msg: str) -> None:
    del msg


def _key(key):
    """A PRNG key from an int seed (``PRNGKey(seed)``) or a key as it is."""
    import jax

    if isinstance(key, (int, np.integer)):
        return jax.random.PRNGKey(int(key))
    return key


# ---------------------------------------------------------------------------------------
# environments
# ---------------------------------------------------------------------------------------
_ENVS: dict = {}
_WRAPPED: dict = {}  # id(brax env) -> (env, its UserBraxEnv): one adapter per object


def _is_suite(env) -> bool:
    return all(hasattr(env, m) for m in ("spec", "reference_state", "suite"))


def environment(env, *, backend: str = "spring", episode_length: int = 1000, env_kwargs: dict | None = None,
                reference_state=None, name: str | None = None):
    """The suite adapter the lenses roll out in.

    * ``env`` a registered task name (``retland.base.envs.known_envs``: the Brax tasks,
      the DeepMind Control tasks): ``make_env(env, backend, episode_length, env_kwargs)``,
      built once per setting;
    * a ``brax.envs.Env`` object: :class:`retland.base.user_env.UserBraxEnv` (``name``,
      ``episode_length``; ``reference_state``: s_I, else ``env.reset(PRNGKey(0))``);
    * a suite object (it has ``spec``, ``suite``, ``reference_state``): as it is.

    Every lens takes any of these three as its ``env`` (a name with the defaults here)."""
    if isinstance(env, str):
        from .base.envs import make_env

        k = (env, backend, int(episode_length), json.dumps(env_kwargs or {}, sort_keys=True))
        if k not in _ENVS:
            _ENVS[k] = make_env(env, backend, int(episode_length), env_kwargs)
        return _ENVS[k]
    if _is_suite(env):
        return env
    if hasattr(env, "reset") and hasattr(env, "step") and hasattr(env, "action_size"):
        from .base.user_env import UserBraxEnv

        if reference_state is not None or name is not None or int(episode_length) != 1000:
            return UserBraxEnv(env, name=name, episode_length=episode_length, reference_state=reference_state)
        if id(env) not in _WRAPPED or _WRAPPED[id(env)][0] is not env:
            _WRAPPED[id(env)] = (env, UserBraxEnv(env))
        return _WRAPPED[id(env)][1]
    raise TypeError(f"env must be a task name, a brax.envs.Env or a suite object "
                    f"(retland.base.envs.make_env), got {type(env).__name__}")


# ---------------------------------------------------------------------------------------
# the policy and the agent the analyses see
# ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Policy:
    """A deterministic policy: ``apply(params, obs) -> action`` and its ``params``.

    ``apply``: a JAX function (jittable, vmappable over ``params``) or its name
    ``"module:function"``. ``params``: any pytree of arrays. ``perturb``: which leaves a
    Gaussian perturbation changes -- ``None`` (every floating leaf), a regular expression
    searched in the leaf path names ``a/b/c`` (``retland.base.checkpoints.path_name``:
    ``params/Dense_0/kernel`` for a flax module's variables), a function of the path name
    returning a bool, or a pytree of bools of ``params``' structure. Integer leaves are
    never perturbed.
    """

    apply: Any
    params: Any
    perturb: Any = None

    @functools.cached_property
    def apply_fn(self) -> Callable:
        """The apply function (resolved from its name once)."""
        if isinstance(self.apply, str):
            from .agents import get_agent

            return get_agent("external").resolve_apply(self.apply, {})
        if not callable(self.apply):
            raise TypeError(f"Policy.apply must be a function or 'module:function', got {type(self.apply).__name__}")
        return self.apply

    def mask(self, params=None):
        """The perturbed leaves of ``params`` (default: this policy's) as a pytree of Python bools."""
        return _mask(self.params if params is None else params, self.perturb)

    def config(self, sigma: float = 3e-4, params=None):
        """The ``external`` agent's ``Config`` of this policy: its apply function's name where it
        has one that imports back to it, the perturbed-leaf pattern (a regular expression;
        "" otherwise), ``noise_scale`` = ``sigma`` and the leaf table."""
        from .agents import get_agent

        ext = get_agent("external")
        return ext.Config(apply=_importable_name(self.apply), perturb=self.perturb if isinstance(self.perturb, str)
                          else "", noise_scale=float(sigma),
                          leaves=ext.leaf_table(self.params if params is None else params))

    def check(self, env, params=None, where: str = "policy") -> None:
        """``ValueError`` (``retland.external.ExternalError``) unless the policy runs on ``env``:
        an observation of its size in, a finite action of its size out, finite parameters."""
        from .external import check_policy

        check_policy(self.apply_fn, self.params if params is None else params, environment(env), where=where)

    def source(self, env, update: Callable | None = None, params=None):
        """``retland.analyses.source.Source`` of this policy on ``env``: what every analysis
        builder takes. Its agent is the ``external`` agent around this apply function
        (:class:`_PolicyAgent`); ``update(params, key) -> params`` replaces its Gaussian u."""
        from .analyses.source import Source

        params = self.params if params is None else params
        agent = _PolicyAgent(self.apply_fn, self.mask(params), update)
        return Source(agent, environment(env), self.config(params=params))


def _as_policy(policy, params=None) -> Policy:
    if isinstance(policy, Policy):
        return policy
    if callable(policy) or isinstance(policy, str):
        return Policy(policy, params)
    raise TypeError(f"expected a Policy or an apply function, got {type(policy).__name__}")


def _importable_name(apply) -> str:
    """``module:qualname`` of ``apply`` when importing it gives it back, else ""."""
    if isinstance(apply, str):
        return apply
    mod, qual = getattr(apply, "__module__", None), getattr(apply, "__qualname__", None)
    if not mod or not qual or "<" in qual:
        return ""
    try:
        obj: Any = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return ""
    return f"{mod}:{qual}" if obj is apply else ""


def _mask(params, perturb):
    """Pytree of Python bools over ``params``: the leaves a Gaussian perturbation changes."""
    import jax
    import jax.numpy as jnp

    from .base.checkpoints import path_name

    paths, treedef = jax.tree_util.tree_flatten_with_path(params)
    if not paths:
        raise ValueError("the policy's params hold no arrays")
    floating = [bool(jnp.issubdtype(x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype, jnp.floating))
                for _, x in paths]
    if perturb is None:
        flags = floating
    elif isinstance(perturb, str):
        from .agents import get_agent

        return get_agent("external").perturb_mask(params, perturb)
    elif callable(perturb):
        flags = [f and bool(perturb(path_name(p))) for f, (p, _) in zip(floating, paths)]
    else:
        if jax.tree_util.tree_structure(perturb) != treedef:
            raise ValueError("the perturbation mask's tree structure differs from the params': "
                             f"{jax.tree_util.tree_structure(perturb)} vs {treedef}")
        flags = [f and bool(np.asarray(m)) for f, m in zip(floating, jax.tree_util.tree_leaves(perturb))]
    return jax.tree_util.tree_unflatten(treedef, flags)


def _mask_key(mask) -> tuple:
    import jax

    leaves, treedef = jax.tree_util.tree_flatten(mask)
    return treedef, tuple(bool(m) for m in leaves)


class _PolicyAgent:
    """The ``external`` agent (:mod:`retland.agents.external.agent`) around an apply function
    held in memory: what ``src.agent`` is for the analyses. The agent state is the parameter
    tree; u(theta, X) is theta + sigma X on the ``mask`` leaves (the external agent's
    ``perturb``) or the user's ``update(params, key)``.

    The Gaussian's sigma and mask may come in as the update's data (the analyses' ``replay``
    argument: ``(sigma, weights)``, :func:`_noise_data`, traced), so one compiled simulator
    serves every sigma and every mask: theta + (sigma w) X with w 1.0 on the perturbed leaves
    and 0.0 elsewhere is the external agent's ``perturb`` bit for bit (sigma x 1.0 is sigma,
    and x + 0.0 X is x). Without data (None) the config's ``noise_scale`` and the mask are
    used through ``perturb`` itself."""

    def __init__(self, apply: Callable, mask, update: Callable | None):
        from .agents import get_agent

        self._ext = get_agent("external")
        self.NAME, self.SUITES, self.Config = self._ext.NAME, self._ext.SUITES, self._ext.Config
        self.UPDATE_KIND = self._ext.UPDATE_KIND if update is None else "user_update"
        self._apply, self._mask, self._update = apply, mask, update

    def init(self, key, obs_dim: int, act_dim: int, cfg):
        return self._ext.init(key, obs_dim, act_dim, cfg)

    def make_policy(self, act_dim: int, cfg) -> Callable:
        del act_dim, cfg
        return self._apply

    @staticmethod
    def policy_params(state):
        return state

    def perturbable(self, theta, cfg):
        del theta, cfg
        return self._mask

    def post_update(self, state, key, replay, lo, hi, cfg, env):
        del lo, hi, env
        if self._update is not None:
            return self._update(state, key)
        if replay is None:
            return self._ext.perturb(state, key, cfg.noise_scale, self._mask)
        import jax

        sigma, weights = replay
        leaves, treedef = jax.tree_util.tree_flatten(state)
        keys = jax.random.split(key, len(leaves))  # as perturb: one key per leaf, in flattening order
        return jax.tree_util.tree_unflatten(treedef, [
            x + (sigma * w) * jax.random.normal(k, x.shape, x.dtype) if w is not None else x
            for x, k, w in zip(leaves, keys, jax.tree_util.tree_leaves(weights, is_leaf=lambda w: w is None))])


def _noise_data(sigma: float, mask, params):
    """``(sigma, weights)``, the traced data of :class:`_PolicyAgent`'s Gaussian update:
    weights 1.0 / 0.0 on the floating leaves of ``params`` the mask perturbs / keeps, None
    on the others (integer leaves are never perturbed)."""
    import jax
    import jax.numpy as jnp

    def weight(m, x):
        if not jnp.issubdtype(x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype, jnp.floating):
            return None
        return jnp.float32(1.0 if m else 0.0)

    return jnp.float32(sigma), jax.tree_util.tree_map(weight, mask, params)


# compiled simulators, per (what, apply, mask, update, environment, horizon): a lens called
# again (another sigma, key or parameters of the same shapes) does not compile again
_COMPILED: collections.OrderedDict = collections.OrderedDict()
_MAX_COMPILED = 16


def _compiled(key: tuple, build: Callable):
    try:
        hash(key)
    except TypeError:
        return build()
    if key in _COMPILED:
        _COMPILED.move_to_end(key)
        return _COMPILED[key]
    fn = _COMPILED[key] = build()
    while len(_COMPILED) > _MAX_COMPILED:
        _COMPILED.popitem(last=False)
    return fn


def _prepare(policy, env, update, params=None, where: str = "policy"):
    """(Policy, env, Source, mask, params) after the checks every lens makes first."""
    import jax

    pol = _as_policy(policy)
    env = environment(env)
    params = pol.params if params is None else params
    if params is None:
        raise ValueError(f"{where}: no parameters (Policy(apply, params))")
    pol.check(env, params, where=where)
    if update is not None:
        out = jax.eval_shape(update, params, jax.random.PRNGKey(0))
        if jax.tree_util.tree_structure(out) != jax.tree_util.tree_structure(params) or any(
                tuple(o.shape) != tuple(np.shape(p)) for o, p in zip(jax.tree_util.tree_leaves(out),
                                                                     jax.tree_util.tree_leaves(params))):
            raise ValueError("update(params, key) must return parameters of the params' structure and shapes")
    src = pol.source(env, update, params)
    return pol, env, src, src.agent.perturbable(params, src.cfg), params


_STARTS: dict = {}  # id(env) -> (env, its reference state s_I): computed once per environment


def _start(env):
    """``env.reference_state()``, once per environment object."""
    if id(env) not in _STARTS or _STARTS[id(env)][0] is not env:
        _STARTS[id(env)] = (env, env.reference_state())
    return _STARTS[id(env)][1]


def _host(env) -> bool:
    from .base.envs import is_host_stepped

    return is_host_stepped(env)


def _close(fn) -> None:
    for obj in (fn, getattr(fn, "rollout", None)):
        if obj is not None and hasattr(obj, "close"):
            obj.close()


# ---------------------------------------------------------------------------------------
# E2: the post-update return distribution
# ---------------------------------------------------------------------------------------
def post_update_distribution(policy, env, *, n_samples: int = 1000, horizon: int = 1000, sigma: float = 3e-4,
                             update: Callable | None = None, key=0, chunk_size: int = 64,
                             log: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The post-update returns and episode lengths (float64 [N], int32 [N]) of ``policy``
    (a :class:`Policy`) on ``env``: N = ``n_samples`` updates u(theta, X_i), each rolled out
    deterministically for ``horizon`` steps from s_I (paper Sec. 3.1, ``analyses.post_update``).

    u is ``update(params, key) -> params`` when given (the paper's u(theta, X): jittable, X
    drawn from ``key``), else theta + ``sigma`` N(0, I) on the policy's perturbed leaves.
    The i-th update gets key i of ``jax.random.split(key, n_samples)`` (``key``: an int seed
    or a PRNG key). Updates and rollouts are vmapped in chunks of ``chunk_size``."""
    from .analyses.post_update import make_estimator, post_update_returns

    pol, env, src, mask, params = _prepare(policy, env, update)
    chunk = max(1, min(int(chunk_size), int(n_samples)))
    if _host(env):
        estimator = make_estimator(src, horizon, chunk)
    else:  # one compiled estimator for every sigma and mask (_PolicyAgent)
        estimator = _compiled(("post_update", pol.apply_fn, update, env, int(horizon)),
                              lambda: make_estimator(src, horizon, chunk))
    try:
        return post_update_returns(src, params, _key(key), replay=_noise_data(sigma, mask, params), lo=0, hi=0,
                                   n_samples=int(n_samples), horizon=int(horizon), chunk_size=chunk,
                                   start_state=_start(env), log=log or _quiet, estimator=estimator)
    finally:
        if _host(env):
            _close(estimator)


def post_update_params(policy, *, index: int, n_samples: int, key=0, sigma: float = 3e-4,
                       update: Callable | None = None):
    """The parameters of post-update sample ``index`` of :func:`post_update_distribution`
    called with the same ``n_samples``, ``key``, ``sigma`` and ``update`` (numpy pytree):
    what :func:`failure_anatomy` re-simulates (the paper re-simulates its samples by key)."""
    import jax

    pol = _as_policy(policy)
    if not 0 <= int(index) < int(n_samples):
        raise ValueError(f"index {index} is not one of the {n_samples} samples")
    mask = pol.mask()
    agent, cfg = _PolicyAgent(pol.apply_fn, mask, update), pol.config()
    k = jax.random.split(_key(key), int(n_samples))[int(index)]
    out = jax.jit(lambda p, k, d: agent.post_update(p, k, d, 0, 0, cfg, None))(pol.params, k,
                                                                               _noise_data(sigma, mask, pol.params))
    return jax.tree_util.tree_map(np.asarray, out)


def return_statistics(returns, lengths=None, *, n_boot: int = 1000, ci: float = 0.95, cvar_alpha: float = 0.1,
                      seed: int = 0) -> pd.DataFrame:
    """One row of the workflow's ``stats/post_update.csv`` statistics (``retland.stats.summarize``):
    ``n, n_nonfinite, mean, std, skewness, mode, ltp, ltp_all, cvar_<a>`` and per statistic
    its bootstrap ``<stat>_boot_mean, <stat>_lo, <stat>_hi`` (``n_boot`` resamples, ``ci``
    percentile interval, numpy seed ``seed``); ``mean_length`` first when ``lengths`` are given.
    Non-finite returns are counted and left out."""
    from . import stats as S

    row = {} if lengths is None else {"mean_length": float(np.mean(np.asarray(lengths, float)))}
    row.update(S.summarize(np.asarray(returns, float), n_boot=int(n_boot), ci=float(ci), seed=int(seed),
                           cvar_alpha=float(cvar_alpha)))
    return pd.DataFrame([row])


# ---------------------------------------------------------------------------------------
# E3: the landscape map
# ---------------------------------------------------------------------------------------
def _landscape_evaluator(src, horizon: int, chunk: int):
    """``analyses.landscape.make_landscape_evaluator`` where the environment's states carry
    Brax poses (it records them for the gait frames); else the same points through
    ``rollout.make_evaluator`` (a host-stepped suite, a JAX suite of another simulator),
    with no poses."""
    import jax

    from .analyses.landscape import combine, make_landscape_evaluator
    from .analyses.source import policy_of
    from .rollout import make_evaluator

    env = src.env
    if not _host(env) and hasattr(_start(env), "pipeline_state"):
        return make_landscape_evaluator(src, horizon)
    rollout = make_evaluator(env, policy_of(src), horizon, batch_size=chunk)
    points = jax.jit(combine)

    def evaluate(theta0, theta1, theta2, ab, start):
        r, l = rollout(points(theta0, theta1, theta2, ab), start)
        return r, l, None

    evaluate.rollout = rollout if _host(env) else None
    return evaluate


def landscape_map(policy, env, *, directions=None, grid: int = 9, extent: float = 3.0, horizon: int = 1000,
                  key=0, sigma: float = 3e-4, update: Callable | None = None, chunk_size: int = 64,
                  log: Callable[[str], None] | None = None) -> dict:
    """The return landscape R(theta + a d1 + b d2) around ``policy``'s parameters theta on a
    ``grid`` x ``grid`` grid of a, b in [-``extent``, ``extent``] (paper Fig. 1, A.2;
    ``analyses.landscape``), each point one deterministic rollout of ``horizon`` steps from s_I.

    Directions: by default those of two post-updates, d1 = theta' - theta and d2 =
    theta'' - theta with theta', theta'' = u(theta, X'), u(theta, X'') (keys split from
    ``key``; u as in :func:`post_update_distribution`), so (1, 0) is theta' and (0, 1)
    theta''; or ``directions = (d1, d2)``, two pytrees of the params' structure.

    Returns a dict: ``alphas`` [A], ``betas`` [B], ``returns`` float64 [A, B], ``lengths``
    int32 [A, B] (``returns[i, j]`` at a = alphas[i], b = betas[j]), ``return_theta0``,
    ``return_theta1``, ``return_theta2`` (at (0, 0), (1, 0), (0, 1)), ``length_theta0`` and
    ``table``, a DataFrame with one row per point (``alpha, beta, return, length``)."""
    import jax
    import jax.numpy as jnp

    from .analyses.landscape import evaluate_points, grid_axes, grid_points, make_update, two_updates

    pol, env, src, mask, theta0 = _prepare(policy, env, update)
    if directions is None:
        upd = _compiled(("update", pol.apply_fn, update, env), lambda: make_update(src))
        thetas = two_updates(upd, src.agent, theta0, _noise_data(sigma, mask, theta0), 0, 0, _key(key))
    else:
        d1, d2 = directions
        for d in (d1, d2):
            if jax.tree_util.tree_structure(d) != jax.tree_util.tree_structure(theta0):
                raise ValueError("each direction must be a pytree of the params' structure")
        thetas = (theta0, *(jax.tree_util.tree_map(lambda t, x: jnp.asarray(t) + jnp.asarray(x, jnp.asarray(t).dtype),
                                                   theta0, d) for d in (d1, d2)))
    axis = grid_axes(int(grid), float(extent), zoom=2.0, levels=1)[0]
    pts = np.concatenate([np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), grid_points(axis, axis)])
    chunk = max(1, min(int(chunk_size), len(pts)))
    if _host(env):
        evaluator = _landscape_evaluator(src, int(horizon), chunk)
    else:
        evaluator = _compiled(("landscape", pol.apply_fn, env, int(horizon)),
                              lambda: _landscape_evaluator(src, int(horizon), chunk))
    try:
        r, l, _ = evaluate_points(evaluator, thetas, pts, _start(env), chunk, log or _quiet)
    finally:
        if _host(env):
            _close(evaluator)
    G = len(axis)
    returns, lengths = r[3:].reshape(G, G), l[3:].reshape(G, G)
    A, B = np.meshgrid(axis, axis, indexing="ij")
    table = pd.DataFrame({"alpha": A.ravel(), "beta": B.ravel(), "return": returns.ravel(),
                          "length": lengths.ravel()})
    return {"alphas": axis.copy(), "betas": axis.copy(), "returns": returns, "lengths": lengths,
            "return_theta0": float(r[0]), "return_theta1": float(r[1]), "return_theta2": float(r[2]),
            "length_theta0": int(l[0]), "table": table}


# ---------------------------------------------------------------------------------------
# E6-E7: interpolation and the below-threshold proportion
# ---------------------------------------------------------------------------------------
def path_table(evaluator, theta_a, theta_b, *, start, n_points: int, n_perturbations: int, sigma: float,
               fraction: float, key, chunk_size: int) -> tuple[pd.DataFrame, dict]:
    """The path of :func:`interpolation_path` with a path evaluator
    (``analyses.interpolation.make_path_evaluator``) of any source: the table and
    ``{"btp", "return_a", "return_b", "n_nonfinite"}`` (what ``retland interpolate`` writes)."""
    import jax

    from .analyses import interpolation as I

    if int(n_points) < 3:
        raise ValueError(f"n_points must be >= 3 (two endpoints and a point between), got {n_points}")
    alphas = np.linspace(0.0, 1.0, int(n_points))
    key = _key(key)
    chunk = max(1, int(chunk_size))
    det = I.path_returns(evaluator, theta_a, theta_b, alphas, n_perturbations=1, sigma=0.0, key=key,
                         chunk_size=chunk, start_state=start)[:, 0]
    # the same perturbation draws at every point, as the authors' policy_interpolation_seed.py
    noisy = I.path_returns(evaluator, theta_a, theta_b, alphas, n_perturbations=int(n_perturbations),
                           sigma=float(sigma), key=jax.random.fold_in(key, 1), chunk_size=chunk, start_state=start,
                           shared=True)
    means = I.finite_point_means(noisy)
    # pair_btp's order: theta_a (alpha 1), theta_b (alpha 0), then the points between
    btp, ra, rb = I.pair_btp(np.concatenate([means[-1:], means[:1], means[1:-1]]), float(fraction))
    with np.errstate(invalid="ignore"):
        std = np.array([np.std(row[np.isfinite(row)]) if np.isfinite(row).any() else np.nan for row in noisy])
    table = pd.DataFrame({"alpha": alphas, "return": det, "purd_mean": means, "purd_std": std,
                          "purd_n_nonfinite": (~np.isfinite(noisy)).sum(axis=1),
                          "n_perturbations": noisy.shape[1]})
    return table, {"btp": float(btp), "return_a": float(ra), "return_b": float(rb),
                   "n_nonfinite": int((~np.isfinite(noisy)).sum())}


def interpolation_path(params_a, params_b, policy, env, *, n_points: int = 25, n_perturbations: int = 10,
                       sigma: float = 3e-4, fraction: float = 0.1, horizon: int = 1000, key=0,
                       chunk_size: int = 64) -> tuple[pd.DataFrame, float]:
    """Returns along the linear path theta(a) = a theta_a + (1 - a) theta_b between two
    parameter sets of one architecture (paper Sec. 4.1, A.3; ``analyses.interpolation``).

    ``policy``: a :class:`Policy` (its apply function and ``perturb``; its params are not
    used) or an apply function. At ``n_points`` values of a in [0, 1] (both endpoints
    included): ``return``, one deterministic rollout (Fig. 5); ``purd_mean``, ``purd_std``,
    ``purd_n_nonfinite``: the returns of ``n_perturbations`` Gaussian perturbations of
    std ``sigma`` of the perturbed leaves, the same draws at every point (Fig. 8).

    Returns ``(paths, btp)``: the DataFrame (one row per point, ``alpha`` ascending; also
    ``n_perturbations``) and the below-threshold proportion (Fig. 6; ``pair_btp``): the
    fraction of the ``n_points - 2`` points between the endpoints whose mean perturbed return
    is below ``fraction`` x the smaller endpoint's; NaN when an endpoint's is not positive."""
    import jax

    from .analyses.interpolation import make_path_evaluator

    pol = _as_policy(policy, params_a)
    pol, env, src, mask, theta_a = _prepare(pol, env, None, params=params_a, where="params_a")
    _prepare(pol, env, None, params=params_b, where="params_b")
    if jax.tree_util.tree_structure(params_a) != jax.tree_util.tree_structure(params_b) or any(
            np.shape(a) != np.shape(b) for a, b in zip(jax.tree_util.tree_leaves(params_a),
                                                       jax.tree_util.tree_leaves(params_b))):
        raise ValueError("params_a and params_b must have one structure and the same shapes (one architecture)")
    chunk = max(1, int(chunk_size))
    if _host(env):
        evaluator = make_path_evaluator(src, int(horizon), chunk)
    else:
        evaluator = _compiled(("path", pol.apply_fn, _mask_key(mask), env, int(horizon)),
                              lambda: make_path_evaluator(src, int(horizon), chunk))
    try:
        table, btp = path_table(evaluator, theta_a, params_b, start=_start(env), n_points=n_points,
                                n_perturbations=n_perturbations, sigma=sigma, fraction=fraction, key=key,
                                chunk_size=chunk)
    finally:
        if _host(env):
            _close(evaluator)
    table.attrs.update(btp)
    return table, btp["btp"]


# ---------------------------------------------------------------------------------------
# E4: anatomy of a failure
# ---------------------------------------------------------------------------------------
def failure_anatomy(policy, env, *, failing_params, success_params, horizon: int = 1000) -> tuple[pd.DataFrame, int]:
    """Per-step rewards of a failing and a successful policy of one apply function from s_I
    (paper Sec. 3.2, Fig. 3, 4; ``analyses.failures``): typically two post-update samples of
    one policy (:func:`post_update_params`; ``analyses.failures.pick_pair`` picks them from
    the returns as the paper does).

    Returns ``(table, misstep)``: one row per step ``t`` = 1 .. ``horizon`` with
    ``reward_success, reward_failing`` (0 after termination) and the race curves
    ``return_success, return_failing`` (cumulative returns, Fig. 3 right); ``misstep`` the
    failing trajectory's misstep step (0-based: its last step if it terminates, else where
    its cumulative return falls behind for good; ``analyses.failures.misstep_step``).
    ``table.attrs`` holds both returns and lengths and ``ends_by`` (``termination`` or
    ``low_reward``). Needs a JAX-stepped environment."""
    import jax
    import jax.numpy as jnp

    from .analyses.failures import make_resimulator, misstep_step, race_curves
    from .rollout import make_rollout

    pol = _as_policy(policy, success_params)
    pol, env, src, _, _ = _prepare(pol, env, None, params=success_params, where="success_params")
    _prepare(pol, env, None, params=failing_params, where="failing_params")
    if _host(env):
        raise ValueError(f"failure_anatomy needs a JAX-stepped environment (per-step rewards); "
                         f"{env.spec.name} is stepped on the host")
    start = _start(env)
    batch = jax.tree_util.tree_map(lambda s, f: jnp.stack([jnp.asarray(s), jnp.asarray(f)]),
                                   success_params, failing_params)
    horizon = int(horizon)
    if hasattr(start, "pipeline_state"):
        resim = _compiled(("resimulate", pol.apply_fn, env, horizon), lambda: make_resimulator(src, horizon))
        ret, length, rewards, _ = resim(batch, start)
    else:
        one = make_rollout(env, pol.apply_fn, horizon, record_rewards=True)
        resim = _compiled(("resimulate_rewards", pol.apply_fn, env, horizon),
                          lambda: jax.jit(jax.vmap(one, in_axes=(0, None))))
        ret, length, rewards = resim(batch, start)
    rewards, length, ret = np.asarray(rewards, np.float64), np.asarray(length), np.asarray(ret, np.float64)
    misstep = misstep_step(rewards[0], rewards[1], int(length[1]), horizon)
    cs, cf = race_curves(rewards[0], rewards[1])
    table = pd.DataFrame({"t": np.arange(1, horizon + 1), "reward_success": rewards[0], "reward_failing": rewards[1],
                          "return_success": cs, "return_failing": cf})
    table.attrs.update({"return_success": float(ret[0]), "return_failing": float(ret[1]),
                        "length_success": int(length[0]), "length_failing": int(length[1]), "misstep": int(misstep),
                        "ends_by": "termination" if int(length[1]) < horizon else "low_reward"})
    return table, int(misstep)


# ---------------------------------------------------------------------------------------
# figures (the workflow's figure functions, fed the outputs above)
# ---------------------------------------------------------------------------------------
def plot_post_update(returns, out_png, *, label: str = "policy", env: str = "", out_pdf=None, dpi: int = 150) -> None:
    """Histogram of post-update returns (Fig. 2's insets, ``plots.post_update.fig02_histograms``);
    ``returns`` one array, or a dict ``{label: returns}`` of up to six."""
    from .plots.post_update import fig02_histograms

    items = list(returns.items()) if isinstance(returns, dict) else [(label, returns)]
    fig02_histograms(items, env, out_png, out_pdf, dpi=dpi)


def plot_landscape(landscape: dict, out_png, *, title: str = "return landscape", out_pdf=None, dpi: int = 150) -> None:
    """The map of :func:`landscape_map` as Fig. 1 draws it (``plots.landscape``'s heatmap:
    theta at the star, theta' and theta'' at (1, 0) and (0, 1))."""
    import matplotlib.pyplot as plt

    from .plots import save_figure
    from .plots.landscape import _heatmap

    fig, ax = plt.subplots(figsize=(5.2, 4.4), constrained_layout=True)
    if not np.allclose(landscape["alphas"], landscape["betas"]):
        raise ValueError("plot_landscape draws square grids (alphas == betas)")
    _heatmap(ax, landscape["alphas"], landscape["returns"], fig, title)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.7)
    save_figure(fig, out_png, out_pdf, dpi=dpi)


def interpolation_table(paths: pd.DataFrame, *, env: str = "", kind: str = "different_run", pair: int = 0,
                        seed_a: int = 0, step_a: int = 0, seed_b: int = 1, step_b: int = 0) -> pd.DataFrame:
    """The table of :func:`interpolation_path` with the workflow's ``interpolation/paths.csv``
    columns that name the pair (``env, kind, pair, seed_a, step_a, seed_b, step_b``) first."""
    out = paths.copy()
    for i, (k, v) in enumerate({"env": env, "kind": kind, "pair": pair, "seed_a": seed_a, "step_a": step_a,
                                "seed_b": seed_b, "step_b": step_b}.items()):
        out.insert(i, k, v)
    return out


def plot_interpolation(paths: pd.DataFrame, out_png, *, env: str = "", kind: str = "different_run",
                       out_purd_png=None, dpi: int = 150) -> None:
    """Fig. 5 (``plots.interpolation.fig05_interpolation``) of one or more paths of
    :func:`interpolation_path` (a table with ``pair``/``kind`` columns is drawn as it is);
    with ``out_purd_png`` also Fig. 8 (mean and std of the perturbed returns)."""
    from .plots.interpolation import fig05_interpolation, fig08_interpolation_purd

    table = paths if "pair" in paths.columns else interpolation_table(paths, env=env, kind=kind)
    fig05_interpolation(table, env, out_png, None, dpi=dpi)
    if out_purd_png is not None:
        fig08_interpolation_purd(table, env, out_purd_png, None, dpi=dpi)
