"""Behaviour cloning of a TD3 policy (E12, paper A.7, Fig. 22): the JAX-free declaration
(name, suites, frozen config) that the registry and the config validation read.

The implementation (the student, its training on a TD3 run's log, the post-update) is
:mod:`retland.agents.bc.agent`, which ``agents.get_agent("bc")`` imports (JAX loads only
then).
"""

from __future__ import annotations

import dataclasses

from ..common import HyperparamsMixin

NAME = "bc"
UPDATE_KIND = "bc_mse_step"
SUITES = ("brax",)  # E12 clones the Brax TD3 runs
#: bc is not trained in an environment: ``train_students`` clones a TD3 run's checkpoints
TRAINS_IN_ENV = False
SUITE_DEFAULTS: dict = {}  # no per-suite hyperparameters
ANNEAL_OVER_TRAINING = None  # no "whole run" marker (the cosine decay spans ``total_steps``)
IMPLEMENTATION = f"{__name__}.agent"
PROVIDES = ()  # no optional members (retland.agents.OPTIONAL)


@dataclasses.dataclass(frozen=True)
class BCConfig(HyperparamsMixin):
    """The authors' behaviour cloning (A.7, ``train_bc.py``). ``hidden`` is the teacher's."""

    ALGO = "BC"

    hidden: tuple = (256, 256)
    dropout: float = 0.1
    learning_rate: float = 1e-3
    batch_size: int = 256
    total_steps: int = 1_000_000  # the cosine decay's horizon: the student's whole run


Config = BCConfig

