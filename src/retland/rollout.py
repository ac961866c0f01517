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
    ``return_definition`` (:data:`RETURN_DEFINITIONS`): ``"first_life"`` (default) has
    the semantics of :func:`make_rollout`: rewards stop at termination, at most ``horizon``
    steps. ``"authors"`` is the authors' Atari ``evaluate_policy`` (:meth:`_authors`).
    Returns are summed in float64."""

    def __init__(self, env, policy_apply, horizon: int, batch_size: int, workers: int = 1,
                 return_definition: str = "first_life"):
        from .base.host import HostBatch

        check_return_definition(env, return_definition)
        self.env, self.horizon, self.batch_size = env, int(horizon), int(batch_size)
        self.return_definition = return_definition
        # the authors' evaluation envs: one NOOP (or FIRE) per reset, a life lost continues the game
        factory = (env.host_env_factory([0] * self.batch_size, mode="eval_continue") if return_definition == "authors"
                   else env.host_env_factory([0] * self.batch_size))
        self.batch = HostBatch(factory, self.batch_size, workers)
        self.act = jax.jit(jax.vmap(policy_apply))

    def __call__(self, params, start, groups=None):
        """``(returns[n], lengths[n])`` of the ``n`` policies of ``params`` from ``start``.
        ``groups`` (``"authors"`` only; one label per policy, default one group of all n):
        the copies the authors evaluated in one ``evaluate_policy`` call, whose early stop
        needs all of them done on one step."""
        import numpy as np

        n = jax.tree_util.tree_leaves(params)[0].shape[0]
        if n > self.batch_size:
            raise ValueError(f"{n} policies for a host rollout batch of {self.batch_size}")
        params = jax.tree_util.tree_map(lambda x: pad_to(jnp.asarray(x), self.batch_size), params)
        if self.return_definition == "authors":
            return self._authors(params, start, n, groups)
        if groups is not None:
            raise ValueError("groups are the authors' early stop: return_definition 'authors' only")
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

    def _authors(self, params, start, n, groups):
        """The authors' Atari return (paper A.6, Fig. 19-21; ``eval_policy/experiments/utils.py``
        ``evaluate_policy``, l. 83-97, on envpool 0.8.1), copy by copy:

        * the loop makes ``horizon + 1`` environment calls (``count > max_len`` breaks
          *after* the step);
        * ``done`` is the last call's flag, overwritten every call. A copy done on the
          previous call is reset by envpool instead of stepped (its action ignored, reward 0,
          done False). With episodic life that reset continues the game after a life lost
          (``mode="eval_continue"``), or starts a new one after a game over;
        * the reward of a call counts as ``reward * (1 - done)``: the step that loses a life
          earns nothing;
        * the loop stops early only when every copy of the call is done on the same step
          (here per group: ``groups``, default all n copies).

        The length is the number of environment calls counted for the copy (resets included)."""
        import numpy as np

        B = self.batch_size
        group = np.zeros(B, np.int64)
        if groups is not None:
            g = np.asarray(groups).reshape(-1)
            if g.shape != (n,):
                raise ValueError(f"groups must give one label per policy ({n}), got shape {g.shape}")
            group[:n] = np.unique(g, return_inverse=True)[1].reshape(-1)
        n_groups = int(group.max()) + 1
        obs = _policy_obs(self.batch.restore(np.asarray(start)))
        live = np.arange(B) < n
        done = np.zeros(B, bool)
        ret = np.zeros(B, np.float64)
        length = np.zeros(B, np.int32)
        for _ in range(self.horizon + 1):
            if not live.any():
                break
            action = np.asarray(self.act(params, jnp.asarray(obs)))
            resets, steps = live & done, live & ~done
            r, d = np.zeros(B, np.float64), np.zeros(B, bool)
            if resets.any():
                obs = _policy_obs(self.batch.reset(resets, fill=obs))
            if steps.any():
                o, r_s, d_s = self.batch.step(action, steps, fill_obs=obs)
                obs = _policy_obs(o)
                r, d = np.where(steps, r_s, 0.0), steps & d_s
            ret += np.where(live, r * (1.0 - d), 0.0)
            length += live
            done = d
            # the early stop: a group whose live copies are all done on this call stops
            n_live = np.bincount(group[live], minlength=n_groups)
            n_done = np.bincount(group[live & done], minlength=n_groups)
            live &= ~((n_live > 0) & (n_done == n_live))[group]
        return ret[:n], length[:n]

    def close(self):
        self.batch.close()


#: what a host rollout's return counts (:class:`HostRollout`): to the first termination, or the
#: authors' Atari ``evaluate_policy``
RETURN_DEFINITIONS = ("first_life", "authors")


def check_return_definition(env, return_definition: str) -> None:
    """Refuse an unknown return definition, or ``"authors"`` for a task without the authors'
    evaluation env (only Atari has one: ``host_env_factory(..., mode="eval_continue")``)."""
    if return_definition not in RETURN_DEFINITIONS:
        raise ValueError(f"return_definition must be one of {list(RETURN_DEFINITIONS)}, got {return_definition!r}")
    if return_definition == "authors" and getattr(env, "suite", None) != "atari":
        raise ValueError(f"return_definition 'authors' is the authors' Atari evaluation (continuing through lives); "
                         f"{env.spec.suite}/{env.spec.name} has none: use 'first_life'")


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
      :class:`OnPolicyData` [steps, copies], jittable (vmapped over keys).

    With ``advantages`` and ``learn_rows`` (both jittable) the data come instead from one
    pool of ``chunk x copies`` environments (the authors' Atari post-update,
    ``atari_policy_variance.py`` l. 250-331): reset once (training resets, up to 30 random
    NOOPs) at the estimator's first call and continued by every later call (samples and
    checkpoints of one job); ``envs`` is then unused. One joint collection per call,
    ``advantages(state, data) -> rows`` over all of it (``data`` [steps, chunk x copies],
    ``rows`` time-major flat), and key i learns from rows ``[i B, (i + 1) B)``,
    ``B = steps x copies``, with ``learn_rows(state, key, rows) -> policy params``."""

    envs: Callable
    sample: Callable
    learn: Callable
    copies: int
    steps: int
    time_limit: int
    advantages: Callable | None = None
    learn_rows: Callable | None = None

    @property
    def pooled(self) -> bool:
        return self.advantages is not None and self.learn_rows is not None


