"""The one training driver (paper A.1) and the off-policy training chunk.

Every agent trains the same way: a jitted chunk advances all seeds (or students) of
one job, vmapped, by some units of training (environment steps for TD3/SAC, PPO
iterations, behaviour-cloning gradient steps); between chunks the host driver
(:func:`drive`) writes what the chunk logged (replay rows), evaluates the deterministic
policies from the reference state for the learning curve, writes the checkpoints due,
saves resume points, reports progress and finally renames the files into place (or
removes them when the job fails). An agent supplies only a :class:`TrainingLoop`: its
schedule, its jitted chunk, and what its checkpoints and resume points hold.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from typing import Any, Callable, NamedTuple, Protocol, Sequence

import h5py
import jax
import jax.numpy as jnp
import numpy as np

from .base.atomic import atomic_path
from .base.checkpoints import CheckpointError, TrainWriter, read_pytree, write_pytree
from .base.envs import is_host_stepped
from .base.replay import FIELDS, Transition, empty_replay
from .rollout import make_evaluator


def choose_chunk(total_steps: int, checkpoint_steps: Sequence[int], max_chunk: int) -> int:
    """Largest chunk length <= ``max_chunk`` that divides the training length and every
    checkpoint step, so checkpoints fall on chunk boundaries (one compiled chunk)."""
    g = total_steps
    for s in checkpoint_steps:
        g = math.gcd(g, int(s))
    for c in range(min(g, max_chunk), 0, -1):
        if g % c == 0:
            return c
    return 1


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}"


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
    a fresh noisy initial state; transitions keep their true next observation.
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
        fresh = env.reset(k_reset)
        env_state = jax.tree_util.tree_map(lambda f, n: jnp.where(end, f, n), fresh, nxt)
        size = jnp.minimum(t + 1, capacity)
        agent = jax.lax.cond(
            t + 1 >= learning_starts, lambda a: learn(a, replay, size, k_upd, t), lambda a: a, c.agent
        )
        out_ret = jnp.where(end, ep_ret, jnp.nan)
        carry = OffPolicyCarry(agent, env_state, jnp.where(end, 0, ep_t), jnp.where(end, 0.0, ep_ret), key, replay)
        return carry, (tr, out_ret)

    batched = jax.vmap(one_seed, in_axes=(0, None))

    def chunk(carry: OffPolicyCarry, t0):
        return jax.lax.scan(lambda c, i: batched(c, t0 + i), carry, jnp.arange(chunk_steps))

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


def partial_path(out_path: str) -> str:
    d, b = os.path.split(os.path.abspath(out_path))
    return os.path.join(d, f".{b}.partial")


def resume_path(out_paths: Sequence[str]) -> str:
    d, b = os.path.split(os.path.abspath(out_paths[0]))
    return os.path.join(d, f".{b}.resume.h5")


def run_fingerprint(attrs: dict, seeds, total_steps, checkpoint_steps, chunk) -> str:
    """What must match for a resume point to be valid (everything that shapes the run)."""
    keep = {k: v for k, v in attrs.items() if k not in ("provenance", "seed")}
    blob = json.dumps([keep, list(seeds), total_steps, list(checkpoint_steps), chunk], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def save_resume(path: str, state, position: int, fingerprint: str) -> None:
    """A resume point: the pytree ``state`` after ``position`` units of training (steps or
    iterations), written atomically so a job killed while saving keeps the previous one."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(position=position, fingerprint=fingerprint)
            write_pytree(f.create_group("state"), state)


def load_resume(path: str, template, fingerprint: str):
    """(position, state shaped like ``template``) or None when there is no valid resume point."""
    if not os.path.exists(path):
        return None
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("fingerprint") != fingerprint:
                return None
            return int(f.attrs["position"]), read_pytree(f["state"], template, where=path)
    except (OSError, KeyError, CheckpointError):
        return None


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


