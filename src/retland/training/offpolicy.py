"""Off-policy training (TD3, SAC): the jitted chunk of a JAX-stepped suite, the host-stepped
loop of a host-stepped one (DMC), and their :class:`~retland.training.driver.TrainingLoop`.

An off-policy agent hands these loops an :class:`OffPolicyAgent` (its functions of one seed:
``init``, ``explore``, ``learn``, ``policy_params``, and when learning starts) and calls
:func:`offpolicy_setup` from its ``training_setup``. Units are environment steps; the chunks
log their transitions to the files' /replay, from which a resume point rebuilds the ring
buffer (:func:`rebuild_replay`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..base.envs import is_host_stepped
from ..base.replay import FIELDS, Transition, empty_replay
from .driver import LoopBase, Schedule, Setup, choose_chunk


@dataclasses.dataclass(frozen=True)
class OffPolicyAgent:
    """What an off-policy agent hands the off-policy loops (functions of one seed, jittable):

    * ``init(key) -> agent state`` (its dimensions and config bound);
    * ``explore(agent, obs, key) -> action`` in [-1, 1], the behaviour policy after
      ``learning_starts`` (before it actions are uniform);
    * ``learn(agent, replay, size, key, t) -> agent``: the update of global step ``t`` from
      the ring buffer's first ``size`` rows (one per step once ``t + 1 >= learning_starts``);
    * ``policy_params(agent) -> theta``, the deterministic policy's parameters;
    * ``learning_starts`` and ``buffer_size`` (the ring buffer holds
      ``min(buffer_size, total_steps)`` rows); ``name`` for the log.
    """

    name: str
    init: Callable
    explore: Callable
    learn: Callable
    policy_params: Callable
    learning_starts: int
    buffer_size: int


class OffPolicyCarry(NamedTuple):
    """Per-seed training state carried across jitted chunks (leading axis = seed)."""

    agent: Any
    env_state: Any
    ep_t: jax.Array
    ep_return: jax.Array
    key: jax.Array
    replay: Transition


def make_offpolicy_chunk(env, capacity: int, chunk_steps: int, learning_starts: int, explore, learn):
    """Build ``chunk(carry[S], t0) -> (carry[S], (transitions[chunk, S], episode_returns[chunk, S]))``
    for an off-policy agent given by two functions:

    * ``explore(agent_state, obs, key) -> action`` in [-1, 1] (after ``learning_starts``;
      before it actions are uniform);
    * ``learn(agent_state, replay, size, key, t) -> agent_state``: one update from the
      ring buffer's first ``size`` rows at global step ``t``.

    Jitted end to end: ``lax.scan`` over ``chunk_steps`` environment steps, one update per
    step after ``learning_starts``; seeds are the leading axis (vmap) while the step
    counter ``t`` is unbatched, so the learning-start branch stays a real ``lax.cond``.
    Episodes end by termination or the time limit ``env.episode_length`` and restart from
    a fresh noisy initial state; transitions keep their true next observation. The fresh
    states are drawn (``env.reset`` of every seed) only at a step where some seed's episode
    ended: one ``lax.cond`` on that, outside the vmap, instead of a reset per seed and step
    whose result is mostly thrown away (the same keys, so the same bits; docs/profile.md).
    ``episode_returns`` holds the return of each training episode that ended at that
    step, NaN elsewhere (for progress logs).
    """
    act_dim = env.spec.act_dim

    def one_seed(c: OffPolicyCarry, t):
        key, k_rand, k_act, k_reset, k_upd = jax.random.split(c.key, 5)
        obs = env.obs(c.env_state)
        uniform = jax.random.uniform(k_rand, (act_dim,), minval=-1.0, maxval=1.0)
        action = jnp.where(t < learning_starts, uniform, explore(c.agent, obs, k_act))
        nxt = env.step(c.env_state, action)
        term = env.done(nxt).astype(jnp.float32)
        tr = Transition(obs, action, env.reward(nxt), env.obs(nxt), term)
        replay = jax.tree_util.tree_map(lambda buf, x: buf.at[t % capacity].set(x), c.replay, tr)
        ep_t = c.ep_t + 1
        ep_ret = c.ep_return + env.reward(nxt)
        end = (term > 0) | (ep_t >= env.episode_length)
        size = jnp.minimum(t + 1, capacity)
        agent = jax.lax.cond(
            t + 1 >= learning_starts, lambda a: learn(a, replay, size, k_upd, t), lambda a: a, c.agent
        )
        out_ret = jnp.where(end, ep_ret, jnp.nan)
        carry = OffPolicyCarry(agent, nxt, jnp.where(end, 0, ep_t), jnp.where(end, 0.0, ep_ret), key, replay)
        return carry, (tr, out_ret), (end, k_reset)

    batched = jax.vmap(one_seed, in_axes=(0, None))

    def restart(env_state, end, k_reset):
        fresh = jax.vmap(env.reset)(k_reset)
        return jax.tree_util.tree_map(
            lambda f, n: jnp.where(end.reshape(end.shape + (1,) * (jnp.ndim(n) - 1)), f, n), fresh, env_state)

    def step(c: OffPolicyCarry, t):
        new, out, (end, k_reset) = batched(c, t)
        env_state = jax.lax.cond(end.any(), restart, lambda s, e, k: s, new.env_state, end, k_reset)
        # the carry keeps its types: brax's step types some fields weakly (``done``, metrics),
        # and a chunk whose carry came back with other types would compile a second time
        env_state = jax.tree_util.tree_map(lambda x, like: jax.lax.convert_element_type(x, like.dtype), env_state,
                                           c.env_state)
        return new._replace(env_state=env_state), out

    def chunk(carry: OffPolicyCarry, t0):
        return jax.lax.scan(lambda c, i: step(c, t0 + i), carry, jnp.arange(chunk_steps))

    return jax.jit(chunk, donate_argnums=(0,))


def init_offpolicy_carry(env, seeds, capacity: int, init_agent) -> OffPolicyCarry:
    """Initial carry for a batch of seeds; ``init_agent(key)`` builds one agent state."""
    spec = env.spec
    host = is_host_stepped(env)  # its environments live on the host (HostOffPolicyLoop)

    def one(seed):
        key = jax.random.PRNGKey(seed)
        k_init, k_reset, key = jax.random.split(key, 3)
        return OffPolicyCarry(
            init_agent(k_init),
            jnp.zeros(()) if host else env.reset(k_reset),
            jnp.zeros((), jnp.int32),
            jnp.zeros((), jnp.float32),
            key,
            empty_replay(capacity, spec.obs_dim, spec.act_dim),
        )

    return jax.jit(jax.vmap(one))(jnp.asarray(seeds, jnp.uint32))


def rebuild_replay(writers, step: int, capacity: int, replay_template):
    """The device ring buffer at ``step`` from the logged transitions: slot i % capacity
    holds transition i, exactly as the jitted training loop wrote it."""
    lo = max(0, step - capacity)
    bufs = {k: np.zeros((len(writers),) + tuple(getattr(replay_template, k).shape[1:]), np.float32)
            for k in FIELDS}
    slots = np.arange(lo, step) % capacity
    for j, w in enumerate(writers):
        for k in FIELDS:
            bufs[k][j][slots] = w.f["replay"][k][lo:step]
    return type(replay_template)(*(jnp.asarray(bufs[k]) for k in FIELDS))


class OffPolicyLoop(LoopBase):
    """TD3/SAC: units are environment steps; chunks log their transitions to /replay and a
    resume point holds everything but the replay buffer (rebuilt from the log)."""

    def __init__(self, agent: OffPolicyAgent, env, capacity: int, schedule: Schedule, chunk_steps: int):
        self.agent, self.capacity, self.schedule = agent, capacity, schedule
        self.chunk_fn = make_offpolicy_chunk(env, capacity, chunk_steps, agent.learning_starts, agent.explore,
                                             agent.learn)
        self.reference = env.reference_state()
        self._replay_template = None

    def advance(self, carry, u0, u1):
        carry, (tr, ep_rets) = self.chunk_fn(carry, u0)
        return carry, (jax.tree_util.tree_map(np.asarray, tr), np.asarray(ep_rets))  # [chunk, S, ...]

    def record(self, writers, logged):
        tr = logged[0]
        for j, w in enumerate(writers):
            w.append_replay({k: getattr(tr, k)[:, j] for k in tr._fields})

    def replay_rows(self, u):
        return u

    def eval_params(self, carry):
        return self.agent.policy_params(carry.agent)

    def checkpoint(self, carry, j, label, u):
        state = jax.tree_util.tree_map(lambda x: np.asarray(x[j]), carry.agent)
        n_updates = max(0, u - self.agent.learning_starts + 1)
        return state, {"replay_lo": max(0, u - self.capacity), "replay_hi": u, "n_updates": n_updates}

    def resume_tree(self, carry):
        if self._replay_template is None:
            self._replay_template = jax.eval_shape(lambda r: r, carry.replay)
        return carry._replace(replay=())  # the replay is rebuilt from the log

    def restore(self, tree, writers, u):
        return tree._replace(replay=rebuild_replay(writers, u, self.capacity, self._replay_template))

    def note(self, carry, logged):
        ep = logged[1]
        return f", train episodes {np.nanmean(ep) if np.isfinite(ep).any() else float('nan'):.1f}"


def offpolicy_setup(agent: OffPolicyAgent, env, seeds, total_steps: int, checkpoint_steps, max_chunk: int,
                    log) -> Setup:
    """The ``training_setup`` of an off-policy agent, given its functions (``agent``):
    chunks of environment steps that divide every checkpoint step, a ring buffer of
    ``min(buffer_size, total_steps)`` rows; the JAX-stepped loop (one jitted chunk) or, for
    a host-stepped suite, the host loop."""
    spec = env.spec
    capacity = min(agent.buffer_size, total_steps)
    chunk = choose_chunk(total_steps, checkpoint_steps, max_chunk)
    log(f"[train] {spec.suite}/{spec.name} {agent.name} seeds={list(seeds)} steps={total_steps} "
        f"backend={spec.backend} chunk={chunk} checkpoints={list(checkpoint_steps)}")
    schedule = Schedule.every("step", total_steps, chunk, checkpoint_steps)
    carry = init_offpolicy_carry(env, seeds, capacity, agent.init)
    if is_host_stepped(env):
        loop = HostOffPolicyLoop(agent, env, capacity, schedule, seeds)
        return Setup(loop, loop.initial(carry), chunk)
    return Setup(OffPolicyLoop(agent, env, capacity, schedule, chunk), carry, chunk)


# --- off-policy agents in host-stepped suites (DMC) ------------------------------------

class HostState(NamedTuple):
    """What a host-stepped training job keeps on the host, per seed (numpy, leading axis = seed)."""

    snapshot: Any    # [S, K] float64: each environment's complete state (base.host.HostEnv.snapshot)
    obs: Any         # [S, obs_dim] float32: the current observation
    action: Any      # [S, act_dim] float32: the action chosen for it
    ep_t: Any        # [S] int32
    ep_return: Any   # [S] float64


class HostCarry(NamedTuple):
    agent: Any
    key: Any
    replay: Any
    host: HostState


def make_offpolicy_host_step(act_dim: int, capacity: int, learning_starts: int, explore, learn):
    """``(first, step)`` of off-policy training in a host-stepped suite, both jitted and
    vmapped over seeds: ``first(agent, key, obs) -> (key, action)`` chooses the action of
    step 0; ``step(agent, key, replay, transition, obs, t) -> (agent, key, replay, action)``
    writes step ``t``'s transition to the ring buffer, makes the update of step ``t`` (as
    :func:`make_offpolicy_chunk`: one per step once ``t + 1 >= learning_starts``) and
    chooses the action of step ``t + 1`` for ``obs`` (uniform before ``learning_starts``,
    ``explore`` after). The host steps the environments between two calls: one jitted call
    per environment step."""

    def choose(agent, key, obs, t):
        k_rand, k_act = jax.random.split(key)
        uniform = jax.random.uniform(k_rand, (act_dim,), minval=-1.0, maxval=1.0)
        return jnp.where(t < learning_starts, uniform, explore(agent, obs, k_act))

    def first(agent, key, obs):
        key, k = jax.random.split(key)
        return key, choose(agent, k, obs, 0)

    def one(agent, key, replay, tr, obs, t):
        replay = jax.tree_util.tree_map(lambda buf, x: buf.at[t % capacity].set(x), replay, tr)
        key, k_upd, k_act = jax.random.split(key, 3)
        size = jnp.minimum(t + 1, capacity)
        agent = jax.lax.cond(t + 1 >= learning_starts, lambda a: learn(a, replay, size, k_upd, t), lambda a: a,
                             agent)
        return agent, key, replay, choose(agent, k_act, obs, t + 1)

    return (jax.jit(jax.vmap(first)),
            jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, 0, None)), donate_argnums=(0, 1, 2)))


class HostOffPolicyLoop(OffPolicyLoop):
    """TD3/SAC in a host-stepped suite: the seeds' environments (one per seed) are a
    :class:`retland.base.host.HostBatch` stepped on the host, and each environment step is
    one jitted call for every seed (record, update, next action). Same files, checkpoints
    and replay log as the JAX-stepped loop; a resume point also holds every environment's
    snapshot, so a killed job continues bit-identically."""

    rate_unit = "env-steps/s per seed (host-stepped)"

    def __init__(self, agent: OffPolicyAgent, env, capacity: int, schedule: Schedule, seeds):
        from ..base.host import HostBatch

        self.agent, self.capacity, self.schedule = agent, capacity, schedule
        self.env = env
        self.reference = env.reference_state()
        self.batch = HostBatch(env.host_env_factory(seeds), len(seeds), workers=1)
        self.first, self.step = make_offpolicy_host_step(env.spec.act_dim, capacity, agent.learning_starts,
                                                         agent.explore, agent.learn)
        self._replay_template = None

    def initial(self, carry: OffPolicyCarry) -> HostCarry:
        obs = self.batch.reset().astype(np.float32)
        key, action = self.first(carry.agent, carry.key, jnp.asarray(obs))
        S = obs.shape[0]
        host = HostState(self.batch.snapshot(), obs, np.asarray(action, np.float32), np.zeros(S, np.int32),
                         np.zeros(S, np.float64))
        return HostCarry(carry.agent, key, carry.replay, host)

    def advance(self, carry: HostCarry, u0, u1):
        agent, key, replay, h = carry.agent, carry.key, carry.replay, carry.host
        obs, action, ep_t, ep_ret = h.obs, h.action, h.ep_t.copy(), h.ep_return.copy()
        n, S = u1 - u0, obs.shape[0]
        log = {k: np.zeros((n, S) + shape, np.float32) for k, shape in
               (("obs", obs.shape[1:]), ("action", action.shape[1:]), ("reward", ()), ("next_obs", obs.shape[1:]),
                ("terminal", ()))}
        ep_rets = np.full((n, S), np.nan)
        L = self.env.episode_length
        for i, t in enumerate(range(u0, u1)):
            nobs, r, term = self.batch.step(action)
            nobs = nobs.astype(np.float32)
            ep_t += 1
            ep_ret += r
            end = term | (ep_t >= L)
            tr = Transition(obs, action, r.astype(np.float32), nobs, term.astype(np.float32))
            for k, x in zip(Transition._fields, tr):
                log[k][i] = x
            cur = nobs
            if end.any():
                ep_rets[i, end] = ep_ret[end]
                ep_t[end], ep_ret[end] = 0, 0.0
                cur = self.batch.reset(end, fill=nobs).astype(np.float32)
            agent, key, replay, a = self.step(agent, key, replay, Transition(*map(jnp.asarray, tr)),
                                              jnp.asarray(cur), np.int32(t))
            obs, action = cur, np.asarray(a, np.float32)
        host = HostState(h.snapshot, obs, action, ep_t, ep_ret)  # snapshot refreshed when saved
        return HostCarry(agent, key, replay, host), (Transition(*(log[k] for k in Transition._fields)), ep_rets)

    def resume_tree(self, carry: HostCarry):
        if self._replay_template is None:
            self._replay_template = jax.eval_shape(lambda r: r, carry.replay)
        return carry._replace(replay=(), host=carry.host._replace(snapshot=self.batch.snapshot()))

    def restore(self, tree, writers, u):
        h = HostState(*(np.asarray(x) for x in tree.host))
        self.batch.restore(h.snapshot)
        return tree._replace(replay=rebuild_replay(writers, u, self.capacity, self._replay_template), host=h)