class HostUpdateEstimator:
    """``f(keys[C], state, replay, lo, hi, start) -> (returns[C], lengths[C])`` for a
    :class:`HostUpdate` (``replay``/``lo``/``hi`` unused): for every key of a chunk (at most
    ``chunk_size``) the update's environments are restored into its own block of a
    :class:`retland.base.host.HostBatch` of ``chunk_size x copies`` copies, all keys'
    collections step in lockstep (one jitted call per step, vmapped over keys), then one
    jitted, vmapped ``learn``, then the updated policies roll out from ``start`` in a
    :class:`HostRollout`. Key k's collection uses ``split(k)[0]``, its ``learn``
    ``split(k)[1]``. ``update_params`` does all but the rollout.

    A pooled update (``update.pooled``) restores nothing: the batch is the pool (copy j's
    training resets seeded ``pool_seed + j``), reset at the first call and continued by every
    later one, and key i's block of copies is still sampled with key i's stream, but key i
    learns from the i-th time-major slice of the joint collection (:class:`HostUpdate`).
    Its results therefore depend on the calls before (fixed for a job's fixed order of
    chunks and checkpoints) and on ``chunk_size``. ``return_definition``: the rollout's
    (:class:`HostRollout`)."""

    def __init__(self, env, policy_apply, horizon: int, update: HostUpdate, chunk_size: int, workers: int = 1,
                 return_definition: str = "first_life", pool_seed: int = 0):
        from .base.host import HostBatch

        self.update, self.chunk_size = update, int(chunk_size)
        n = self.chunk_size * update.copies
        seeds = [int(pool_seed) + j for j in range(n)] if update.pooled else [0] * n
        self.batch = HostBatch(env.host_env_factory(seeds), n, workers)
        self.sample = jax.jit(jax.vmap(update.sample, in_axes=(None, 0, 0)))
        self.learn = jax.jit(jax.vmap(update.learn, in_axes=(None, 0, 0)))
        if update.pooled:
            self.advantages = jax.jit(update.advantages)
            self.learn_rows = jax.jit(jax.vmap(update.learn_rows, in_axes=(None, 0, 0)))
        self.pool = None  # (obs, ep_t, ep_ret) of the pool between calls
        self.rollout = HostRollout(env, policy_apply, horizon, chunk_size, workers, return_definition)

    def update_params(self, keys, state):
        import numpy as np

        C, m = len(keys), self.update.copies
        if C > self.chunk_size:
            raise ValueError(f"{C} keys for a host update chunk of {self.chunk_size}")
        keys = pad_to(jnp.asarray(keys), self.chunk_size)
        k_col, k_upd = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
        tile = lambda x: np.concatenate([x] * self.chunk_size)  # noqa: E731
        if self.update.pooled:
            if self.pool is None:  # reset once (atari_policy_variance.py l. 277), then continued
                n = self.chunk_size * m
                self.pool = (self.batch.reset(), np.zeros(n, np.int32), np.zeros(n, np.float64))
            obs, ep_t, ep_ret = self.pool
        else:
            snaps, ep_t, ep_ret = (np.asarray(x) for x in self.update.envs(state))
            obs = self.batch.restore(tile(snaps))
            ep_t, ep_ret = tile(ep_t), tile(ep_ret)
        cur = {"keys": k_col}

        def policy(o):
            k, env_action, action, logp = self.sample(state, cur["keys"], jnp.asarray(o.reshape((-1, m) + o.shape[1:])))
            cur["keys"] = k
            return (np.asarray(x).reshape((-1,) + x.shape[2:]) for x in (env_action, action, logp))

        after, data, _ = host_collect(self.batch, policy, obs, ep_t, ep_ret, self.update.steps,
                                      self.update.time_limit)
        if self.update.pooled:
            self.pool = after
            # GAE over the joint collection, then sample i's rows [i B, (i + 1) B) of its
            # time-major flattening (their b_obs.reshape(outer_batch_size, -1, ...), l. 326-331)
            rows = self.advantages(state, data)
            rows = jax.tree_util.tree_map(lambda x: x.reshape((self.chunk_size, -1) + x.shape[1:]), rows)
            params = self.learn_rows(state, k_upd, rows)
        else:
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