# --- the one driver --------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Schedule:
    """When a training job stops between chunks, in the loop's own units.

    ``bounds``: sorted chunk ends (the last is ``total``); ``checkpoints``: chunk end ->
    the checkpoint labels (requested steps) written there; ``unit_steps``: steps of the
    learning curve per unit (1 for environment or gradient steps, PPO's batch for
    iterations)."""

    unit: str
    total: int
    unit_steps: int
    bounds: tuple
    checkpoints: dict

    @classmethod
    def every(cls, unit: str, total: int, chunk: int, checkpoints: Sequence[int], unit_steps: int = 1):
        """Chunks of ``chunk`` units; checkpoint label s at unit s (s must be a chunk end)."""
        bounds = tuple(range(chunk, total + 1, chunk))
        missing = sorted(set(int(s) for s in checkpoints) - set(bounds))
        if missing:
            raise ValueError(f"checkpoints {missing} are not chunk ends (chunk {chunk} {unit}s)")
        return cls(unit, total, unit_steps, bounds, {int(s): [int(s)] for s in checkpoints})

    def labels_up_to(self, u: int) -> set:
        return {s for b, ss in self.checkpoints.items() if b <= u for s in ss}


class TrainingLoop(Protocol):
    """What an agent gives :func:`drive` (leading axis of every carry leaf = seed)."""

    tag: str              # log prefix, e.g. "train"
    rate_unit: str        # progress: what the rate counts, e.g. "env-steps/s per seed"
    schedule: Schedule
    reference: Any        # the reference state s_I the learning curve is evaluated from

    def advance(self, carry, u0: int, u1: int) -> tuple[Any, Any]:
        """Units [u0, u1) of training: (carry, what the chunk logged)."""

    def record(self, writers, logged) -> None:
        """Write what the chunk logged (replay rows) to the files."""

    def replay_rows(self, u: int) -> int | None:
        """Replay rows in the files after ``u`` units (None: this loop logs no replay)."""

    def eval_params(self, carry):
        """Batched deterministic policy parameters for the learning curve."""

    def checkpoint(self, carry, j: int, label: int, u: int) -> tuple[Any, dict]:
        """(file j's checkpoint pytree, its attributes: replay_lo, replay_hi, n_updates, ...)."""

    def resume_tree(self, carry):
        """What a resume point saves (the carry minus what the files already hold)."""

    def restore(self, tree, writers, u: int):
        """The carry from a resume point's tree and the reopened files."""

    def note(self, carry, logged) -> str:
        """Extra progress text (training-episode returns)."""


