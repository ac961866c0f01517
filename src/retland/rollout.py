"""Deterministic rollouts from a given start state, vmapped over policy parameters.

R(theta) = G_theta(s_I) of paper Eq. 1-2: the undiscounted sum of rewards of the
deterministic policy over ``horizon`` steps from the start state. Reward stops
accumulating at termination (the state keeps being stepped so the batch keeps its
shape, but its rewards are masked). A simulation that blows up gives a non-finite
return, which the statistics count (``n_nonfinite``) instead of hiding.
"""

from __future__ import annotations

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
        obs = self.batch.restore(np.asarray(start))
        live = np.arange(self.batch_size) < n
        ret = np.zeros(self.batch_size, np.float64)
        length = np.zeros(self.batch_size, np.int32)
        for _ in range(self.horizon):
            if not live.any():
                break
            action = np.asarray(self.act(params, jnp.asarray(obs, jnp.float32)))
            obs, r, term = self.batch.step(action, live, fill_obs=obs)
            ret += np.where(live, r, 0.0)
            length += live
            live &= ~term
        return ret[:n], length[:n]

    def close(self):
        self.batch.close()


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
    rollout a :class:`HostRollout` of ``chunk_size`` copies over ``workers`` processes."""
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
