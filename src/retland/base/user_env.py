"""A user's own ``brax.envs.Env`` as a JAX-stepped suite (``base.suites.JaxSuite``).

:class:`UserBraxEnv` gives any Brax environment object (a registered Brax task built with
other arguments, a Brax environment of the user's, a ``PipelineEnv`` subclass) the members
the rollouts and analyses call: ``spec``, ``episode_length``, ``reference_state()``,
``reset``, ``step``, ``obs``, ``reward``, ``done`` (and ``sys`` for rendering frames), as
:class:`retland.base.brax_env.BraxEnv` does for the paper's tasks. Used by
:mod:`retland.api`; it is not in the registry (``base.envs``): configs and training files
name registered tasks only.

What it cannot do is refused with an error that says so: ``state_from_obs`` (paper A.4's
start states need the task's observation layout), a vectorised environment
(``VmapWrapper``: one environment per rollout, the analyses vmap it themselves), and an
observation that is not one flat vector.

Importing this module imports no JAX (the methods do).
"""

from __future__ import annotations

from typing import Any

from .suites import EnvSpec

#: wrappers that batch the environment: a rollout steps one environment, vmapped by the caller
_BATCHING_WRAPPERS = ("VmapWrapper", "DomainRandomizationVmapWrapper")


def _wrapper_chain(env) -> list[str]:
    """Class names of ``env`` and of every environment it wraps (``.env``), outermost first."""
    names, seen = [], set()
    while env is not None and id(env) not in seen:
        seen.add(id(env))
        names.append(type(env).__name__)
        env = vars(env).get("env") if hasattr(env, "__dict__") else None
    return names


class UserBraxEnv:
    """A ``brax.envs.Env`` object as a :class:`~retland.base.suites.JaxSuite`.

    ``reference_state``: the reference initial state s_I every rollout starts from (a Brax
    ``State``); by default ``env.reset(PRNGKey(0))`` -- a task with reset noise then starts
    from that one noisy draw, so pass the noise-free state when the task has one (the
    paper's s_I: the task's initial pose without reset noise). ``step``'s ``done`` is taken
    as termination; rewards stop at the first ``done`` (time limits are the caller's
    ``horizon``), so an ``EpisodeWrapper`` or ``AutoResetWrapper`` around the environment
    changes nothing within its episode length.
    """

    suite = "brax"
    host_stepped = False
    default_backend = "user"

    def __init__(self, env, *, name: str | None = None, episode_length: int = 1000, reference_state=None):
        import jax

        for m in ("reset", "step", "action_size"):
            if not hasattr(env, m):
                raise TypeError(f"{type(env).__name__} is not a brax.envs.Env: it has no {m!r}")
        batching = [n for n in _wrapper_chain(env) if n in _BATCHING_WRAPPERS]
        if batching:
            raise ValueError(f"the environment is wrapped in {batching[0]}: pass the single, unbatched "
                             "environment (the analyses vmap rollouts themselves)")
        if int(episode_length) < 1:
            raise ValueError(f"episode_length must be >= 1, got {episode_length}")
        self.env = env
        self.name = name or type(getattr(env, "unwrapped", env)).__name__
        self.episode_length = int(episode_length)
        self.env_kwargs: dict = {}
        shape = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
        obs = getattr(shape, "obs", None)
        if obs is None or not hasattr(obs, "shape"):
            raise ValueError(f"{self.name}: reset does not return a State with an array 'obs' "
                             f"(got {type(obs).__name__}); dict observations are not supported")
        if len(obs.shape) != 1:
            raise ValueError(f"{self.name}: the observation must be one flat vector, got shape {tuple(obs.shape)}")
        try:
            backend = str(env.backend)
        except Exception:  # noqa: BLE001 - a user's Env may not define it
            backend = self.default_backend
        self.backend = backend
        self.spec = EnvSpec(suite=self.suite, name=self.name, obs_dim=int(obs.shape[0]),
                            act_dim=int(env.action_size), episode_length=self.episode_length, backend=backend)
        self._reference = reference_state

    # --- the JaxSuite members ----------------------------------------------------------
    def reset(self, key):
        """A training initial state (the environment's own ``reset``)."""
        return self.env.reset(key)

    def reference_state(self):
        """s_I: the ``reference_state`` given, else ``env.reset(PRNGKey(0))`` (computed once)."""
        import jax

        if self._reference is None:
            self._reference = jax.jit(self.env.reset)(jax.random.PRNGKey(0))
        return self._reference

    def step(self, state, action):
        """The environment's ``step``, with ``done`` always an array of ``state.done``'s shape
        (Brax tasks that never terminate set it to the Python float 0.0)."""
        import jax.numpy as jnp

        nxt = self.env.step(state, action)
        done = jnp.broadcast_to(jnp.asarray(nxt.done, jnp.result_type(state.done)), jnp.shape(state.done))
        reward = jnp.broadcast_to(jnp.asarray(nxt.reward, jnp.float32), jnp.shape(state.reward))
        return nxt.replace(done=done, reward=reward)

    @staticmethod
    def obs(state) -> Any:
        return state.obs

    @staticmethod
    def reward(state) -> Any:
        return state.reward

    @staticmethod
    def done(state) -> Any:
        return state.done

    @property
    def sys(self):
        """The Brax system (for rendering frames); an environment without one has none."""
        try:
            return self.env.sys
        except AttributeError:
            raise AttributeError(f"{self.name}: the environment has no Brax system 'sys' to render") from None

    def state_from_obs(self, obs):
        raise NotImplementedError(
            f"{self.name}: a user's environment cannot rebuild a simulator state from an observation "
            "(paper A.4 start states need the task's observation layout; registered Brax tasks have it)")
