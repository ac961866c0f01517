"""SAC (Haarnoja et al. 2018, the learned-temperature version of arXiv:1812.05905) with the
hyperparameters of the paper's Table 1: the JAX-free declaration (name, suites, frozen
config) that the registry and the config validation read.

The implementation (``init``, the post-update u(theta, X), the functions the off-policy
training loops run; the algorithm's details) is :mod:`retland.agents.sac.agent`, which
``agents.get_agent("sac")`` imports (JAX loads only then).
"""

from __future__ import annotations

import dataclasses

from ..common import HyperparamsMixin

NAME = "sac"
UPDATE_KIND = "sac_actor_step"  # u(theta, X) of the post-update files
SUITES = ("brax", "dmc")  # continuous actions; JAX- and host-stepped training loops (training.offpolicy)
TRAINS_IN_ENV = True
SUITE_DEFAULTS: dict = {}  # no per-suite hyperparameters
ANNEAL_OVER_TRAINING = None  # no learning-rate annealing
IMPLEMENTATION = f"{__name__}.agent"
PROVIDES = ("replay_log",)  # optional members it implements (retland.agents.OPTIONAL)


@dataclasses.dataclass(frozen=True)
class SACConfig(HyperparamsMixin):
    """Table 1 (SAC). Every default is the paper's value (``target_entropy``: its code's)."""

    ALGO = "SAC"

    hidden: tuple = (256, 256)
    batch_size: int = 256
    learning_rate: float = 3e-4  # actor, critics and temperature
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adam_eps: float = 1.5e-4
    discount: float = 0.99
    tau: float = 0.005  # target EMA coefficient 0.995 = 1 - tau, every update
    init_temperature: float = 1.0
    target_entropy: float | None = None  # None: -act_dim / 2 (the paper's jaxrl SACLearner)
    learning_starts: int = 10_000
    buffer_size: int = 1_000_000

    def entropy_target(self, act_dim: int) -> float:
        return -act_dim / 2.0 if self.target_entropy is None else float(self.target_entropy)


Config = SACConfig

