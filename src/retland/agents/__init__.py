"""Agent registry. An analysis never names an algorithm: it asks ``get_agent(name)``.

Importing this package imports no JAX (the workflow's parse and the config validation read
it). Each algorithm is a package here whose ``__init__`` is its JAX-free *declaration*
(:class:`Declaration`: name, update kind, suites, frozen ``Config``, per-suite defaults,
the anneal-over-training marker, whether it trains in an environment, and the dotted path
of its implementation); :data:`AGENTS` maps names to them. :func:`get_agent` imports the
implementation (a module, JAX) on first use and checks it against the :class:`Agent`
protocol: a module that lacks a member is refused with the names of what it lacks. Adding
an algorithm = one package here (declaration + implementation) plus one line in
``_BUILT_IN``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable, Protocol

from . import bc, external, ppo, sac, td3


class Declaration(Protocol):
    """What an agent's JAX-free package declares (``retland.agents.td3`` ...)."""

    NAME: str                   # the name used in configs, file paths and outputs
    UPDATE_KIND: str            # names the post-update function u(theta, X) in post-update files
    SUITES: tuple               # the environment suites it runs in (base.envs.SUITES names)
    Config: type                # frozen dataclass of hyperparameters: from_dict (unknown keys refused), to_dict
    SUITE_DEFAULTS: dict        # suite -> hyperparameters beneath the config's (config.agent_overrides)
    ANNEAL_OVER_TRAINING: Any   # the ``anneal_lr_steps`` value meaning "the whole run" (None: none)
    TRAINS_IN_ENV: bool         # trained by training.train in an environment (else: its own entry, as bc)
    IMPLEMENTATION: str         # dotted module path of the implementation (an Agent)
    PROVIDES: tuple             # the optional members (:data:`OPTIONAL`) the implementation has (default ())


class Agent(Protocol):
    """The members of an agent's implementation module (functions are jittable and pure);
    it re-exports its declaration's constants and ``Config``."""

    NAME: str
    UPDATE_KIND: str
    SUITES: tuple
    Config: type

    def init(self, key, obs_dim: int, act_dim: int, cfg) -> Any:
        """A fresh agent state: the pytree a checkpoint holds."""

    def make_policy(self, act_dim: int, cfg) -> Callable:
        """``apply(params, obs) -> action`` of the deterministic policy analysed by the paper."""

    def policy_params(self, state) -> Any:
        """The policy parameters theta of an agent state."""

    def post_update(self, state, key, replay, lo, hi, cfg, env) -> Any:
        """u(theta, X): updated policy parameters (vmapped over ``key``). ``replay`` rows
        [lo, hi) are the data at the checkpoint; on-policy agents collect in ``env``."""


class OptionalMembers(Protocol):
    """Members an implementation may have; an experiment that needs one runs only on the
    agents that declare it in ``PROVIDES`` (:data:`EXPERIMENT_NEEDS`, :func:`lacks`)."""

    def explore(self, state, obs, key, cfg, act_dim: int) -> Any:
        """The behaviour policy's action (exploration noise included): E8, Algorithm 1."""

    def full_update(self, state, key, replay, lo, hi, cfg, act_dim: int, step) -> Any:
        """One whole training update of the agent state (critic, actor, targets) on the
        buffer rows [lo, hi): E8, Algorithm 1 proposes it."""

    def perturbable(self, theta, cfg) -> Any:
        """A pytree of Python bools over the policy parameters: the leaves Gaussian
        perturbations change (E6-E7, E11). Without it, every leaf is perturbed."""


#: optional member -> what it is for
OPTIONAL = {
    "explore": "the behaviour policy of Algorithm 1 (E8)",
    "full_update": "the training update Algorithm 1 proposes (E8)",
    "perturbable": "which parameter leaves Gaussian perturbations change (E6-E7, E11)",
}
#: experiment (a config section) -> the optional members it needs; ``replay_log``: the
#: training file holds the transitions (off-policy agents trained here)
EXPERIMENT_NEEDS = {
    "rejection": ("explore", "full_update", "replay_log"),
    "start_states": ("replay_log",),  # E5 starts rollouts from the buffer's states
}


class EnvTrainedAgent(Agent, Protocol):
    def training_setup(self, env, cfg, seeds, total_steps: int, checkpoint_steps, max_chunk: int,
                       log) -> Any:
        """E1: a ``training.Setup`` (its TrainingLoop and the initial carry of all seeds) for
        ``training.train``, the one driver. An off-policy agent hands
        ``training.offpolicy.offpolicy_setup`` its functions (an ``OffPolicyAgent``)."""


_DECLARED = ("NAME", "UPDATE_KIND", "SUITES", "Config", "SUITE_DEFAULTS", "ANNEAL_OVER_TRAINING", "TRAINS_IN_ENV",
             "IMPLEMENTATION")
_MEMBERS = ("NAME", "UPDATE_KIND", "SUITES", "Config", "init", "make_policy", "policy_params", "post_update")
_CONSTANTS = ("NAME", "UPDATE_KIND", "SUITES")
#: what a declaration may provide beyond OPTIONAL: its training files hold a replay log
_CAPABILITIES = tuple(OPTIONAL) + ("replay_log",)

#: name -> the agent's declaration (JAX-free)
AGENTS: dict[str, ModuleType] = {}
_IMPLEMENTATIONS: dict[str, ModuleType] = {}  # name -> implementation checked by get_agent


