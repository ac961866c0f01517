"""What an environment adapter is: its spec and the suite protocols (docs/design.md, section 3).

The analyses need two things from an environment (paper Sec. 2):

* a *training* environment whose initial states are drawn from rho_0 (reset noise),
* the *reference* initial state s_I (no reset noise) from which every return of the
  return landscape R(theta) = G_theta(s_I) is measured.

The adapters (``base/brax_env.py``, ``base/dmc.py``, ``base/atari.py``) import this module
only; the registry (``base/envs.py``) imports the adapters. No JAX import here (annotations
only): the workflow parse reads the registry.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    import jax


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    suite: str
    name: str
    obs_dim: int
    act_dim: int
    episode_length: int
    backend: str


class Suite(Protocol):
    """What an environment adapter provides (docs/design.md, section 3). Two kinds:

    * JAX-stepped (``host_stepped = False``, Brax): ``reset``/``step``/``obs``/``reward``/
      ``done`` are pure JAX, so training runs under ``lax.scan`` and rollouts are vmapped;
      ``step``'s ``done`` is termination only (time limits are the caller's);
    * host-stepped (``host_stepped = True``, DeepMind Control, ALE): ``host_env_factory(seeds)``
      builds the copies a :class:`retland.base.host.HostBatch` steps on the host, and
      ``reference_state()`` is a snapshot vector every rollout copy is restored to.

    ``default_backend`` is the simulator the adapter runs on when none is asked for (its
    constructor's default ``backend``), recorded as the ``backend`` of its files.

    The shared code (``retland.rollout``, ``retland.training``) serves both; analyses never ask
    which kind they have."""

    suite: str
    spec: EnvSpec
    episode_length: int
    host_stepped: bool
    default_backend: str

    def reference_state(self) -> Any:
        """The reference initial state s_I (no reset noise)."""


class JaxSuite(Suite, Protocol):
    def reset(self, key: jax.Array) -> Any:
        """A training initial state drawn from rho_0."""

    def step(self, state, action: jax.Array) -> Any: ...

    def obs(self, state) -> jax.Array: ...

    def reward(self, state) -> jax.Array: ...

    def done(self, state) -> jax.Array: ...


class HostSuite(Suite, Protocol):
    def host_env_factory(self, seeds) -> Callable[[int], Any]:
        """``make(i)``: copy i (a :class:`retland.base.host.HostEnv`) whose training resets
        draw from seed ``seeds[i]``; picklable."""


SUITE_MEMBERS = ("suite", "reference_state")
JAX_MEMBERS = ("reset", "step", "obs", "reward", "done")
HOST_MEMBERS = ("host_env_factory",)


def check_suite(cls) -> None:
    """Check an adapter class against :class:`JaxSuite` or :class:`HostSuite` (by its
    ``host_stepped``); a ``TypeError`` names what is missing."""
    host = bool(getattr(cls, "host_stepped", False))
    need = SUITE_MEMBERS + (HOST_MEMBERS if host else JAX_MEMBERS)
    missing = [m for m in need if not hasattr(cls, m)]
    if missing:
        raise TypeError(f"suite adapter {cls.__name__} lacks {missing} (see retland.base.suites."
                        f"{'HostSuite' if host else 'JaxSuite'})")