def make_update_estimator(env, policy_apply, horizon: int, update, chunk_size: int, workers: int = 1,
                          return_definition: str = "first_life", pool_seed: int = 0):
    """``f(keys[C], state, replay, lo, hi, start) -> (returns[C], lengths[C])``: the returns
    of the updated policies ``update(key, state, replay, lo, hi)`` (one per key) rolled out
    from ``start``. For a JAX-stepped suite the C updates (:func:`map_updates`) and the
    vmapped rollouts are one jitted function; for a host-stepped one the updates are one
    jitted call and the rollout a :class:`HostRollout` of ``chunk_size`` copies over
    ``workers`` processes (``return_definition``: its return; the C rollouts of a call are
    one group); an update that itself steps host environments is a :class:`HostUpdate`
    (:class:`HostUpdateEstimator`; ``pool_seed``: a pooled update's environments). The
    estimator's ``updates(keys, state, replay, lo, hi)`` gives the updated parameters alone
    (jitted; the very policies the estimator rolls out)."""
    if isinstance(update, HostUpdate):
        if not is_host_stepped(env):
            raise ValueError("a HostUpdate needs a host-stepped suite")
        return HostUpdateEstimator(env, policy_apply, horizon, update, chunk_size, workers, return_definition,
                                   pool_seed)
    if return_definition != "first_life" and not is_host_stepped(env):
        raise ValueError(f"return_definition {return_definition!r}: JAX-stepped suites count to the first "
                         "termination ('first_life')")
    mapped = map_updates(update)
    updates = jax.jit(mapped)
    if is_host_stepped(env):
        rollout = HostRollout(env, policy_apply, horizon, chunk_size, workers, return_definition)

        def host(keys, state, replay, lo, hi, start):
            return rollout(updates(keys, state, replay, lo, hi), start)

        host.rollout, host.updates = rollout, updates
        return host
    one = jax.vmap(make_rollout(env, policy_apply, horizon), in_axes=(0, None))
    fused = jax.jit(lambda keys, state, replay, lo, hi, start: one(mapped(keys, state, replay, lo, hi), start))

    def estimate(keys, state, replay, lo, hi, start):
        return fused(keys, state, replay, lo, hi, start)

    estimate.updates = updates
    return estimate


def map_updates(update):
    """``updates(keys[C], state, replay, lo, hi) -> params[C]``: the post-update ``update(key,
    state, replay, lo, hi)`` of each key. On the CPU one key after another (``lax.map``):
    every sample's update is computed exactly as if it were alone, so its bits do not depend
    on how many samples share a call (``post_update.chunk_size``) nor on XLA's CPU threads; 200
    TD3 64x64 updates take as long as vmapped on two threads (docs/profile.md). Elsewhere
    (GPU) all keys of a call at once (vmap), which an accelerator needs to be busy."""

    def updates(keys, state, replay, lo, hi):
        if jax.default_backend() != "cpu":
            return jax.vmap(update, in_axes=(0, None, None, None, None))(keys, state, replay, lo, hi)
        return jax.lax.map(lambda k: update(k, state, replay, lo, hi), keys)

    return updates


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
