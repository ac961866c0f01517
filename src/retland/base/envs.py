"""The environment registry: one adapter class per suite, behind one small interface.

The interface (the spec and the ``Suite``/``JaxSuite``/``HostSuite`` protocols) is
``base/suites.py``; the adapters are ``base/brax_env.py`` (Brax), ``base/dmc.py`` (DeepMind
Control) and ``base/atari.py`` (ALE). This module imports the adapters and registers them;
they never import it. Adding a suite means one adapter module, plus its import, one
``register_suite`` line and its task names in :func:`known_envs` here. No JAX import (the workflow parse reads :func:`suite_of` and :func:`simulator`).
"""

from __future__ import annotations

from typing import Any, Callable

from .atari import ATARI_GAMES, AtariEnv
from .brax_env import BRAX_BACKENDS, BRAX_TASKS, BraxEnv
from .dmc import DMC_TASKS, DMCEnv
from .suites import check_suite

SUITES: dict[str, Callable[..., Any]] = {}


def register_suite(cls):
    """Check an adapter class against :class:`~retland.base.suites.JaxSuite` or
    :class:`~retland.base.suites.HostSuite` (by its ``host_stepped``;
    :func:`retland.base.suites.check_suite`) and add it to :data:`SUITES` under its ``suite``
    name (``spec`` and ``episode_length`` are set by its constructor)."""
    check_suite(cls)
    if cls.suite in SUITES:
        raise ValueError(f"suite {cls.suite!r} is registered twice")
    SUITES[cls.suite] = cls
    return cls


register_suite(BraxEnv)
register_suite(DMCEnv)
register_suite(AtariEnv)


def known_envs() -> dict[str, str]:
    """Every environment name a config may use -> its suite."""
    return {**{n: "brax" for n in BRAX_TASKS}, **{n: "dmc" for n in DMC_TASKS}, **{n: "atari" for n in ATARI_GAMES}}


def suite_of(env_name: str) -> str:
    """The suite of an environment name (names are unique across suites)."""
    known = known_envs()
    if env_name not in known:
        raise ValueError(f"unknown environment {env_name!r}; known: {sorted(known)}")
    return known[env_name]


def is_host_stepped(env) -> bool:
    """Whether ``env`` is stepped on the host (a :class:`~retland.base.suites.HostSuite`): the one test the shared
    rollout and training code make to choose their path."""
    return bool(getattr(env, "host_stepped", False))


def simulator(env_name: str, brax_backend: str) -> str:
    """The simulator a task runs on, as its files record it (attribute ``backend``): the
    Brax backend for Brax tasks, the suite's own for the others (DMC ``mujoco``, Atari
    ``ale``: the ``default_backend`` of the suite's adapter)."""
    suite = suite_of(env_name)
    if suite == "brax":
        return brax_backend
    return SUITES[suite].default_backend


def make_env(env_name: str, backend: str = "spring", episode_length: int = 1000, env_kwargs: dict | None = None):
    """Build the adapter for ``env_name`` (suite inferred from the name); ``backend`` is the
    Brax physics backend (other suites have their own simulator and record it as their
    backend); ``env_kwargs``: the task variant (Brax constructor arguments, see
    :data:`retland.base.brax_env.BRAX_KWARGS`)."""
    suite = suite_of(env_name)
    if suite == "brax":
        return SUITES[suite](env_name, backend=backend, episode_length=episode_length, env_kwargs=env_kwargs)
    if backend in BRAX_BACKENDS:  # the config's Brax backend: not this suite's business
        return SUITES[suite](env_name, episode_length=episode_length, env_kwargs=env_kwargs)
    return SUITES[suite](env_name, backend=backend, episode_length=episode_length, env_kwargs=env_kwargs)
