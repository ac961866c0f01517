"""Helpers shared by the tests (imported as ``helpers``: tests/ is on pytest's pythonpath)."""

from types import SimpleNamespace

import h5py
import jax
import jax.numpy as jnp
import numpy as np

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
