"""Behaviour cloning of a TD3 policy (E12, paper A.7, Fig. 22): the agent
(``retland.agents.Agent``; its declaration and frozen config are the package,
:mod:`retland.agents.bc`).

A student clones one teacher: a TD3 checkpoint theta_K of some run. Its data are the
observations that run had logged up to the teacher's checkpoint (rows [0, K) of the
run's replay log), each labelled with the teacher's deterministic action pi_K(s) instead
of the logged exploratory action (the authors' ``train_bc.py`` relabels every sampled
minibatch with the teacher; so does :func:`relabelled_batch`).

Student and training follow the authors' code: the TD3 actor architecture (same hidden
widths as the teacher, tanh output) with dropout 0.1 after every hidden layer (off at
evaluation), the MSE between student and teacher actions, Adam with learning rate 1e-3
decayed by a cosine over the whole run (``total_steps`` gradient steps, paper 10^6),
minibatches of 256; checkpoints during training (paper 50k, 150k, ..., 950k).

The post-update u(theta, X) of a student (docs/design.md, section 1): one more
gradient step of the same objective on a fresh relabelled minibatch X, with a fresh
dropout mask, continuing the student's optimizer state (so the step size is the cosine
schedule's value at the checkpoint). The checkpoint holds the student, its optimizer
state and the teacher's parameters, so it is self-contained.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import (ANNEAL_OVER_TRAINING, NAME, SUITE_DEFAULTS, SUITES, TRAINS_IN_ENV, UPDATE_KIND,  # noqa: F401
               BCConfig, Config)
from ...base.networks import DeterministicActor
from ...rollout import make_batched_rollout
from ...training.driver import Schedule, check_schedule, choose_chunk, drive, run_fingerprint
from ...training.offline import OfflineCarry, OfflineLoop


class BCState(NamedTuple):
    student: Any
    opt: Any
    teacher: Any  # the cloned TD3 policy's parameters (never updated)


def _net(cfg: BCConfig, act_dim: int) -> DeterministicActor:
    return DeterministicActor(tuple(cfg.hidden), act_dim, cfg.dropout)


def optimizer(cfg: BCConfig) -> optax.GradientTransformation:
    return optax.adam(optax.cosine_decay_schedule(cfg.learning_rate, cfg.total_steps))


def init(key: jax.Array, obs_dim: int, act_dim: int, cfg: BCConfig, teacher=None) -> BCState:
    """A fresh student; ``teacher``: the cloned policy's parameters (default: a random
    network of the same shape, for templates)."""
    ks, kt = jax.random.split(key)
    net = _net(cfg, act_dim)
    student = net.init(ks, jnp.zeros((1, obs_dim)))
    if teacher is None:
        teacher = net.init(kt, jnp.zeros((1, obs_dim)))
    return BCState(student, optimizer(cfg).init(student), teacher)


def policy_params(state: BCState):
    return state.student


def make_policy(act_dim: int, cfg: BCConfig):
    """The student's deterministic policy (dropout off)."""
    return _net(cfg, act_dim).apply


def relabelled_batch(state: BCState, replay, key: jax.Array, lo, hi, cfg: BCConfig, act_dim: int):
    """(observations, teacher actions): a uniform minibatch of the logged observations in
    rows [lo, hi) of ``replay``, labelled with the teacher's deterministic actions."""
    idx = jax.random.randint(key, (cfg.batch_size,), lo, hi)
    obs = replay.obs[idx]
    return obs, jax.lax.stop_gradient(_net(cfg, act_dim).apply(state.teacher, obs))


def bc_loss(student, obs, target, key, cfg: BCConfig, act_dim: int):
    """Mean squared error between the student's actions (dropout on) and the teacher's."""
    pred = _net(cfg, act_dim).apply(student, obs, train=True, rngs={"dropout": key})
    return jnp.mean((pred - target) ** 2)