def drive(loop: TrainingLoop, carry, evaluate, out_paths: Sequence[str], file_attrs: Sequence[dict],
          obs_dim: int, act_dim: int, fingerprint: str, log: Callable[[str], None] = print,
          resume_every: float | None = None, file_setup: Callable | None = None) -> dict:
    """Run ``loop`` from ``carry`` to the end of its schedule, writing one training file per
    leading-axis entry of the carry (``out_paths[j]`` with ``file_attrs[j]``).

    ``evaluate(params, start) -> (returns, lengths)`` batched over the leading axis, from
    ``loop.reference`` (the reference state s_I). With ``resume_every`` (seconds; 0 =
    after every chunk) a resume point is saved periodically and a job started again after
    being killed continues from the last one, bit-identical on the CPU; without it a failed
    job leaves no file behind. Returns a summary (final evaluation returns, wall time,
    rate, where it resumed from).
    """
    sched = loop.schedule
    us = sched.unit_steps
    resumable = resume_every is not None
    partials = [partial_path(p) for p in out_paths] if resumable else [None] * len(out_paths)
    rpath = resume_path(out_paths)
    done = 0
    writers = None
    if resumable:
        found = load_resume(rpath, loop.resume_tree(carry), fingerprint)
        if found is not None and all(os.path.exists(p) for p in partials):
            u0, tree = found
            opened = []
            try:
                for p, q in zip(out_paths, partials):
                    opened.append(TrainWriter.reopen(p, q, u0 * us, loop.replay_rows(u0),
                                                     sched.labels_up_to(u0)))
                carry = loop.restore(tree, opened, u0)
                writers, done = opened, u0
                log(f"[{loop.tag}] resuming from {sched.unit} {u0} (step {u0 * us}; {rpath})")
            except (OSError, KeyError, CheckpointError) as e:
                for w in opened:
                    w.f.close()
                log(f"[{loop.tag}] resume point unusable ({e}); starting over")
    if writers is None:
        writers = [TrainWriter(p, a, obs_dim, act_dim, partial=q)
                   for p, a, q in zip(out_paths, file_attrs, partials)]
        if file_setup is not None:
            for w in writers:
                file_setup(w)
    start = done
    last_save = t_start = time.time()
    last_eval = None
    try:
        for b in sched.bounds:
            if b <= done:
                continue
            carry, logged = loop.advance(carry, done, b)
            done = b
            loop.record(writers, logged)
            rets, lens = evaluate(loop.eval_params(carry), loop.reference)
            rets, lens = np.asarray(rets), np.asarray(lens)
            last_eval = rets
            for j, w in enumerate(writers):
                w.append_learning_curve(b * us, float(rets[j]), int(lens[j]))
            for label in sched.checkpoints.get(b, []):
                for j, w in enumerate(writers):
                    tree, ck_attrs = loop.checkpoint(carry, j, label, b)
                    w.write_checkpoint(label, tree, **ck_attrs)
            if resumable and b < sched.total and time.time() - last_save >= resume_every:
                for w in writers:
                    w.flush()
                save_resume(rpath, loop.resume_tree(carry), b, fingerprint)
                last_save = time.time()
            rate = (b - start) * us / max(time.time() - t_start, 1e-9)
            where = f"{100 * b / sched.total:.0f}%" + (f", {sched.unit} {b}/{sched.total}" if us != 1 else "")
            log(f"[{loop.tag}] step {b * us}/{sched.total * us} ({where}) {rate:.0f} {loop.rate_unit}, "
                f"ETA {format_eta((sched.total - b) * us / rate)}; eval return mean {rets.mean():.1f} "
                f"[min {rets.min():.1f}, max {rets.max():.1f}]{loop.note(carry, logged)}"
                + (" [checkpoint]" if b in sched.checkpoints else ""))
    except BaseException:
        for w in writers:
            if resumable:  # keep the partial files and the resume point for the next attempt
                w.f.close()
            else:
                w.abort()
        raise
    for w in writers:
        w.close()
    if resumable and os.path.exists(rpath):
        os.remove(rpath)
    wall = time.time() - t_start
    if last_eval is None:  # everything was already done by the resumed run
        last_eval = np.asarray(evaluate(loop.eval_params(carry), loop.reference)[0])
    return {
        "final_eval_returns": [float(x) for x in last_eval],
        "wall_seconds": wall,
        "steps_per_second_per_seed": (sched.total - start) * us / wall,
        "resumed_from": start * us,
    }


def check_schedule(seeds, checkpoint_steps, total_steps: int, out_paths) -> tuple[list, list]:
    """Sorted int seeds and checkpoint steps; errors for mismatched outputs or steps."""
    seeds = [int(s) for s in seeds]
    checkpoint_steps = sorted(int(s) for s in checkpoint_steps)
    if len(out_paths) != len(seeds):
        raise ValueError(f"{len(out_paths)} output paths for {len(seeds)} seeds")
    bad = [s for s in checkpoint_steps if not 0 < s <= total_steps]
    if bad:
        raise ValueError(f"checkpoint steps {bad} are outside (0, total_steps={total_steps}]")
    return seeds, checkpoint_steps


class LoopBase:
    """Defaults of a :class:`TrainingLoop`: chunks log nothing to the files, and a resume
    point is the whole carry."""

    tag = "train"
    rate_unit = "env-steps/s per seed"

    def record(self, writers, logged):
        pass

    def replay_rows(self, u):
        return None

    def resume_tree(self, carry):
        return carry

    def restore(self, tree, writers, u):
        return jax.tree_util.tree_map(jnp.asarray, tree)

    def note(self, carry, logged):
        return ""


@dataclasses.dataclass
class Setup:
    """What an agent's ``training_setup`` returns: its loop, the initial carry of all seeds,
    what else shapes the run (for the resume fingerprint), and an optional hook that adds
    attributes to each new training file."""

    loop: Any
    carry: Any
    fingerprint: Any
    file_setup: Callable | None = None


