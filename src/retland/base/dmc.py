"""DeepMind Control Suite tasks (paper A.5, Fig. 14-18), stepped on the host.

Protocol (docs/design.md, section 3):

* A task is ``dm_control.suite.load(domain, task)`` with its default control step
  (quadruped 0.02 s, humanoid 0.025 s) and no time limit of its own: episodes last
  ``episode_length`` steps (1000, the suite's default), none of these five tasks
  terminates, and every reward is in [0, 1], so a return is in [0, 1000].
* Observations: the task's observation dict flattened in the order of its
  ``observation_spec()`` (:data:`OBS_KEYS`, fixed and tested), as float32.
* Actions: the policy's action (tanh outputs in [-1, 1]) passed to dm-control as it is, as
  the authors' wrapper did (``eval_policy/jaxrl/wrappers/dmc_env.py``); MuJoCo clamps each
  control to its actuator's ``ctrlrange`` (``ctrllimited``). Quadruped's ranges are not
  [-1, 1]: yaw [-1, 1], lift [-1, 1.1] (never reached above 1), extend [-0.8, 0.8] (saturated
  from 0.8 on); the humanoid's are all [-1, 1].
* Training resets draw from rho_0 with each copy's own ``numpy`` random stream (seeded
  per training seed). The reference initial state s_I is the task reset with
  ``task_kwargs={'random': REFERENCE_SEED}`` (the authors' evaluation reset every copy with
  one seed); every rollout starts from an exact copy of it.
* A copy's state (``snapshot``) is MuJoCo's full integration state (time, qpos, qvel, act,
  warm start, ...) plus the task's random stream, so a restored copy continues
  bit-identically.
"""

from __future__ import annotations

import functools

import numpy as np

from .suites import EnvSpec

#: task name -> (domain, task). The paper's five (A.5); names use the suite's spelling.
DMC_TASKS = {
    "quadruped-walk": ("quadruped", "walk"),
    "quadruped-run": ("quadruped", "run"),
    "humanoid-stand": ("humanoid", "stand"),
    "humanoid-walk": ("humanoid", "walk"),
    "humanoid-run": ("humanoid", "run"),
    # small tasks for tests and the tiny CI config (not in the paper)
    "cartpole-swingup": ("cartpole", "swingup"),
}

#: flattened observation order by domain (the order of the task's observation_spec())
OBS_KEYS = {
    "quadruped": ("egocentric_state", "torso_velocity", "torso_upright", "imu", "force_torque"),
    "humanoid": ("joint_angles", "head_height", "extremities", "torso_vertical", "com_velocity", "velocity"),
    "cartpole": ("position", "velocity"),
}

REFERENCE_SEED = 0

_MT_WORDS = 624


