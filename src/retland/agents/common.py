"""Shared by the agents: the frozen hyperparameter config mixin and the
twin-critic step."""

from __future__ import annotations

import dataclasses



class HyperparamsMixin:
    """``from_dict`` (config overrides, unknown keys refused) and ``to_dict`` (JSON) for a
    frozen dataclass of hyperparameters; tuple fields round-trip through lists."""

    ALGO = "agent"

    @classmethod
    def from_dict(cls, d: dict | None):
        d = dict(d or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ValueError(f"unknown {cls.ALGO} hyperparameter(s) {unknown}; known: {sorted(fields)}")
        for k, v in d.items():
            if isinstance(v, list) and isinstance(fields[k].default, tuple):
                d[k] = tuple(v)
        return cls(**d)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def twin_critic_update(critic, critic_opt, target, batch, critic_apply, tx):
    """One step of ``tx`` on the clipped double-Q regression of TD3 and SAC: the summed MSE
    of both critics Q1(s, a), Q2(s, a) to the (fixed) ``target``. Returns (critic, opt)."""
    import jax
    import optax

    def loss(cp):
        q1, q2 = critic_apply(cp, batch.obs, batch.action)
        return ((q1 - target) ** 2 + (q2 - target) ** 2).mean()

    grads = jax.grad(loss)(critic)
    updates, opt = tx.update(grads, critic_opt, critic)
    return optax.apply_updates(critic, updates), opt
