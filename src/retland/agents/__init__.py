"""Agent registry. An analysis never names an algorithm: it asks ``get_agent(name)``.

An agent module provides:

* ``NAME``, ``Config`` (frozen dataclass of its hyperparameters, ``from_dict``/``to_dict``),
  ``UPDATE_KIND`` (the post-update function u(theta, X), written into outputs);
* ``init(key, obs_dim, act_dim, cfg)`` -> agent state pytree (the checkpoint contents);
* ``make_policy(act_dim, cfg)`` -> ``apply(params, obs) -> action`` (deterministic);
* ``policy_params(state)`` -> the policy parameters theta;
* ``post_update(state, key, replay, lo, hi, cfg, env)`` -> updated theta (jittable,
  vmapped over ``key``; ``replay`` rows [lo, hi) are the buffer at the checkpoint;
  on-policy agents ignore them and collect fresh data in ``env``);
* ``train(env, cfg, seeds, total_steps, checkpoint_steps, out_paths, attrs, max_chunk=,
  log=, resume_every=)`` -> summary dict, writing one training file per seed (off-policy
  agents use ``training.train_offpolicy`` with their ``init_carry``/``make_train_chunk``).

Adding an algorithm = one module here plus one line in ``AGENTS``.
"""

from __future__ import annotations

import functools
from types import ModuleType

from ..training import train_offpolicy
from . import bc, ppo, sac, td3

td3.Config = td3.TD3Config
td3.UPDATE_KIND = "td3_actor_step"
td3.train = functools.partial(train_offpolicy, td3)

sac.Config = sac.SACConfig
sac.UPDATE_KIND = "sac_actor_step"
sac.train = functools.partial(train_offpolicy, sac)

ppo.Config = ppo.PPOConfig
ppo.UPDATE_KIND = "ppo_update"
# ppo.train is its own on-policy driver (agents/ppo.py), not train_offpolicy

bc.Config = bc.BCConfig
# bc trains from a teacher run's log, not in an environment: bc.train_students (E12)

AGENTS: dict[str, ModuleType] = {"td3": td3, "sac": sac, "ppo": ppo, "bc": bc}


def get_agent(name: str) -> ModuleType:
    try:
        return AGENTS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {sorted(AGENTS)}") from None
