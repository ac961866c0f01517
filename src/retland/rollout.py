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
