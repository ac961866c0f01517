"""Brax tasks (paper Sec. 3.1, A.1): the JAX-stepped suite adapter.

Both the training environment (initial states from rho_0, with reset noise) and the
reference initial state s_I (no reset noise) are pure JAX, so rollouts and training can be
jitted and vmapped. Importing this module imports neither JAX nor Brax (the methods do):
the workflow parse reads :data:`BRAX_TASKS` through the registry (``base/envs.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .suites import EnvSpec

if TYPE_CHECKING:
    import jax

# Brax task names of the paper (Sec. 3.1, A.1) -> brax registry names.
BRAX_TASKS = {
    "ant": "ant",
    "halfcheetah": "halfcheetah",
    "hopper": "hopper",
    "walker2d": "walker2d",
}
BRAX_BACKENDS = ("spring", "positional", "generalized", "mjx")

# Task variants (config ``env_kwargs``): the Brax 0.14 constructor keyword arguments a config
# may set, by task, and their kind. Arguments that change the observation (positions in it,
# contact forces) are left out: the analyses rebuild states from observations.
_LOCOMOTION = {"forward_reward_weight": "float", "ctrl_cost_weight": "float", "healthy_reward": "float",
               "terminate_when_unhealthy": "bool", "healthy_z_range": "range",
               "healthy_angle_range": "range", "reset_noise_scale": "nonneg", "n_frames": "posint"}
BRAX_KWARGS = {
    "hopper": {**_LOCOMOTION, "healthy_state_range": "range"},
    "walker2d": dict(_LOCOMOTION),
    "halfcheetah": {k: _LOCOMOTION[k] for k in ("forward_reward_weight", "ctrl_cost_weight",
                                                 "reset_noise_scale", "n_frames")},
    "ant": {"ctrl_cost_weight": "float", "contact_cost_weight": "float", "healthy_reward": "float",
            "terminate_when_unhealthy": "bool", "healthy_z_range": "range", "contact_force_range": "range",
            "reset_noise_scale": "nonneg", "n_frames": "posint"},
}


def check_env_kwargs(env_name: str, kwargs: dict, where: str = "env_kwargs") -> dict:
    """``kwargs`` checked against :data:`BRAX_KWARGS` (errors name ``where.<env>.<key>``);
    returns them with ranges as tuples, ready for the Brax constructor."""
    if env_name not in BRAX_KWARGS:
        raise ValueError(f"'{where}.{env_name}': unknown Brax task; known: {sorted(BRAX_KWARGS)}")
    if not isinstance(kwargs, dict):
        raise ValueError(f"'{where}.{env_name}' must be a mapping of constructor arguments, got {kwargs!r}")
    allowed = BRAX_KWARGS[env_name]
    out = {}
    for k, v in kwargs.items():
        key = f"'{where}.{env_name}.{k}'"
        kind = allowed.get(k)
        if kind is None:
            raise ValueError(f"{key}: not a settable argument of Brax {env_name}; settable: {sorted(allowed)}")
        num = isinstance(v, (int, float)) and not isinstance(v, bool)
        if kind == "bool" and not isinstance(v, bool):
            raise ValueError(f"{key} must be true or false, got {v!r}")
        if kind == "posint" and not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            raise ValueError(f"{key} must be an integer >= 1, got {v!r}")
        if kind in ("float", "nonneg") and not (num and v == v and abs(v) != float("inf")):
            raise ValueError(f"{key} must be a finite number, got {v!r}")
        if kind == "nonneg" and v < 0:
            raise ValueError(f"{key} must be >= 0, got {v!r}")
        if kind == "range":
            if not (isinstance(v, (list, tuple)) and len(v) == 2
                    and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) and v[0] <= v[1]):
                raise ValueError(f"{key} must be [low, high] with low <= high (.inf allowed), got {v!r}")
            v = (float(v[0]), float(v[1]))
        out[k] = v
    return out


class BraxEnv:
    """A Brax task with raw (unwrapped) dynamics; episodes are handled by the caller.

    ``step`` returns the brax ``State`` whose ``done`` is the *termination* flag only;
    time limits (``episode_length``) are the caller's business, so a truncated
    transition keeps its true next observation.
    """

    suite = "brax"
    host_stepped = False
    default_backend = "spring"  # the constructor's default; Brax tasks record the config's backend

    def __init__(self, name: str, backend: str = default_backend, episode_length: int = 1000,
                 env_kwargs: dict | None = None):
        if name not in BRAX_TASKS:
            raise ValueError(f"unknown Brax task {name!r}; known: {sorted(BRAX_TASKS)}")
        if backend not in BRAX_BACKENDS:
            raise ValueError(f"unknown Brax backend {backend!r}; known: {list(BRAX_BACKENDS)}")
        import jax
        from brax import envs as brax_envs  # imported lazily: heavy

        self.name = name
        self.backend = backend
        self.episode_length = int(episode_length)
        #: the task variant: Brax constructor arguments beyond the task's defaults (JSON-able)
        kw = check_env_kwargs(name, dict(env_kwargs or {}))
        self.env_kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(kw.items())}
        self._train = brax_envs.get_environment(BRAX_TASKS[name], backend=backend, **kw)
        self._terminates = bool(kw.get("terminate_when_unhealthy", True))
        self._ref = brax_envs.get_environment(
            BRAX_TASKS[name], backend=backend, **{**kw, "reset_noise_scale": 0.0}
        )
        self.spec = EnvSpec(
            suite=self.suite,
            name=name,
            # eval_shape traces reset once instead of running it op by op (seconds)
            obs_dim=int(jax.eval_shape(self._train.reset, jax.random.PRNGKey(0)).obs.shape[-1]),
            act_dim=int(self._train.action_size),
            episode_length=self.episode_length,
            backend=backend,
        )

    # --- the interface used by agents, rollouts and analyses -------------------
    def reset(self, key: jax.Array):
        """A training initial state drawn from rho_0 (with the task's reset noise)."""
        return self._train.reset(key)

    def reference_state(self):
        """The reference initial state s_I: the task's init pose, no reset noise."""
        import jax

        return jax.jit(self._ref.reset)(jax.random.PRNGKey(0))

    def step(self, state, action: jax.Array):
        import jax

        nxt = self._train.step(state, action)
        if not self._terminates:  # brax then sets done to the Python float 0.0
            nxt = nxt.replace(done=jax.numpy.zeros_like(state.done))
        return nxt

    def state_from_obs(self, obs: jax.Array):
        """Rebuild a simulator state from an observation (paper A.4, Fig. 10 start states).

        Brax locomotion observations are (q without the root's horizontal position, qd)
        (ant drops x and y, the others x; hopper and walker2d observe the torso's world
        height in place of the root slide joint, which differs from it by a constant
        offset). The state is rebuilt with the horizontal root position at 0 through the
        pipeline init; dynamics and rewards do not depend on it. hopper and walker2d
        clip the observed velocities to [-10, 10]: a clipped velocity cannot be undone
        and is taken as observed. Pure jnp: jit/vmap over observations.
        """
        import jax
        import jax.numpy as jnp

        env, sys = self._train, self._train.sys
        nq, nqd = sys.q_size(), sys.qd_size()
        n_drop = nq + nqd - obs.shape[-1]
        if n_drop not in (1, 2):
            raise ValueError(f"{self.name}: observation of size {obs.shape[-1]} does not match "
                             f"q ({nq}) + qd ({nqd}) minus the horizontal root position")
        q = jnp.concatenate([jnp.zeros(n_drop, obs.dtype), obs[: nq - n_drop]])
        qd = obs[nq - n_drop:]
        if self.name in ("hopper", "walker2d"):
            ps0 = env.pipeline_init(sys.init_q, jnp.zeros(nqd))
            q = q.at[1].add(-(ps0.x.pos[0, 2] - ps0.q[1]))  # observed torso z -> rootz joint
        ps = env.pipeline_init(q, qd)
        template = self._ref.reset(jax.random.PRNGKey(0))
        return template.replace(pipeline_state=ps, obs=env._get_obs(ps))

    @property
    def sys(self):
        return self._train.sys

    # A brax State is a pytree with obs, reward, done.
    @staticmethod
    def obs(state) -> jax.Array:
        return state.obs

    @staticmethod
    def reward(state) -> jax.Array:
        return state.reward

    @staticmethod
    def done(state) -> jax.Array:
        return state.done
