"""PPO's optimizer: one Adam over the actor and critic parameters with global-norm gradient
clipping (paper Table 1), and CleanRL's linear learning-rate annealing (Atari).
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

from .config import PPOConfig


def optimizer(cfg: PPOConfig, max_grad_norm: float | None = None, post_update: bool = False
              ) -> optax.GradientTransformation:
    """One Adam over {"actor", "critic"} with global-norm gradient clipping (Table 1) at
    ``max_grad_norm`` (default ``cfg.max_grad_norm``; the optimizer state does not
    depend on it). With ``cfg.anneal_lr_steps = n > 0`` the learning rate is annealed as
    CleanRL's: constant within an iteration, ``lr * (1 - i * B / n)`` in iteration i (from
    0), where i is Adam's step count // (epochs * num_minibatches). ``post_update``: the
    steps of a post-update that continue a checkpoint's Adam state keep the rate of the
    checkpoint's last iteration (i - 1), as the authors' post-update did (their restored
    PyTorch optimizer kept the learning rate it was saved with; the next iteration's rate
    is 0 at the end of training)."""
    lr = cfg.learning_rate
    if cfg.anneal_lr_steps:
        lr = annealed_lr(cfg, post_update)
    return optax.chain(
        optax.clip_by_global_norm(cfg.max_grad_norm if max_grad_norm is None else max_grad_norm),
        optax.adam(lr, b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps),
    )


def checkpoint_learning_rate(cfg: PPOConfig, opt_state):
    """The learning rate a checkpoint's optimizer was saved with: its last iteration's
    (``annealed_lr(cfg, post_update=True)`` at the saved Adam step count; ``learning_rate``
    without annealing). ``opt_state``: :func:`optimizer`'s state (clip, then Adam)."""
    if not cfg.anneal_lr_steps:
        return jnp.asarray(cfg.learning_rate, jnp.float32)
    return annealed_lr(cfg, post_update=True)(opt_state[1][0].count)


def fresh_post_update_optimizer(cfg: PPOConfig, opt_state) -> optax.GradientTransformation:
    """The authors' Atari post-update optimizer (paper A.6, ``post_update_optimizer:
    fresh_adam_no_clip``): their ``init_ensemble_optim`` (``eval_policy/experiments/utils.py``
    l. 273-288) copies the checkpoint's param_groups (its learning rate, betas, eps) but looks
    the Adam moments up by parameter *name* in a state dict keyed by *integer*, so none is
    copied: a fresh Adam (step 0, zero moments) at the checkpoint's learning rate
    (:func:`checkpoint_learning_rate`, constant through the update), and no gradient clipping
    (``single_update_vmapped_agent`` l. 194 has the clip commented out)."""
    return optax.adam(checkpoint_learning_rate(cfg, opt_state), b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps)


def annealed_lr(cfg: PPOConfig, post_update: bool = False):
    """CleanRL's linear annealing as an optax schedule of Adam's step count (see
    :func:`optimizer`)."""
    steps_per_iter = cfg.epochs * cfg.num_minibatches
    frac_per_iter = cfg.batch_size / cfg.anneal_lr_steps
    back = 1 if post_update else 0

    def lr(count):
        i = jnp.maximum(count // steps_per_iter - back, 0)
        return cfg.learning_rate * jnp.maximum(1.0 - i * frac_per_iter, 0.0)
    return lr
