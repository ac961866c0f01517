"""What the analyses take from a training file: the agent module, its config and the
environment, as one object ``src``.

Every builder of a simulator (``post_update.make_estimator``, ``post_update_returns``,
``interpolation.make_path_evaluator``, ``landscape.make_update``,
``landscape.make_landscape_evaluator``, ``failures.make_resimulator``,
``start_states.make_start_state_estimator``, ``rejection.make_propose``) takes it first.
A job passes the training file it opened (``retland.jobs.sources.CheckpointSource``, whose
``agent``, ``cfg`` and ``env`` are these three); anything else (a benchmark, a test) builds a
:class:`Source`.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Source(NamedTuple):
    """An agent module (``retland.agents``), its ``Config`` and an environment."""

    agent: Any
    env: Any
    cfg: Any


def policy_of(src) -> Any:
    """``src.agent.make_policy(act_dim, cfg)``: the deterministic policy of any ``src``
    (a :class:`Source` or a training file opened for analysis)."""
    return src.agent.make_policy(src.env.spec.act_dim, src.cfg)
