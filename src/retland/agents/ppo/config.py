"""PPO's frozen hyperparameters (paper Table 1; see docs/ppo.md) and the check of a config
against an environment's action space. JAX-free (the registry and the config validation
import it).
"""

from __future__ import annotations

import dataclasses

from ..common import HyperparamsMixin


OBS_NORM_EPS = 1e-8


POST_UPDATE_PROTOCOLS = ("authors", "full_update", "authors_atari")
#: the optimizer of an ``authors_atari`` post-update (paper A.6): the authors' (a fresh Adam at
#: the checkpoint's learning rate and eps, no gradient clipping: ``utils.py`` l. 194 and
#: ``init_ensemble_optim`` l. 273-288) or the checkpoint's Adam state continued, clipped
POST_UPDATE_OPTIMIZERS = ("fresh_adam_no_clip", "continue")
#: where an ``authors_atari`` post-update's data come from: the authors' one pool of
#: environments per job (``atari_policy_variance.py`` l. 250-331), or the checkpoint's saved
#: training environments restored for every sample
POST_UPDATE_DATA = ("pool", "saved_envs")


@dataclasses.dataclass(frozen=True)
class PPOConfig(HyperparamsMixin):
    """Table 1 (PPO). Every default is the paper's value (or the authors' code where
    Table 1 is silent: ent_coef, advantage normalisation, no value clipping). The Atari
    protocol (A.6, CleanRL's ppo_atari) sets ``actions``, ``torso``, ``clip_value_loss`` and
    ``anneal_lr_steps`` and its own values of the shared ones."""

    ALGO = "PPO"

    hidden: tuple = (256, 256)
    num_envs: int = 2048  # "Parallel Envs"
    unroll_length: int = 16  # "Steps to update"
    num_minibatches: int = 2
    epochs: int = 4  # "Num. Updates"
    learning_rate: float = 0.0026
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adam_eps: float = 1e-5
    discount: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    vf_coef: float = 2.0
    ent_coef: float = 0.0
    max_grad_norm: float = 1.0
    normalize_advantages: bool = True
    normalize_observations: bool = True
    obs_clip: float = 10.0
    # discrete actions and the Atari protocol (CleanRL's ppo_atari; networks docstring):
    actions: str = "continuous"  # or "discrete" (an action is an index; Atari)
    torso: str = "mlp"  # or "nature_cnn" (discrete only; shared by the policy and value heads)
    cnn_channels: tuple = (32, 64, 64)  # nature_cnn: output channels of its 3 convolutions
    cnn_dense: int = 512  # nature_cnn: width of its dense layer
    clip_value_loss: bool = False  # CleanRL's clipped value loss (clip_coef around the old values)
    anneal_lr_steps: int = 0  # > 0: lr annealed linearly to 0 over this many env steps (per seed)
    # post-update u(theta, X) (docs/ppo.md):
    post_update_protocol: str = "authors"  # or "full_update" (the former u, fresh resets), or
    # "authors_atari" (the authors' Atari u: one full PPO update continuing the saved envs)
    post_update_minibatch: str = "first"  # authors: "first" (their rows) or "random"
    post_update_max_grad_norm: float | None = None  # authors: None = max_grad_norm; theirs 0.1
    post_update_grad_steps: int = 0  # full updates: 0 = all epochs x num_minibatches steps
    # authors_atari only (docs/appendix-suites.md; the Atari suite defaults are the authors'):
    post_update_optimizer: str = "continue"  # or "fresh_adam_no_clip" (the authors')
    post_update_data: str = "saved_envs"  # or "pool" (the authors')

    def __post_init__(self):
        for k in ("num_envs", "unroll_length", "num_minibatches", "epochs"):
            if int(getattr(self, k)) < 1:
                raise ValueError(f"PPO {k} must be >= 1, got {getattr(self, k)}")
        if self.batch_size % self.num_minibatches:
            raise ValueError(f"PPO batch num_envs*unroll_length={self.batch_size} is not divisible by "
                             f"num_minibatches={self.num_minibatches}")
        if self.actions not in ("continuous", "discrete"):
            raise ValueError(f"PPO actions must be 'continuous' or 'discrete', got {self.actions!r}")
        if self.torso not in ("mlp", "nature_cnn"):
            raise ValueError(f"PPO torso must be 'mlp' or 'nature_cnn', got {self.torso!r}")
        if self.torso == "nature_cnn" and self.actions != "discrete":
            raise ValueError("PPO torso 'nature_cnn' (CleanRL's Atari network) needs actions 'discrete'")
        if self.torso == "nature_cnn" and self.normalize_observations:
            raise ValueError("PPO torso 'nature_cnn' scales its uint8 frames by 1/255 itself: set "
                             "normalize_observations: false")
        if len(self.cnn_channels) != 3 or min(int(c) for c in self.cnn_channels) < 1 or int(self.cnn_dense) < 1:
            raise ValueError(f"PPO cnn_channels must be 3 positive widths and cnn_dense >= 1, got "
                             f"{list(self.cnn_channels)} / {self.cnn_dense}")
        if self.anneal_lr_steps < 0:
            raise ValueError(f"PPO anneal_lr_steps must be >= 0, got {self.anneal_lr_steps}")
        if self.post_update_protocol not in POST_UPDATE_PROTOCOLS:
            raise ValueError(f"post_update_protocol must be one of {POST_UPDATE_PROTOCOLS}, "
                             f"got {self.post_update_protocol!r}")
        if self.post_update_minibatch not in ("first", "random"):
            raise ValueError(f"post_update_minibatch must be 'first' or 'random', got {self.post_update_minibatch!r}")
        if self.post_update_max_grad_norm is not None and not self.post_update_max_grad_norm > 0:
            raise ValueError(f"post_update_max_grad_norm must be > 0 or None, got {self.post_update_max_grad_norm}")
        if not 0 <= self.post_update_grad_steps <= self.epochs * self.num_minibatches:
            raise ValueError(f"post_update_grad_steps must be in [0, epochs*num_minibatches], "
                             f"got {self.post_update_grad_steps}")
        if self.post_update_optimizer not in POST_UPDATE_OPTIMIZERS:
            raise ValueError(f"post_update_optimizer must be one of {POST_UPDATE_OPTIMIZERS}, "
                             f"got {self.post_update_optimizer!r}")
        if self.post_update_data not in POST_UPDATE_DATA:
            raise ValueError(f"post_update_data must be one of {POST_UPDATE_DATA}, got {self.post_update_data!r}")
        for k, default in (("post_update_optimizer", "continue"), ("post_update_data", "saved_envs")):
            if getattr(self, k) != default and self.post_update_protocol != "authors_atari":
                raise ValueError(f"{k}={getattr(self, k)!r} is the authors' Atari post-update (A.6): it needs "
                                 f"post_update_protocol 'authors_atari' (or {k}: {default})")
        if self.post_update_protocol == "authors" and self.post_update_grad_steps > 1:
            raise ValueError(f"post_update_grad_steps={self.post_update_grad_steps} needs post_update_protocol "
                             f"'full_update' or 'authors_atari' (the authors' Brax post-update is one Adam step)")

    @property
    def batch_size(self) -> int:
        """Environment steps per iteration and seed (B)."""
        return self.num_envs * self.unroll_length

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches


def check_env(env, cfg: PPOConfig) -> None:
    """Refuse a config whose action space is not the environment's (an Atari game has
    ``discrete_actions``: PPO there needs ``actions: discrete``)."""
    discrete = bool(getattr(env, "discrete_actions", False))
    if discrete != (cfg.actions == "discrete"):
        want = "discrete" if discrete else "continuous"
        raise ValueError(f"{env.spec.suite}/{env.spec.name} has {want} actions: PPO needs actions: {want}, "
                         f"got {cfg.actions!r}")
