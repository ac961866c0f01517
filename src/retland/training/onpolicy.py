"""On-policy training (PPO): the jitted iterations of a JAX-stepped suite and the host loop
of a host-stepped one, each a :class:`~retland.training.driver.TrainingLoop`.

Units are iterations (``num_envs x unroll_length`` environment steps per seed); no replay
is logged; a checkpoint holds the agent and, for the post-update to continue from, the
seed's training environments. The agent hands the loops its functions: the iteration of
one seed (JAX-stepped: :class:`OnPolicyLoop`) or its sampling and update (host-stepped:
:class:`HostOnPolicyLoop`), its policy parameters and what a checkpoint holds.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .driver import LoopBase, Schedule


# --- JAX-stepped suites (PPO on Brax) ---------------------------------------------------

class OnPolicyCarry(NamedTuple):
    """Per-seed training state of a JAX-stepped on-policy job (leading axis = seed)."""

    agent: Any
    env_state: Any
    ep_t: jax.Array  # [num_envs]
    ep_ret: jax.Array  # [num_envs]
    key: jax.Array
    ret_sum: jax.Array  # finished training-episode returns since the chunk started (logs)
    ret_count: jax.Array


def make_onpolicy_chunk(iterate: Callable):
    """``run(carry[S], n) -> carry[S]``: ``n`` iterations (a dynamic count, so one compiled
    function serves every chunk length) of ``iterate(carry) -> carry`` (one seed's
    iteration, which adds the returns of the training episodes it ended to ``ret_sum`` and
    ``ret_count``), vmapped over seeds, jitted; the episode statistics restart at zero."""
    batched = jax.vmap(iterate)

    def run(carry: OnPolicyCarry, n):
        carry = carry._replace(ret_sum=jnp.zeros_like(carry.ret_sum), ret_count=jnp.zeros_like(carry.ret_count))
        return jax.lax.fori_loop(0, n, lambda i, c: batched(c), carry)

    return jax.jit(run, donate_argnums=(0,))


class OnPolicyLoop(LoopBase):
    """On-policy training in a JAX-stepped suite (PPO on Brax): each chunk is one jitted call
    of :func:`make_onpolicy_chunk`. The agent gives:

    * ``iterate(carry) -> carry``: one iteration of one seed (an :class:`OnPolicyCarry`);
    * ``policy_params(agent)``; ``checkpoint_tree(agent, envs) -> tree``, where ``envs`` =
      {"state", "ep_t", "ep_ret"} are the seed's training environments (``env_state``,
      ``ep_t``, ``ep_ret`` of the carry), which a checkpoint keeps for the post-update;
    * ``checkpoint_attrs(u) -> dict`` (replay_lo, replay_hi, n_updates, ...).

    A resume point is the whole carry (environment states included)."""

    def __init__(self, env, schedule: Schedule, *, iterate: Callable, policy_params: Callable,
                 checkpoint_tree: Callable, checkpoint_attrs: Callable):
        self.env, self.schedule = env, schedule
        self.run = make_onpolicy_chunk(iterate)
        self.reference = env.reference_state()
        self.policy_params, self.checkpoint_tree, self.checkpoint_attrs = policy_params, checkpoint_tree, \
            checkpoint_attrs

    def advance(self, carry, u0, u1):
        return self.run(carry, u1 - u0), None

    def eval_params(self, carry):
        return self.policy_params(carry.agent)

    def checkpoint(self, carry, j, label, u):
        envs = {"state": carry.env_state, "ep_t": carry.ep_t, "ep_ret": carry.ep_ret}
        agent, envs = jax.tree_util.tree_map(lambda x: np.asarray(x[j]), (carry.agent, envs))
        return self.checkpoint_tree(agent, envs), self.checkpoint_attrs(u)

    def note(self, carry, logged):
        cnt = np.asarray(carry.ret_count)
        ret = float(np.asarray(carry.ret_sum).sum() / cnt.sum()) if cnt.sum() else float("nan")
        return f", train episodes {ret:.1f}"


# --- host-stepped suites (PPO on Atari) -----------------------------------------------

class HostOnPolicyState(NamedTuple):
    """The training environments of a host-stepped on-policy job (numpy, leading axes
    [seed, num_envs])."""

    snapshot: Any  # [S, N, K] float64: each copy's complete state (refreshed after every chunk)
    obs: Any       # [S, N, ...]: the current observations (restored from the snapshots on resume)
    ep_t: Any      # [S, N] int32: steps of each copy's current episode (the time limit)
    ep_ret: Any    # [S, N] float64: its return so far


class HostOnPolicyCarry(NamedTuple):
    agent: Any
    key: Any
    host: HostOnPolicyState


class HostOnPolicyLoop(LoopBase):
    """On-policy training (PPO) in a host-stepped suite, a
    :class:`~retland.training.driver.TrainingLoop`. Units are iterations of ``num_envs x unroll_length`` environment steps
    per seed. The ``num_envs`` training environments of each seed are a block of one
    :class:`retland.base.host.HostBatch` of ``S x num_envs`` copies (copy e of seed s is
    seeded ``s * num_envs + e``); an iteration is :func:`retland.rollout.host_collect`
    (one jitted call per step choosing every copy's action, vmapped over seeds) followed
    by one jitted ``learn``, vmapped over seeds. The agent gives:

    * ``sample(agent, key, obs[N]) -> (key, env_action[N], action[N], logp[N])`` (one seed);
    * ``learn(agent, key, data) -> (agent, key)`` (one seed; ``data`` its
      :class:`retland.rollout.OnPolicyData` [unroll_length, num_envs]);
    * ``policy_params(agent)``; ``checkpoint_tree(agent, envs) -> tree``, where ``envs`` =
      {"state": snapshots [N, K], "ep_t", "ep_ret"} are the seed's training environments,
      which a checkpoint keeps for the post-update to continue from;
    * ``checkpoint_attrs(u) -> dict`` (replay_lo, replay_hi, n_updates, ...).

    A resume point holds the agent, the keys, the snapshots and episode counters (not the
    observations: the snapshots give them back), so a killed job continues bit-identically.
    The learning curve's note is the mean return of the training episodes the chunk ended."""

    rate_unit = "env-steps/s per seed (host-stepped)"

    def __init__(self, env, seeds, schedule: Schedule, *, num_envs: int, unroll_length: int, sample: Callable,
                 learn: Callable, policy_params: Callable, checkpoint_tree: Callable, checkpoint_attrs: Callable,
                 workers: int = 1):
        from ..base.host import HostBatch

        self.env, self.schedule = env, schedule
        self.S, self.N, self.T = len(seeds), int(num_envs), int(unroll_length)
        self.reference = env.reference_state()
        copy_seeds = [int(s) * self.N + e for s in seeds for e in range(self.N)]
        self.batch = HostBatch(env.host_env_factory(copy_seeds), self.S * self.N, workers)
        self.sample = jax.jit(jax.vmap(sample))
        self.learn = jax.jit(jax.vmap(learn), donate_argnums=(0,))
        self.policy_params, self.checkpoint_tree, self.checkpoint_attrs = policy_params, checkpoint_tree, \
            checkpoint_attrs

    def initial(self, agent, key) -> HostOnPolicyCarry:
        """The carry of freshly reset training environments (``agent``, ``key``: [S, ...])."""
        obs = self._split(self.batch.reset())
        zeros = np.zeros((self.S, self.N))
        host = HostOnPolicyState(self._split(self.batch.snapshot()), obs, zeros.astype(np.int32), zeros)
        return HostOnPolicyCarry(agent, key, host)

    def _split(self, x):
        return np.asarray(x).reshape((self.S, self.N) + np.shape(x)[1:])

    def _flat(self, x):
        return np.asarray(x).reshape((self.S * self.N,) + np.shape(x)[2:])

    def advance(self, carry: HostOnPolicyCarry, u0, u1):
        from ..rollout import host_collect

        agent, h = carry.agent, carry.host
        cur = {"key": carry.key}

        def policy(obs):
            key, env_action, action, logp = self.sample(agent, cur["key"], jnp.asarray(self._split(obs)))
            cur["key"] = key
            return (self._flat(x) for x in (env_action, action, logp))

        state = (self._flat(h.obs), self._flat(h.ep_t), self._flat(h.ep_ret))
        finished = []
        for _ in range(u0, u1):
            state, data, fin = host_collect(self.batch, policy, *state, self.T, self.env.episode_length)
            data = data.by_block(self.N)  # [S, T, N, ...]
            agent, cur["key"] = self.learn(agent, cur["key"], data)
            finished.append(fin)
        obs, ep_t, ep_ret = (self._split(x) for x in state)
        host = HostOnPolicyState(self._split(self.batch.snapshot()), obs, ep_t, ep_ret)
        return HostOnPolicyCarry(agent, cur["key"], host), np.concatenate(finished)

    def eval_params(self, carry):
        return self.policy_params(carry.agent)

    def checkpoint(self, carry, j, label, u):
        agent = jax.tree_util.tree_map(lambda x: np.asarray(x[j]), carry.agent)
        h = carry.host
        envs = {"state": h.snapshot[j], "ep_t": h.ep_t[j], "ep_ret": h.ep_ret[j]}
        return self.checkpoint_tree(agent, envs), self.checkpoint_attrs(u)

    def resume_tree(self, carry):
        return carry._replace(host=carry.host._replace(obs=()))

    def restore(self, tree, writers, u):
        h = tree.host
        obs = self._split(self.batch.restore(self._flat(np.asarray(h.snapshot))))
        host = HostOnPolicyState(np.asarray(h.snapshot), obs, np.asarray(h.ep_t), np.asarray(h.ep_ret))
        return HostOnPolicyCarry(jax.tree_util.tree_map(jnp.asarray, tree.agent), jnp.asarray(tree.key), host)

    def note(self, carry, logged):
        return f", train episodes {np.nanmean(logged) if np.isfinite(logged).any() else float('nan'):.1f}"
