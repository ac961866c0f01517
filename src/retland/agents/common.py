"""Shared by every agent's frozen hyperparameter config."""

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
