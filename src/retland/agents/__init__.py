"""Agent registry. An analysis never names an algorithm: it asks ``get_agent(name)``.

What an agent module provides is the :class:`Agent` protocol below, checked when the
module is registered (:func:`register`): a module that lacks a member is refused with
the names of what it lacks. Adding an algorithm = one module here plus one
``register(module)`` line.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable, Protocol

from . import bc, ppo, sac, td3


class Agent(Protocol):
    """The members of an agent module (functions are jittable and pure)."""

    NAME: str          # the name used in configs, file paths and outputs
    UPDATE_KIND: str   # names the post-update function u(theta, X) in post-update files
    SUITES: tuple      # the environment suites it runs in (base.envs.SUITES names)
    Config: type       # frozen dataclass of hyperparameters: from_dict (unknown keys refused), to_dict

    def init(self, key, obs_dim: int, act_dim: int, cfg) -> Any:
        """A fresh agent state: the pytree a checkpoint holds."""

    def make_policy(self, act_dim: int, cfg) -> Callable:
        """``apply(params, obs) -> action`` of the deterministic policy analysed by the paper."""

    def policy_params(self, state) -> Any:
        """The policy parameters theta of an agent state."""

    def post_update(self, state, key, replay, lo, hi, cfg, env) -> Any:
        """u(theta, X): updated policy parameters (vmapped over ``key``). ``replay`` rows
        [lo, hi) are the data at the checkpoint; on-policy agents collect in ``env``."""


class EnvTrainedAgent(Agent, Protocol):
    def training_setup(self, env, cfg, seeds, total_steps: int, checkpoint_steps, max_chunk: int,
                       log) -> Any:
        """E1: a ``training.Setup`` (its TrainingLoop and the initial carry of all seeds) for
        ``training.train``, the one driver."""


_MEMBERS = ("NAME", "UPDATE_KIND", "SUITES", "Config", "init", "make_policy", "policy_params", "post_update")

AGENTS: dict[str, ModuleType] = {}


def register(module: ModuleType) -> ModuleType:
    """Check ``module`` against :class:`Agent` (and :class:`EnvTrainedAgent` unless it sets
    ``TRAINS_IN_ENV = False``) and add it to :data:`AGENTS` under its ``NAME``."""
    need = _MEMBERS + (("training_setup",) if getattr(module, "TRAINS_IN_ENV", True) else ())
    missing = [m for m in need if not hasattr(module, m)]
    if missing:
        raise TypeError(f"agent module {module.__name__} lacks {missing} (see retland.agents.Agent)")
    not_callable = [m for m in need if m not in ("NAME", "UPDATE_KIND", "SUITES") and not callable(getattr(module, m))]
    if not_callable or not hasattr(module.Config, "from_dict"):
        raise TypeError(f"agent module {module.__name__}: {not_callable or ['Config.from_dict']} must be callable")
    if module.NAME in AGENTS:
        raise ValueError(f"agent name {module.NAME!r} is registered twice")
    AGENTS[module.NAME] = module
    return module


for _m in (td3, sac, ppo, bc):
    register(_m)


def runs_in(algo: str, env_name: str) -> bool:
    """Whether ``algo`` is trained and analysed on ``env_name`` (its suite is among the agent's
    ``SUITES``): a config's (env, algo) pairs are those where this holds."""
    from ..base.envs import suite_of

    return suite_of(env_name) in get_agent(algo).SUITES


def get_agent(name: str) -> ModuleType:
    try:
        return AGENTS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {sorted(AGENTS)}") from None