class DMCTaskEnv:
    """One copy of a DMC task (a :class:`retland.base.host.HostEnv`)."""

    def __init__(self, name: str, seed: int):
        from dm_control import suite
        import mujoco

        domain, task = DMC_TASKS[name]
        self._mujoco = mujoco
        self.env = suite.load(domain, task, task_kwargs={"random": int(seed)})
        self.env._step_limit = float("inf")  # episodes end by our horizon, never by the suite's
        self.physics = self.env.physics
        self.task = self.env.task
        spec = self.env.action_spec()
        self.low, self.high = np.asarray(spec.minimum, np.float64), np.asarray(spec.maximum, np.float64)
        keys = tuple(self.env.observation_spec().keys())
        if keys != OBS_KEYS[domain]:
            raise RuntimeError(f"dm-control {name}: observation keys {keys} differ from the fixed order "
                               f"{OBS_KEYS[domain]} (a different dm-control version?)")
        self.keys = keys
        self.act_dim = int(self.low.shape[0])
        self._spec_state = mujoco.mjtState.mjSTATE_INTEGRATION
        m = self.physics.model.ptr
        self._nstate = int(mujoco.mj_stateSize(m, self._spec_state))
        self.obs_dim = int(sum(int(np.prod(v.shape)) for v in self.env.observation_spec().values()))

    def _flat(self, obs: dict) -> np.ndarray:
        return np.concatenate([np.asarray(obs[k], np.float32).ravel() for k in self.keys])

    def reset(self) -> np.ndarray:
        return self._flat(self.env.reset().observation)

    def step(self, action):
        # as the authors' DMC wrapper (eval_policy/jaxrl/wrappers/dmc_env.py, DMCEnv.step): the
        # action goes to dm-control as it is, and MuJoCo clamps it to each actuator's ctrlrange
        ts = self.env.step(np.asarray(action, np.float64))
        return self._flat(ts.observation), float(ts.reward or 0.0), bool(ts.last())

    def snapshot(self) -> np.ndarray:
        state = np.empty(self._nstate, np.float64)
        self._mujoco.mj_getState(self.physics.model.ptr, self.physics.data.ptr, state, self._spec_state)
        kind, words, pos, has_gauss, gauss = self.task.random.get_state()
        assert kind == "MT19937" and len(words) == _MT_WORDS
        return np.concatenate([state, words.astype(np.float64), [pos, has_gauss, gauss]])

    def restore(self, snap) -> np.ndarray:
        snap = np.asarray(snap, np.float64)
        if snap.shape != (self._nstate + _MT_WORDS + 3,):
            raise ValueError(f"a {self.task.__class__.__name__} snapshot has {self._nstate + _MT_WORDS + 3} "
                             f"numbers, got shape {snap.shape}")
        m, d = self.physics.model.ptr, self.physics.data.ptr
        self._mujoco.mj_setState(m, d, snap[: self._nstate], self._spec_state)
        self._mujoco.mj_forward(m, d)
        rest = snap[self._nstate:]
        self.task.random.set_state(("MT19937", rest[:_MT_WORDS].astype(np.uint32), int(rest[_MT_WORDS]),
                                    int(rest[_MT_WORDS + 1]), float(rest[_MT_WORDS + 2])))
        self.env._reset_next_step = False
        return self._flat(self.task.get_observation(self.physics))


def make_task_env(name: str, seeds: tuple, i: int) -> DMCTaskEnv:
    """Copy ``i`` of a batch whose copy j draws its training resets with seed ``seeds[j]``."""
    return DMCTaskEnv(name, seeds[i])


class DMCEnv:
    """Suite adapter for the DMC tasks (host-stepped; see :mod:`retland.base.host`)."""

    suite = "dmc"
    host_stepped = True
    default_backend = "mujoco"  # the simulator recorded as ``backend`` (the constructor's default)

    def __init__(self, name: str, backend: str = default_backend, episode_length: int = 1000,
                 env_kwargs: dict | None = None):
        if name not in DMC_TASKS:
            raise ValueError(f"unknown DMC task {name!r}; known: {sorted(DMC_TASKS)}")
        if backend != "mujoco":
            raise ValueError(f"DMC tasks run on backend 'mujoco' (dm-control), got {backend!r}")
        if env_kwargs:
            raise ValueError(f"'env_kwargs.{name}': DMC tasks have no settable arguments, got {env_kwargs!r}")
        self.name, self.backend = name, backend
        self.episode_length = int(episode_length)
        self.env_kwargs = {}
        probe = DMCTaskEnv(name, REFERENCE_SEED)
        self.obs_keys = probe.keys
        self.spec = EnvSpec(suite=self.suite, name=name, obs_dim=probe.obs_dim, act_dim=probe.act_dim,
                            episode_length=self.episode_length, backend=backend)
        probe.reset()
        self._reference = probe.snapshot()

    def host_env_factory(self, seeds):
        """``make(i)``: copy i of a batch, its training resets drawn with seed ``seeds[i]``
        (picklable: worker processes build their own copies)."""
        return functools.partial(make_task_env, self.name, tuple(int(s) for s in seeds))

    def reference_state(self) -> np.ndarray:
        """s_I: the snapshot of the task reset with seed :data:`REFERENCE_SEED`."""
        return self._reference.copy()
