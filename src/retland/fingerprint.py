"""The portability fingerprint (docs/numbers-that-travel.md): a tiny TD3 run and one
post-update distribution whose checksums ``tests/test_portability.py`` pins as literals.

``python -m retland.fingerprint`` prints them as JSON (the last line of standard output).
A tool on top of the package (it trains through ``agents`` and ``training`` and reads the
file back through ``jobs.sources``); the instruction-set setting it runs under is
:mod:`retland.portability`, put in place by :mod:`retland.runtime`.
"""

from __future__ import annotations

import hashlib
import json
import os

from .portability import machine

#: the tiny TD3 run whose bits the portability test pins: hopper (spring, no termination),
#: 32x32 networks, 2,000 environment steps (1,500 updates), then N = 16 post-update returns
FINGERPRINT = dict(env="hopper", hidden=(32, 32), batch_size=64, learning_starts=500, total_steps=2000,
                   episode_length=200, n_samples=16, horizon=200, seed=0, sample_seed=0)


def tree_sha256(tree) -> str:
    """sha256 of every leaf's bytes (little-endian, in tree order), shapes and dtypes included."""
    import jax
    import numpy as np

    h = hashlib.sha256()
    for x in jax.tree_util.tree_leaves(tree):
        a = np.ascontiguousarray(np.asarray(x))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def fingerprint(out_dir: str, **overrides) -> dict:
    """Train :data:`FINGERPRINT` (a tiny TD3 run), estimate one post-update distribution of
    its last checkpoint, and return the checksums of its parameters and returns, a few
    statistics and the machine. Same bits on every x86-64 CPU under the pinned ISA."""
    from .runtime import setup_jax

    jax = setup_jax()
    import numpy as np

    from . import stats as S
    from .agents import get_agent
    from .analyses.post_update import post_update_returns
    from .base.envs import make_env
    from .jobs.sources import CheckpointSource, sample_key
    from .training import train

    p = {**FINGERPRINT, **overrides}
    agent = get_agent("td3")
    cfg = agent.Config(hidden=tuple(p["hidden"]), batch_size=p["batch_size"], learning_starts=p["learning_starts"])
    env_kwargs = {"terminate_when_unhealthy": False}
    env = make_env(p["env"], "spring", p["episode_length"], env_kwargs)
    path = os.path.join(out_dir, "seed0.h5")
    attrs = {"suite": "brax", "env": p["env"], "algo": "td3", "backend": "spring",
             "episode_length": p["episode_length"], "env_kwargs": json.dumps(env_kwargs),
             "total_steps": p["total_steps"], "checkpoint_steps": [p["total_steps"]],
             "agent_config": cfg.to_dict()}
    summary = train(agent, env, cfg, [p["seed"]], total_steps=p["total_steps"], checkpoint_steps=[p["total_steps"]],
                    out_paths=[path], attrs=attrs, max_chunk=p["total_steps"], log=lambda m: None)
    src = CheckpointSource(path)
    state, (lo, hi) = src.checkpoint(p["total_steps"])
    returns, _ = post_update_returns(src, state, sample_key(p["sample_seed"], p["seed"], p["total_steps"]),
                                     replay=src.replay, lo=lo, hi=hi, n_samples=p["n_samples"],
                                     horizon=p["horizon"], chunk_size=p["n_samples"], log=lambda m: None)
    return {
        "params_sha256": tree_sha256(agent.policy_params(state)),
        "state_sha256": tree_sha256(state),
        "returns_sha256": hashlib.sha256(np.asarray(returns, "<f8").tobytes()).hexdigest(),
        "final_return": float(summary["final_eval_returns"][0]),
        "mean": float(S.mean(returns)),
        "std": float(S.std(returns)),
        "ltp": float(S.ltp(returns)),
        "min": float(np.min(returns)),
        "machine": machine(),
    }


def main(argv=None) -> None:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description="The portability fingerprint: a tiny TD3 run and one post-update "
                                             "distribution; prints checksums and statistics as JSON (the last "
                                             "line of standard output).")
    ap.add_argument("--steps", type=int, default=FINGERPRINT["total_steps"])
    ap.add_argument("--hidden", type=int, nargs="+", default=list(FINGERPRINT["hidden"]))
    args = ap.parse_args(argv)
    from .runtime import add_xla_cpu_flags

    add_xla_cpu_flags()
    with tempfile.TemporaryDirectory() as d:
        out = fingerprint(d, total_steps=args.steps, hidden=tuple(args.hidden))
    # one line, last: imports (brax, mujoco) may print to stdout before it
    print(json.dumps(out, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