def bc_step(state: BCState, key: jax.Array, replay, lo, hi, cfg: BCConfig, act_dim: int):
    """One Adam step of the student on a fresh relabelled minibatch: (state, loss)."""
    kb, kd = jax.random.split(key)
    obs, target = relabelled_batch(state, replay, kb, lo, hi, cfg, act_dim)
    loss, grads = jax.value_and_grad(bc_loss)(state.student, obs, target, kd, cfg, act_dim)
    updates, opt = optimizer(cfg).update(grads, state.opt, state.student)
    return state._replace(student=optax.apply_updates(state.student, updates), opt=opt), loss


def post_update(state: BCState, key: jax.Array, replay, lo, hi, cfg: BCConfig, env):
    """u(theta, X): one more BC gradient step (fresh minibatch of rows [lo, hi) = [0, K),
    fresh dropout mask, the student's own optimizer state). Returns the student."""
    return bc_step(state, key, replay, lo, hi, cfg, env.spec.act_dim)[0].student


# --- training (the offline loop of training.offline, on the one driver) -----------------

#: a student's training carry (``state``: its BCState; ``hi``: the teacher's checkpoint step K,
#: rows [0, K) of the log are its data)
Carry = OfflineCarry


def init_carry(keys: jax.Array, teachers, his, obs_dim: int, act_dim: int, cfg: BCConfig) -> OfflineCarry:
    """Students of a stack of teachers (leading axis = teacher)."""

    def one(key, teacher, hi):
        k_init, key = jax.random.split(key)
        return OfflineCarry(init(k_init, obs_dim, act_dim, cfg, teacher), jnp.asarray(hi, jnp.int32), key,
                            jnp.zeros((), jnp.float32))

    return jax.jit(jax.vmap(one))(keys, teachers, jnp.asarray(his, jnp.int32))


def train_students(env, cfg: BCConfig, teachers, teacher_steps, *, keys, replay, checkpoint_steps,
                   out_paths, file_attrs, max_chunk: int = 10_000, log=print,
                   resume_every: float | None = None) -> dict:
    """Clone a stack of teachers (leading axis) in one vmapped job: student j learns from
    rows [0, teacher_steps[j]) of ``replay`` for ``cfg.total_steps`` gradient steps and is
    written to ``out_paths[j]`` (a training file, format retland.train/1, with checkpoints
    at ``checkpoint_steps``). The loop is ``training.offline.OfflineLoop`` (units: gradient
    steps) over :func:`bc_step`."""
    total = int(cfg.total_steps)
    _, checkpoint_steps = check_schedule(teacher_steps, checkpoint_steps, total, out_paths)
    n_rows = int(replay.obs.shape[0])
    short = [k for k in teacher_steps if not 0 < int(k) <= n_rows]
    if short:
        raise ValueError(f"teacher steps {short} are outside the replay log's {n_rows} rows")
    chunk = choose_chunk(total, checkpoint_steps, max_chunk)
    spec = env.spec
    act_dim = spec.act_dim
    log(f"[bc_train] {spec.suite}/{spec.name}: {len(out_paths)} students of teachers at steps "
        f"{[int(k) for k in teacher_steps]}, {total} gradient steps (batch {cfg.batch_size}, lr "
        f"{cfg.learning_rate} cosine, dropout {cfg.dropout}), chunk={chunk}, checkpoints={checkpoint_steps}")
    loop = OfflineLoop(env, Schedule.every("gradient step", total, chunk, checkpoint_steps), replay,
                       step=lambda state, key, data, hi: bc_step(state, key, data, 0, hi, cfg, act_dim),
                       policy_params=policy_params, tag="bc_train", rate_unit="gradient steps/s per student",
                       loss_name="BC")
    carry = init_carry(keys, teachers, teacher_steps, spec.obs_dim, act_dim, cfg)
    evaluate = make_batched_rollout(env, make_policy(act_dim, cfg), env.episode_length)
    fingerprint = run_fingerprint(file_attrs[0], [int(k) for k in teacher_steps], total, checkpoint_steps, chunk)
    return drive(loop, carry, evaluate, out_paths, file_attrs=file_attrs, obs_dim=spec.obs_dim, act_dim=act_dim,
                 fingerprint=fingerprint, log=log, resume_every=resume_every)