def check_agent(module: ModuleType) -> ModuleType:
    """``module`` if it has the members of :class:`Agent` (and of :class:`EnvTrainedAgent`
    unless it sets ``TRAINS_IN_ENV = False``), else ``TypeError`` naming what it lacks."""
    need = _MEMBERS + (("training_setup",) if getattr(module, "TRAINS_IN_ENV", True) else ())
    need += tuple(m for m in getattr(module, "PROVIDES", ()) if m in OPTIONAL)
    missing = [m for m in need if not hasattr(module, m)]
    if missing:
        raise TypeError(f"agent module {module.__name__} lacks {missing} (see retland.agents.Agent)")
    not_callable = [m for m in need if m not in _CONSTANTS and not callable(getattr(module, m))]
    if not_callable or not hasattr(module.Config, "from_dict"):
        raise TypeError(f"agent module {module.__name__}: {not_callable or ['Config.from_dict']} must be callable")
    return module


def declare(package: ModuleType) -> ModuleType:
    """Add an agent's JAX-free declaration (:class:`Declaration`) to :data:`AGENTS`, checking
    its members without importing the implementation."""
    missing = [m for m in _DECLARED if m not in vars(package)]
    if missing:
        raise TypeError(f"agent package {package.__name__} declares no {missing} (see retland.agents.Declaration)")
    if not hasattr(package.Config, "from_dict"):
        raise TypeError(f"agent package {package.__name__}: its Config has no from_dict")
    _check_provides(package)
    return _add(package)


def _check_provides(declared: ModuleType) -> None:
    unknown = [m for m in getattr(declared, "PROVIDES", ()) if m not in _CAPABILITIES]
    if unknown:
        raise TypeError(f"agent {declared.__name__}: PROVIDES names {unknown}, which are not optional members "
                        f"{list(_CAPABILITIES)}")


#: the declaration members an agent given whole (:func:`register`) may leave out, and their
#: values then: no per-suite hyperparameters, no anneal-over-training marker, trained in an
#: environment
_DECLARATION_DEFAULTS = {"SUITE_DEFAULTS": {}, "ANNEAL_OVER_TRAINING": None, "TRAINS_IN_ENV": True}


def register(module: ModuleType) -> ModuleType:
    """Add an agent given whole (declaration and implementation in one module, e.g. a plug-in
    or a test's): checked against :class:`Agent` now and added to :data:`AGENTS` under its
    ``NAME``, with the declaration members it leaves out set to their defaults
    (``_DECLARATION_DEFAULTS``); ``get_agent`` returns the module itself."""
    check_agent(module)
    _check_provides(module)
    for member, default in _DECLARATION_DEFAULTS.items():
        if not hasattr(module, member):
            setattr(module, member, default)
    if not hasattr(module, "PROVIDES"):  # given whole: what it has is what it provides
        module.PROVIDES = tuple(m for m in OPTIONAL if callable(getattr(module, m, None)))
    _add(module)
    _IMPLEMENTATIONS[module.NAME] = module
    return module


def _add(declared: ModuleType) -> ModuleType:
    if declared.NAME in AGENTS:
        raise ValueError(f"agent name {declared.NAME!r} is registered twice")
    AGENTS[declared.NAME] = declared
    return declared


_BUILT_IN = (td3, sac, ppo, bc, external)
for _p in _BUILT_IN:
    declare(_p)


def declaration(name: str) -> ModuleType:
    """The JAX-free declaration of agent ``name`` (``ValueError`` naming the known ones)."""
    try:
        return AGENTS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {sorted(AGENTS)}") from None


def get_agent(name: str) -> ModuleType:
    """The implementation of agent ``name`` (imported on first use, JAX), checked against
    :class:`Agent` and against its declaration's name, update kind and suites."""
    if name in _IMPLEMENTATIONS:
        return _IMPLEMENTATIONS[name]
    decl = declaration(name)
    impl = check_agent(importlib.import_module(decl.IMPLEMENTATION))
    missing = [m for m in getattr(decl, "PROVIDES", ()) if m in OPTIONAL and not callable(getattr(impl, m, None))]
    if missing:
        raise TypeError(f"agent module {impl.__name__} lacks {missing}, which its declaration provides")
    differ = [m for m in _CONSTANTS + ("Config",) if getattr(impl, m) != getattr(decl, m)]
    if differ:
        raise TypeError(f"agent module {impl.__name__}: {differ} differ from its declaration {decl.__name__}")
    _IMPLEMENTATIONS[name] = impl
    return impl


def provides(algo: str) -> tuple:
    """The optional members (and ``replay_log``) agent ``algo`` declares."""
    return tuple(getattr(declaration(algo), "PROVIDES", ()))


def lacks(algo: str, experiment: str) -> tuple:
    """What agent ``algo`` lacks for ``experiment`` (a config section named in
    :data:`EXPERIMENT_NEEDS`; () for the others, which need only the :class:`Agent`
    members); JAX-free, so the config checks say it before any job runs."""
    return tuple(m for m in EXPERIMENT_NEEDS.get(experiment, ()) if m not in provides(algo))


def trainable() -> list[str]:
    """The agents a config's ``algos`` may name: those trained in an environment."""
    return sorted(n for n, d in AGENTS.items() if getattr(d, "TRAINS_IN_ENV", True))


def runs_in(algo: str, env_name: str) -> bool:
    """Whether ``algo`` is trained and analysed on ``env_name`` (its suite is among the agent's
    ``SUITES``): a config's (env, algo) pairs are those where this holds."""
    from ..base.envs import suite_of

    return suite_of(env_name) in declaration(algo).SUITES
