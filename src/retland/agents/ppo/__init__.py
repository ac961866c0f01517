"""PPO (Schulman et al. 2017) with the hyperparameters of the paper's Table 1: the JAX-free
declaration (name, suites, per-suite defaults, frozen config) that the registry and the
config validation read.

The algorithm, its checkpoints, its post-update u(theta, X) and where each follows the
authors' code are described in docs/ppo.md. The implementation is
:mod:`retland.agents.ppo.agent` (the ``retland.agents.Agent`` protocol), which
``agents.get_agent("ppo")`` imports, over the pieces ``networks``, ``optim``, ``state``,
``losses``, ``collection`` and ``train_loop``.
"""

from __future__ import annotations

from .config import OBS_NORM_EPS, POST_UPDATE_PROTOCOLS, PPOConfig, check_env  # noqa: F401

NAME = "ppo"
UPDATE_KIND = "ppo_update"  # u(theta, X) of the post-update files
SUITES = ("brax", "atari")  # Brax: stepped inside JAX; Atari: on the host (training.onpolicy, host_update)
TRAINS_IN_ENV = True
IMPLEMENTATION = f"{__name__}.agent"
PROVIDES = ()  # no optional members (retland.agents.OPTIONAL); no replay log

#: ``anneal_lr_steps`` value meaning "over the whole training run" (CleanRL's annealing;
#: ``config.agent_overrides`` replaces it by the run's ``total_steps``)
ANNEAL_OVER_TRAINING = -1

#: Hyperparameters per suite that replace Table 1's defaults before the config's overrides
#: (``config.agent_overrides``): on Atari, CleanRL's ``ppo_atari`` as the authors ran it
#: (paper A.6): Nature CNN, 8 envs x 128 steps, 4 minibatches, 4 epochs, lr 2.5e-4 annealed
#: to 0 over training, clip 0.1 (value loss clipped too), entropy 0.01, value 0.5, grad
#: norm 0.5, no observation normaliser; post-update as the authors' atari_policy_variance.py
#: (A.6): one full PPO update of a fresh Adam without gradient clipping, on a slice of one
#: joint 8 x 128-per-sample collection from a pool of environments reset once per job
#: (``post_update_protocol``, ``post_update_optimizer``, ``post_update_data``).
SUITE_DEFAULTS = {
    "atari": dict(actions="discrete", torso="nature_cnn", normalize_observations=False, num_envs=8,
                  unroll_length=128, num_minibatches=4, epochs=4, learning_rate=2.5e-4, clip_coef=0.1,
                  clip_value_loss=True, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, discount=0.99,
                  gae_lambda=0.95, anneal_lr_steps=ANNEAL_OVER_TRAINING, post_update_protocol="authors_atari",
                  post_update_optimizer="fresh_adam_no_clip", post_update_data="pool"),
}

Config = PPOConfig