def train(agent, env, cfg, seeds: Sequence[int], total_steps: int, checkpoint_steps: Sequence[int],
          out_paths: Sequence[str], attrs: dict, max_chunk: int = 5000, log: Callable[[str], None] = print,
          resume_every: float | None = None, eval_horizon: int | None = None) -> dict:
    """E1: train ``len(seeds)`` agents of ``agent`` (a registered agent module) in one vmapped
    job and write one training file per seed, ``attrs`` plus the seed. ``max_chunk`` bounds
    a chunk (environment steps); with ``resume_every`` (seconds; 0 = after every chunk) a
    killed job started again continues from its last resume point, bit-identical on the CPU.
    The learning curve's deterministic return from s_I runs ``eval_horizon`` steps (default
    the episode length; Atari: the authors' 1000-step evaluation, not envpool's 27,000-step
    episodes). Returns :func:`drive`'s summary."""
    seeds, checkpoint_steps = check_schedule(seeds, checkpoint_steps, total_steps, out_paths)
    spec = env.spec
    setup = agent.training_setup(env, cfg, seeds, total_steps, checkpoint_steps, max_chunk, log)
    horizon = env.episode_length if eval_horizon is None else int(eval_horizon)
    evaluate = make_evaluator(env, agent.make_policy(spec.act_dim, cfg), horizon, batch_size=len(seeds))
    return drive(setup.loop, setup.carry, evaluate, out_paths, [{**attrs, "seed": s} for s in seeds], spec.obs_dim,
                 spec.act_dim, run_fingerprint(attrs, seeds, total_steps, checkpoint_steps, setup.fingerprint),
                 log=log, resume_every=resume_every, file_setup=setup.file_setup)


# --- off-policy agents (TD3, SAC) ------------------------------------------------------

class OffPolicyLoop(LoopBase):
    """TD3/SAC: units are environment steps; chunks log their transitions to /replay and a
    resume point holds everything but the replay buffer (rebuilt from the log)."""

    def __init__(self, agent, env, cfg, capacity: int, schedule: Schedule, chunk_steps: int):
        self.agent, self.cfg, self.capacity, self.schedule = agent, cfg, capacity, schedule
        self.chunk_fn = agent.make_train_chunk(env, cfg, capacity, chunk_steps)
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
        n_updates = max(0, u - self.cfg.learning_starts + 1)
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


def offpolicy_setup(agent, env, cfg, seeds, total_steps: int, checkpoint_steps, max_chunk: int, log) -> Setup:
    """The ``training_setup`` of an off-policy agent module (``init_carry``,
    ``make_train_chunk``, ``offpolicy_fns``, ``policy_params``): chunks of environment steps
    that divide every checkpoint step, a ring buffer of ``min(buffer_size, total_steps)``
    rows; the JAX-stepped loop (one jitted chunk) or, for a host-stepped suite, the host loop."""
    spec = env.spec
    capacity = min(cfg.buffer_size, total_steps)
    chunk = choose_chunk(total_steps, checkpoint_steps, max_chunk)
    log(f"[train] {spec.suite}/{spec.name} {agent.NAME} seeds={list(seeds)} steps={total_steps} "
        f"backend={spec.backend} chunk={chunk} checkpoints={list(checkpoint_steps)}")
    schedule = Schedule.every("step", total_steps, chunk, checkpoint_steps)
    carry = agent.init_carry(env, cfg, seeds, capacity)
    if is_host_stepped(env):
        loop = HostOffPolicyLoop(agent, env, cfg, capacity, schedule, seeds)
        return Setup(loop, loop.initial(carry), chunk)
    return Setup(OffPolicyLoop(agent, env, cfg, capacity, schedule, chunk), carry, chunk)


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

    def __init__(self, agent, env, cfg, capacity: int, schedule: Schedule, seeds):
        from .base.host import HostBatch

        self.agent, self.cfg, self.capacity, self.schedule = agent, cfg, capacity, schedule
        self.env = env
        self.reference = env.reference_state()
        self.batch = HostBatch(env.host_env_factory(seeds), len(seeds), workers=1)
        self.first, self.step = make_offpolicy_host_step(env.spec.act_dim, capacity, cfg.learning_starts,
                                                         *agent.offpolicy_fns(env.spec.act_dim, cfg))
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


# --- on-policy agents in host-stepped suites (PPO on Atari) -----------------------------

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
    """On-policy training (PPO) in a host-stepped suite, a :class:`TrainingLoop` for
    :func:`drive`. Units are iterations of ``num_envs x unroll_length`` environment steps
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

    def __init__(self, env, seeds, num_envs: int, unroll_length: int, schedule: Schedule, sample, learn,
                 policy_params, checkpoint_tree, checkpoint_attrs, workers: int = 1):
        from .base.host import HostBatch

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
        from .rollout import host_collect

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
