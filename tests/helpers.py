"""Helpers shared by the tests (imported as ``helpers``: tests/ is on pytest's pythonpath)."""

from types import SimpleNamespace

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from retland.base.replay import Transition

#: the small observation/action sizes of the unit tests of TD3 and SAC, and the one thing
#: their post_update reads of an environment
OBS, ACT = 5, 2
ENV = SimpleNamespace(spec=SimpleNamespace(obs_dim=OBS, act_dim=ACT))


def tree_equal(a, b) -> bool:
    """Same structure size and bit-identical leaves."""
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb))


def make_replay(n: int, obs_dim: int = OBS, act_dim: int = ACT, key: int = 0) -> Transition:
    """Random transitions whose reward is the row index (to check which rows were sampled)."""
    k = jax.random.split(jax.random.PRNGKey(key), 3)
    return Transition(
        jax.random.normal(k[0], (n, obs_dim)),
        jax.random.uniform(k[1], (n, act_dim), minval=-1, maxval=1),
        jnp.arange(n, dtype=jnp.float32),
        jax.random.normal(k[2], (n, obs_dim)),
        jnp.zeros(n),
    )


def tiny_offpolicy_run(d, algo: str, name: str = "seed") -> dict:
    """A tiny real run of ``algo`` (td3 or sac) on Brax hopper: 2 seeds vmapped, 200 steps,
    checkpoints at 100 and 200, files ``d/<name>0.h5`` and ``d/<name>1.h5``."""
    from retland.agents import get_agent
    from retland.base.envs import make_env
    from retland.training import train

    agent = get_agent(algo)
    cfg = agent.Config(hidden=(16, 16), batch_size=32, learning_starts=60)
    env = make_env("hopper", "spring", episode_length=50)
    paths = [str(d / f"{name}{s}.h5") for s in (0, 1)]
    attrs = {"suite": "brax", "env": "hopper", "algo": algo, "backend": "spring", "episode_length": 50,
             "total_steps": 200, "checkpoint_steps": [100, 200], "agent_config": cfg.to_dict()}
    summary = train(agent, env, cfg, [0, 1], total_steps=200, checkpoint_steps=[100, 200], out_paths=paths, attrs=attrs,
                    max_chunk=100, log=lambda m: None)
    return {"agent": agent, "cfg": cfg, "env": env, "paths": paths, "summary": summary, "attrs": attrs, "dir": d}


def datasets(path) -> dict:
    """Every dataset of an HDF5 file, by name."""
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def assert_same_training_files(ref_dir, other_dir, seeds=(0, 1)) -> None:
    """seed{s}.h5 of both folders hold the same datasets with identical values."""
    for seed in seeds:
        a, b = datasets(f"{ref_dir}/seed{seed}.h5"), datasets(f"{other_dir}/seed{seed}.h5")
        assert sorted(a) == sorted(b)
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def warmed_up(agent, cfg, make_step, n_rows: int = 200, n_updates: int = 3):
    """The shared set-up of the TD3 and SAC tests: a fresh ``agent`` state moved ``n_updates``
    updates away from initialisation (so its Adam moments are non-trivial) on a replay of
    ``n_rows`` made-up transitions. ``make_step(replay)`` gives ``step(state, key)``.
    Returns ``(cfg, state, replay)``."""
    state = agent.init(jax.random.PRNGKey(0), OBS, ACT, cfg)
    replay = make_replay(n_rows)
    step = make_step(replay)
    for i in range(n_updates):
        state = step(state, jax.random.PRNGKey(10 + i))
    return cfg, state, replay


# E8/E9 (tests/analyses/test_rejection.py, test_claims.py): the Algorithm 1 table of rejection_log
LOGGED_BIAS = {"rejection": -0.05, "td3": 0.02}  # last logged LTP minus the fresh final estimate


def rejection_log(final: bool = True):
    """Algorithm 1 table (``rejection.csv`` contract), one run per env and method, two
    proposals: iterations 0-2 with ``final`` False, then (``final``) one row per (run, method)
    with ``final`` True, ``iteration`` = 2 (n_iterations), ``accepted`` empty and the fresh
    end LTP. The last *logged* LTP differs from that fresh estimate by ``LOGGED_BIAS`` (for
    ``rejection`` the winner of its own comparison, biased low), so the reductions below hold
    only if the final rows are used."""
    rows = []
    # hopper: rejection reduces LTP 0.4 -> 0.1 with 1 of 2 proposals rejected; td3 0.4 -> 0.3
    for env, start, rej_end, td3_end in (("hopper", 0.4, 0.1, 0.3), ("walker2d", 0.2, 0.1, 0.25)):
        for method, end, acc in (("rejection", rej_end, [True, False]), ("td3", td3_end, [True, True])):
            ltps = [start, (start + end) / 2, end + LOGGED_BIAS[method]]
            common = dict(env=env, seed=0, step=100, run_index=0, method=method)
            for it in range(3):
                rows.append(dict(common, iteration=it, final=False, accepted=True if it == 0 else acc[it - 1],
                                 purd_mean=1000.0 + it, purd_ltp=ltps[it], **{"purd_cvar_0.1": 10.0}))
            if final:
                rows.append(dict(common, iteration=2, final=True, accepted=None, purd_mean=990.0, purd_ltp=end,
                                 **{"purd_cvar_0.1": 9.0}))
    log = pd.DataFrame(rows)
    return log if final else log.drop(columns="final")


def assert_adam_step_from_checkpoint(theta, state, g):
    """TD3/SAC post-update u(theta, X): ``theta`` is one Adam step (Table 1: lr 3e-4, b1 0.9,
    b2 0.999, eps 1.5e-4) of the actor gradient ``g`` from the checkpoint's Adam moments
    ``state.actor_opt``, and differs from the step a fresh Adam state would give."""
    import optax

    tx = optax.adam(3e-4, b1=0.9, b2=0.999, eps=1.5e-4)
    upd, _ = tx.update(g, state.actor_opt, state.actor)
    expected = optax.apply_updates(state.actor, upd)
    for a, b in zip(jax.tree_util.tree_leaves(theta), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    # a fresh Adam state would give a different step (the checkpoint's moments matter)
    upd0, _ = tx.update(g, tx.init(state.actor), state.actor)
    assert not tree_equal(optax.apply_updates(state.actor, upd0), theta)
