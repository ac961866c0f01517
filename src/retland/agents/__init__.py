"""Agent registry. An analysis never names an algorithm: it asks ``get_agent(name)``.

An agent module provides:

* ``NAME``, ``Config`` (frozen dataclass of its hyperparameters, ``from_dict``/``to_dict``),
  ``UPDATE_KIND`` (the post-update function u(theta, X), written into outputs);
* ``init(key, obs_dim, act_dim, cfg)`` -> agent state pytree (the checkpoint contents);
* ``make_policy(act_dim, cfg)`` -> ``apply(params, obs) -> action`` (deterministic);
* ``policy_params(state)`` -> the policy parameters theta;
* ``post_update(state, key, replay, lo, hi, cfg, act_dim)`` -> updated theta;
* ``init_carry`` / ``make_train_chunk`` for the jitted off-policy training driver.

Adding an algorithm = one module here plus one line in ``AGENTS``.
"""

from __future__ import annotations

from types import ModuleType

from . import td3

td3.Config = td3.TD3Config
td3.UPDATE_KIND = "td3_actor_step"

AGENTS: dict[str, ModuleType] = {"td3": td3}


def get_agent(name: str) -> ModuleType:
    try:
        return AGENTS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {sorted(AGENTS)}") from None
