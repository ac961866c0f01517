"""Deterministic rollouts from a given start state, vmapped over policy parameters.

R(theta) = G_theta(s_I) of paper Eq. 1-2: the undiscounted sum of rewards of the
deterministic policy over ``horizon`` steps from the start state. Reward stops
accumulating at termination (the state keeps being stepped so the batch keeps its
shape, but its rewards are masked). A simulation that blows up gives a non-finite
return, which the statistics count (``n_nonfinite``) instead of hiding.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from .base.envs import is_host_stepped


def make_rollout(env, policy_apply, horizon: int, record_rewards: bool = False, record=None):
    """``rollout(params, start_state) -> (return, length[, rewards[horizon]])`` for one policy;
    with ``record`` (a function of a state), ``(return, length, rewards[horizon],
    record(state) of every step's next state, stacked)`` (the poses of ``base.render``)."""

    def rollout_until_done(params, start_state):
        # Stops stepping once the episode has terminated: under vmap the loop runs until
        # every policy of the batch is done (or the horizon), so a batch of policies that
        # all fall early costs only as many steps as its longest episode. Same returns and
        # lengths as the masked scan below (rewards after termination are zero there).
        def cond(carry):
            t, _, alive, _, _ = carry
            return (t < horizon) & alive

        def body(carry):
            t, state, alive, ret, length = carry
            action = policy_apply(params, env.obs(state))
            nxt = env.step(state, action)
            ret = ret + env.reward(nxt)
            length = length + 1
            alive = env.done(nxt) == 0
            return t + 1, nxt, alive, ret, length

        init = (jnp.zeros((), jnp.int32), start_state, jnp.asarray(True), jnp.zeros((), jnp.float32),
                jnp.zeros((), jnp.int32))
        _, _, _, ret, length = jax.lax.while_loop(cond, body, init)
        return ret, length

    def rollout(params, start_state):
        def body(carry, _):
            state, alive, ret, length = carry
            action = policy_apply(params, env.obs(state))
            nxt = env.step(state, action)
            r = jnp.where(alive, env.reward(nxt), 0.0)
            ret = ret + r
            length = length + alive.astype(jnp.int32)
            alive = alive & (env.done(nxt) == 0)
            return (nxt, alive, ret, length), (r if record is None else (r, record(nxt)))

        init = (start_state, jnp.asarray(True), jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
        (_, _, ret, length), out = jax.lax.scan(body, init, None, length=horizon)
        if record is not None:
            return ret, length, out[0], out[1]
        if record_rewards:
            return ret, length, out
        return ret, length

    return rollout if record_rewards or record is not None else rollout_until_done


def make_batched_rollout(env, policy_apply, horizon: int, record_rewards: bool = False):
    """Jitted rollout of a batch of policies (leading axis of every params leaf) from one start state."""
    one = make_rollout(env, policy_apply, horizon, record_rewards)
    return jax.jit(jax.vmap(one, in_axes=(0, None)))


def chunked(n: int, chunk: int):
    """Yield (start, stop) of ``n`` items in chunks of ``chunk``; the last may be short."""
    if chunk < 1:
        raise ValueError(f"chunk size must be >= 1, got {chunk}")
    for s in range(0, n, chunk):
        yield s, min(s + chunk, n)


def pad_to(x: jax.Array, size: int) -> jax.Array:
    """Pad the leading axis to ``size`` by repeating the last row (keeps one compiled shape)."""
    k = x.shape[0]
    if k == size:
        return x
    return jnp.concatenate([x, jnp.repeat(x[-1:], size - k, axis=0)], axis=0)


# --- host-stepped suites (DMC, ALE): the same rollouts, stepped on the host ---------------

class HostRollout:
    """``rollout(params[n], start) -> (returns[n], lengths[n])`` for a host-stepped suite:
    the deterministic policies of a batch (leading axis of every params leaf, n <=
    ``batch_size``) rolled out in lockstep from the snapshot ``start`` (s_I), every copy an
    exact copy of it. One jitted, vmapped policy call per time step for the whole batch
    (padded to ``batch_size``: one compiled shape); the copies are stepped by a
    :class:`retland.base.host.HostBatch` over ``workers`` processes, only while alive.
    Same semantics as :func:`make_rollout`: rewards stop at termination, at most
    ``horizon`` steps. Returns are summed in float64."""

    def __init__(self, env, policy_apply, horizon: int, batch_size: int, workers: int = 1):
        from .base.host import HostBatch

        self.env, self.horizon, self.batch_size = env, int(horizon), int(batch_size)
        self.batch = HostBatch(env.host_env_factory([0] * self.batch_size), self.batch_size, workers)
        self.act = jax.jit(jax.vmap(policy_apply))

    def __call__(self, params, start):
        import numpy as np

        n = jax.tree_util.tree_leaves(params)[0].shape[0]
        if n > self.batch_size:
            raise ValueError(f"{n} policies for a host rollout batch of {self.batch_size}")
        params = jax.tree_util.tree_map(lambda x: pad_to(jnp.asarray(x), self.batch_size), params)
        obs = _policy_obs(self.batch.restore(np.asarray(start)))
        live = np.arange(self.batch_size) < n
        ret = np.zeros(self.batch_size, np.float64)
        length = np.zeros(self.batch_size, np.int32)
        for _ in range(self.horizon):
            if not live.any():
                break
            action = np.asarray(self.act(params, jnp.asarray(obs)))
            obs, r, term = self.batch.step(action, live, fill_obs=obs)
            obs = _policy_obs(obs)
            ret += np.where(live, r, 0.0)
            length += live
            live &= ~term
        return ret[:n], length[:n]

    def close(self):
        self.batch.close()


def _policy_obs(obs):
    """Host observations as the policy takes them: float32, or as they are when integer
    (Atari's uint8 frames: a quarter of the transfer; the network scales them)."""
    import numpy as np

    return obs if np.issubdtype(obs.dtype, np.integer) else obs.astype(np.float32)


class OnPolicyData(NamedTuple):
    """What an on-policy collection gathers (numpy, leading axes [steps, copies]): raw
    observations, the sampled actions and their log-probabilities, rewards, ``term`` (1
    where the episode terminated: no bootstrap), ``end`` (1 where it ended by termination
    or the time limit: the GAE trace is cut) and the true next observations (before any
    reset)."""

    obs: Any
    action: Any
    logp: Any
    reward: Any
    term: Any
    end: Any
    next_obs: Any

    def by_block(self, m: int) -> "OnPolicyData":
        """[steps, B * m, ...] -> [B, steps, m, ...]: a collection of B blocks of m copies
        (seeds' environments, or one post-update sample's) split by block."""
        import numpy as np

        return OnPolicyData(*(np.moveaxis(x.reshape((x.shape[0], -1, m) + x.shape[2:]), 1, 0) for x in self))


def host_collect(batch, policy, obs, ep_t, ep_ret, steps: int, time_limit: int):
    """Continue ``batch`` (a :class:`retland.base.host.HostBatch` of n copies) for ``steps``
    steps with a stochastic policy: ``policy(obs[n]) -> (env_action[n], action[n],
    logp[n])`` is called once per step for all copies (one jitted call, whatever it closes
    over: keys, several agents). A copy that terminates or reaches ``time_limit`` steps of
    its episode (``ep_t`` counts them) is reset. ``obs`` are the copies' current
    observations, ``ep_t``/``ep_ret`` their episode step counters and returns.

    Returns (obs, ep_t, ep_ret) after the last step, the :class:`OnPolicyData` [steps, n]
    and the returns of the episodes that ended at each step ([steps, n], NaN elsewhere)."""
    import numpy as np

    obs = _policy_obs(np.asarray(obs))
    ep_t, ep_ret = np.array(ep_t, np.int32), np.array(ep_ret, np.float64)
    n = obs.shape[0]
    rows = {k: [] for k in OnPolicyData._fields}
    finished = np.full((steps, n), np.nan)
    for i in range(steps):
        env_action, action, logp = (np.asarray(x) for x in policy(obs))
        nobs, r, term = batch.step(env_action)
        nobs = _policy_obs(nobs)
        ep_t += 1
        ep_ret += r
        end = term | (ep_t >= time_limit)
        for k, x in zip(OnPolicyData._fields, (obs, action, logp, r.astype(np.float32), term.astype(np.float32),
                                                end.astype(np.float32), nobs)):
            rows[k].append(x)
        obs = nobs
        if end.any():
            finished[i, end] = ep_ret[end]
            ep_t[end], ep_ret[end] = 0, 0.0
            obs = _policy_obs(batch.reset(end, fill=nobs))
    return (obs, ep_t, ep_ret), OnPolicyData(*(np.stack(rows[k]) for k in OnPolicyData._fields)), finished


class HostUpdate(NamedTuple):
    """An update u(theta, X) whose data X a host-stepped suite must give (on-policy agents:
    PPO on Atari), for :func:`make_update_estimator`. Per key: the ``copies`` environments
    ``envs(state)`` describes are restored, continued by :func:`host_collect` for ``steps``
    steps (time limit ``time_limit``) with the stochastic policy ``sample``, and ``learn``
    turns the collection into the updated policy parameters.

    * ``envs(state) -> (snapshots[copies, K], ep_t[copies], ep_ret[copies])`` (numpy): where
      the collection starts (a checkpoint's saved training environments);
    * ``sample(state, key, obs[copies]) -> (key, env_action, action, logp)``, jittable (it
      is vmapped over keys);
    * ``learn(state, key, data) -> policy params``: ``data`` the key's
      :class:`OnPolicyData` [steps, copies], jittable (vmapped over keys)."""

    envs: Callable
    sample: Callable
    learn: Callable
    copies: int
    steps: int
    time_limit: int


class HostUpdateEstimator:
    """``f(keys[C], state, replay, lo, hi, start) -> (returns[C], lengths[C])`` for a
    :class:`HostUpdate` (``replay``/``lo``/``hi`` unused): for every key of a chunk (at most
    ``chunk_size``) the update's environments are restored into its own block of a
    :class:`retland.base.host.HostBatch` of ``chunk_size x copies`` copies, all keys'
    collections step in lockstep (one jitted call per step, vmapped over keys), then one
    jitted, vmapped ``learn``, then the updated policies roll out from ``start`` in a
    :class:`HostRollout`. Key k's collection uses ``split(k)[0]``, its ``learn``
    ``split(k)[1]``. ``update_params`` does all but the rollout."""

    def __init__(self, env, policy_apply, horizon: int, update: HostUpdate, chunk_size: int, workers: int = 1):
        from .base.host import HostBatch

        self.update, self.chunk_size = update, int(chunk_size)
        n = self.chunk_size * update.copies
        self.batch = HostBatch(env.host_env_factory([0] * n), n, workers)
        self.sample = jax.jit(jax.vmap(update.sample, in_axes=(None, 0, 0)))
        self.learn = jax.jit(jax.vmap(update.learn, in_axes=(None, 0, 0)))
        self.rollout = HostRollout(env, policy_apply, horizon, chunk_size, workers)

    def update_params(self, keys, state):
        import numpy as np

        C, m = len(keys), self.update.copies
        if C > self.chunk_size:
            raise ValueError(f"{C} keys for a host update chunk of {self.chunk_size}")
        keys = pad_to(jnp.asarray(keys), self.chunk_size)
        k_col, k_upd = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
        snaps, ep_t, ep_ret = (np.asarray(x) for x in self.update.envs(state))
        tile = lambda x: np.concatenate([x] * self.chunk_size)  # noqa: E731
        obs = self.batch.restore(tile(snaps))
        cur = {"keys": k_col}

        def policy(o):
            k, env_action, action, logp = self.sample(state, cur["keys"], jnp.asarray(o.reshape((-1, m) + o.shape[1:])))
            cur["keys"] = k
            return (np.asarray(x).reshape((-1,) + x.shape[2:]) for x in (env_action, action, logp))

        _, data, _ = host_collect(self.batch, policy, obs, tile(ep_t), tile(ep_ret), self.update.steps,
                                  self.update.time_limit)
        data = data.by_block(m)  # [chunk, steps, copies, ...]
        params = self.learn(state, k_upd, data)
        return jax.tree_util.tree_map(lambda x: x[:C], params)

    def __call__(self, keys, state, replay, lo, hi, start):
        return self.rollout(self.update_params(keys, state), start)

    def close(self):
        self.batch.close()
        self.rollout.close()


def make_evaluator(env, policy_apply, horizon: int, batch_size: int | None = None, workers: int = 1):
    """``evaluate(params[n], start) -> (returns[n], lengths[n])`` for either kind of suite:
    the jitted vmapped rollout for JAX-stepped ones, a :class:`HostRollout` (``batch_size``
    copies over ``workers`` processes) for host-stepped ones."""
    if is_host_stepped(env):
        if batch_size is None:
            raise ValueError("a host-stepped rollout needs its batch size")
        return HostRollout(env, policy_apply, horizon, batch_size, workers)
    return make_batched_rollout(env, policy_apply, horizon)


def make_update_estimator(env, policy_apply, horizon: int, update, chunk_size: int, workers: int = 1):
    """``f(keys[C], state, replay, lo, hi, start) -> (returns[C], lengths[C])``: the returns
    of the updated policies ``update(key, state, replay, lo, hi)`` (one per key) rolled out
    from ``start``. For a JAX-stepped suite update and rollout are fused in one jitted,
    vmapped function; for a host-stepped one the updates are one jitted call and the
    rollout a :class:`HostRollout` of ``chunk_size`` copies over ``workers`` processes; an
    update that itself steps host environments is a :class:`HostUpdate`
    (:class:`HostUpdateEstimator`)."""
    if isinstance(update, HostUpdate):
        if not is_host_stepped(env):
            raise ValueError("a HostUpdate needs a host-stepped suite")
        return HostUpdateEstimator(env, policy_apply, horizon, update, chunk_size, workers)
    if is_host_stepped(env):
        updates = jax.jit(jax.vmap(update, in_axes=(0, None, None, None, None)))
        rollout = HostRollout(env, policy_apply, horizon, chunk_size, workers)

        def host(keys, state, replay, lo, hi, start):
            return rollout(updates(keys, state, replay, lo, hi), start)

        host.rollout = rollout
        return host
    one = make_rollout(env, policy_apply, horizon)

    def fused(key, state, replay, lo, hi, start):
        return one(update(key, state, replay, lo, hi), start)

    return jax.jit(jax.vmap(fused, in_axes=(0, None, None, None, None, None)))


def make_recording_rollout(env, policy_apply, horizon: int):
    """``rollout(params, start) -> (return, length, rewards[T], Pose of every step[T])``:
    :func:`make_rollout` (rewards masked after termination) also recording the pose
    (:class:`retland.base.render.Pose`) after every step, what the renderers of
    ``base.render`` need. Not jitted; vmap/jit at the caller."""
    from .base.render import Pose

    def pose(state):
        ps = state.pipeline_state
        return Pose(ps.q, ps.qd, ps.x.pos, ps.x.rot)

    return make_rollout(env, policy_apply, horizon, record=pose)
