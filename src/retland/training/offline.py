"""Offline training on a fixed data set (behaviour cloning, E12): gradient steps of a stack of
learners (leading axis) on rows of one shared replay log, a
:class:`~retland.training.driver.TrainingLoop`.

Units are gradient steps; the files log no replay of their own (the data are another run's
log, named by the file's ``replay_file`` attribute). The agent hands the loop its gradient
step of one learner and its policy parameters.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .driver import LoopBase, Schedule


class OfflineCarry(NamedTuple):
    """Per-learner training state (leading axis = learner)."""

    state: Any
    hi: jax.Array  # rows [0, hi) of the replay log are the learner's data
    key: jax.Array
    loss: jax.Array  # mean training loss of the last chunk (progress)


def make_offline_chunk(step: Callable):
    """``run(carry[L], replay, n) -> carry[L]``: ``n`` gradient steps of every learner
    (vmapped over learners; the replay log is shared), jitted. ``step(state, key, replay, hi)
    -> (state, loss)`` is one gradient step of one learner on rows [0, hi); the carry's
    ``loss`` is its mean over the ``n`` steps."""

    def one(c: OfflineCarry, replay):
        key, k = jax.random.split(c.key)
        state, loss = step(c.state, k, replay, c.hi)
        return OfflineCarry(state, c.hi, key, loss)

    batched = jax.vmap(one, in_axes=(0, None))

    def run(carry: OfflineCarry, replay, n):
        def body(i, c):
            c2 = batched(c, replay)
            return c2._replace(loss=c.loss + c2.loss)
        c = jax.lax.fori_loop(0, n, body, carry._replace(loss=jnp.zeros_like(carry.loss)))
        return c._replace(loss=c.loss / jnp.maximum(n, 1))

    return jax.jit(run, donate_argnums=(0,))


class OfflineLoop(LoopBase):
    """Gradient steps on a fixed replay log (``replay``): one file per learner, no replay of
    its own; a checkpoint holds the learner's state with ``replay_lo = 0``, ``replay_hi`` =
    its ``hi`` and ``n_updates`` = the gradient steps so far. ``tag``, ``rate_unit`` and
    ``loss_name`` word the progress log."""

    def __init__(self, env, schedule: Schedule, replay, *, step: Callable, policy_params: Callable,
                 tag: str = "offline_train", rate_unit: str = "gradient steps/s per learner", loss_name: str = ""):
        self.replay, self.schedule = replay, schedule
        self.run = make_offline_chunk(step)
        self.policy_params = policy_params
        self.reference = env.reference_state()
        self.tag, self.rate_unit, self.loss_name = tag, rate_unit, loss_name

    def advance(self, carry, u0, u1):
        return self.run(carry, self.replay, u1 - u0), None

    def eval_params(self, carry):
        return self.policy_params(carry.state)

    def checkpoint(self, carry, j, label, u):
        state = jax.tree_util.tree_map(lambda x: np.asarray(x[j]), carry.state)
        return state, {"replay_lo": 0, "replay_hi": int(carry.hi[j]), "n_updates": u}

    def note(self, carry, logged):
        loss = np.asarray(carry.loss)
        name = f"{self.loss_name} loss" if self.loss_name else "loss"
        return f", {name} {loss.mean():.2e} [min {loss.min():.2e}, max {loss.max():.2e}]"
