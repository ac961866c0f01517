"""A policy trained elsewhere (issue 24, "your own agent"): the JAX-free declaration of
the agent that wraps any JAX policy, ``apply(params, obs) -> action``, so that every
analysis of the paper runs on it.

Its post-update u(theta, X) is the paper's noise-based one (Sec. 4.1, Fig. 8): theta +
sigma * N(0, I) on the perturbed leaves of the parameters (``perturb``: a regular
expression over the leaves' path names; a PPO's observation-normaliser statistics are not
perturbed by ``perturb: "^1/"`` on a ``brax.training`` checkpoint). It needs no replay, no
optimizer state and no environment data, so any checkpoint of any algorithm qualifies.

Checkpoints come in through ``retland import`` (:mod:`retland.external`): the parameter
tree is stored leaf by leaf in a ``retland.train/1`` file whose ``agent`` attribute is
``external`` and whose ``algo`` is the researcher's own name for the agent. The
implementation is :mod:`retland.agents.external.agent`.
"""

from __future__ import annotations

import dataclasses

from ..common import HyperparamsMixin

NAME = "external"
UPDATE_KIND = "gaussian_perturbation"  # u(theta, X) = theta + sigma eps on the perturbed leaves
SUITES = ("brax", "dmc")  # continuous actions, JAX- or host-stepped rollouts
#: imported, never trained here (``retland import`` writes its training files)
TRAINS_IN_ENV = False
SUITE_DEFAULTS: dict = {}
ANNEAL_OVER_TRAINING = None
IMPLEMENTATION = f"{__name__}.agent"
#: the optional members it implements (``retland.agents.OPTIONAL``)
PROVIDES = ("perturbable",)


@dataclasses.dataclass(frozen=True)
class ExternalConfig(HyperparamsMixin):
    """How to run and perturb a policy trained elsewhere."""

    ALGO = "external"

    #: ``module:function``, called as ``function(params, obs, **apply_kwargs) -> action``
    #: (``retland.policies.brax_ppo`` and ``retland.policies.flax_mlp`` are ready-made)
    apply: str = ""
    apply_kwargs: dict = dataclasses.field(default_factory=dict)
    #: regular expression (``re.search``) over leaf path names ``a/b/c``: the leaves the
    #: post-update and the interpolation's perturbations change; "" = every floating leaf
    perturb: str = ""
    #: sigma of the Gaussian post-update (the paper's Sec. 4.1 scale)
    noise_scale: float = 3e-4
    #: the parameter tree: ((path, shape, dtype), ...), written by ``retland import``
    leaves: tuple = ()

    def __post_init__(self):
        leaves = tuple((str(p), tuple(int(n) for n in shape), str(dtype)) for p, shape, dtype in self.leaves)
        object.__setattr__(self, "leaves", leaves)
        if not isinstance(self.apply_kwargs, dict):
            raise ValueError(f"external apply_kwargs must be a mapping, got {self.apply_kwargs!r}")

    def __hash__(self):  # apply_kwargs is a dict: hash what identifies the policy function
        return hash((self.apply, self.perturb, self.noise_scale, self.leaves))


Config = ExternalConfig
