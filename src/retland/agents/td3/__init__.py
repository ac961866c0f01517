"""TD3 (Fujimoto et al. 2018) with the hyperparameters of the paper's Table 1: the JAX-free
declaration (name, suites, frozen config) that the registry and the config validation read.

The implementation (``init``, the post-update u(theta, X), the functions the off-policy
training loops run) is :mod:`retland.agents.td3.agent`, which ``agents.get_agent("td3")``
imports (JAX loads only then).
"""

from __future__ import annotations

import dataclasses

from ..common import HyperparamsMixin

NAME = "td3"
UPDATE_KIND = "td3_actor_step"  # u(theta, X) of the post-update files
SUITES = ("brax", "dmc")  # continuous actions; JAX- and host-stepped training loops (training.offpolicy)
TRAINS_IN_ENV = True
SUITE_DEFAULTS: dict = {}  # no per-suite hyperparameters
ANNEAL_OVER_TRAINING = None  # no learning-rate annealing
IMPLEMENTATION = f"{__name__}.agent"
PROVIDES = ("explore", "full_update", "replay_log")  # Algorithm 1 (E8) proposes its updates


@dataclasses.dataclass(frozen=True)
class TD3Config(HyperparamsMixin):
    """Table 1 (TD3). Every default is the paper's value."""

    ALGO = "TD3"

    hidden: tuple = (256, 256)
    batch_size: int = 256
    learning_rate: float = 3e-4
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adam_eps: float = 1.5e-4
    discount: float = 0.99
    tau: float = 0.005  # target EMA coefficient 0.995 = 1 - tau
    exploration_noise: float = 0.1
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    policy_delay: int = 2
    learning_starts: int = 10_000
    buffer_size: int = 1_000_000


Config = TD3Config

