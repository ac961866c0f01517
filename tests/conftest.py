import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
from retland.base.gl import configure_mujoco_gl  # noqa: E402  (before anything imports mujoco)
from retland.runtime import add_xla_cpu_flags  # noqa: E402  (no JAX import: before any backend starts)

add_xla_cpu_flags()
configure_mujoco_gl(render=True)  # OSMesa frames where libOSMesa loads, else the fallback renderer

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory):
    """One persistent compilation cache for the whole test session."""
    from retland.runtime import setup_jax

    d = str(tmp_path_factory.mktemp("jax_cache"))
    setup_jax(d)
    return d


@pytest.fixture(scope="session")
def tiny_training(tmp_path_factory, jax_cache):
    """A tiny real TD3 run on Brax hopper (2 seeds vmapped), shared by the tests."""
    from helpers import tiny_offpolicy_run

    return tiny_offpolicy_run(tmp_path_factory.mktemp("train"), "td3")


# --- checkpoints of policies trained elsewhere (issue 24): tests/external, tests/workflow/test_external.py
# Real checkpoints of policies trained elsewhere, written the way their users write them:
# 
# - ``brax_ppo_checkpoints``: a tiny ``brax.training.agents.ppo`` run on Brax hopper, saved at
#   two points of training with ``brax.io.model.save_params``;
# - ``flax_mlp_checkpoints``: two plain ``flax.linen`` MLP policies for hopper saved with
#   ``flax.serialization.to_bytes``;
# - ``orbax_checkpoint``: the first of them saved with orbax.
# 
# Each is built once per test run under pytest's temporary directory.
import functools  # noqa: E402
import time  # noqa: E402

ENV, BACKEND = "hopper", "spring"
OBS_DIM, ACT_DIM = 11, 3  # Brax hopper


@pytest.fixture(scope="session")
def brax_ppo_checkpoints(tmp_path_factory, jax_cache):
    """Two ``brax.io.model.save_params`` files of one tiny ``ppo.train`` run on Brax hopper
    (``policy_params_fn`` saves at the end of each of the two training epochs: the
    normaliser has seen data in both), with what it takes to rebuild the networks."""
    import jax
    from brax import envs
    from brax.io import model
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo

    out = tmp_path_factory.mktemp("brax_ppo")
    policy_sizes, value_sizes = (16, 16), (16, 16)
    paths = []

    def save(step, make_policy, params):  # what a brax user writes
        del make_policy
        if step > 0:
            path = os.path.join(out, f"ppo_{step}.params")
            model.save_params(path, params)
            paths.append(path)

    env = envs.get_environment(ENV, backend=BACKEND)
    factory = functools.partial(ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=policy_sizes,
                                value_hidden_layer_sizes=value_sizes)
    t0 = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        if "device_put_replicated" not in vars(jax):
            # brax 0.14.2's ppo.train still calls jax.device_put_replicated, which jax 0.10
            # removed from the public namespace (the function itself is still there)
            from jax._src.api import device_put_replicated

            mp.setattr(jax, "device_put_replicated", device_put_replicated, raising=False)
        ppo.train(env, num_timesteps=1200, num_evals=3, run_evals=False, episode_length=100,
                  num_envs=8, batch_size=8, num_minibatches=4, unroll_length=10, num_updates_per_batch=1,
                  normalize_observations=True, network_factory=factory, policy_params_fn=save, seed=0)
    seconds = time.perf_counter() - t0
    assert len(paths) == 2, paths
    return {"paths": paths, "env": ENV, "backend": BACKEND, "obs_dim": OBS_DIM, "act_dim": ACT_DIM,
            "policy_hidden_layer_sizes": policy_sizes, "value_hidden_layer_sizes": value_sizes,
            "activation": "swish", "normalize_observations": True, "train_seconds": seconds}


def mlp_policy_class():
    """A user's own plain policy: ``nn.Dense`` layers, relu, tanh output."""
    from flax import linen as nn

    class Policy(nn.Module):
        hidden: tuple = (64, 64)
        act_dim: int = ACT_DIM

        @nn.compact
        def __call__(self, x):
            for width in self.hidden:
                x = nn.relu(nn.Dense(width)(x))
            return nn.tanh(nn.Dense(self.act_dim)(x))

    return Policy


@pytest.fixture(scope="session")
def flax_mlp_checkpoints(tmp_path_factory, jax_cache):
    """Two randomly initialised plain MLP policies for hopper, ``to_bytes``-saved to
    ``.msgpack`` files, with the module that made them (``model``)."""
    import flax.serialization
    import jax
    import jax.numpy as jnp

    out = tmp_path_factory.mktemp("flax_mlp")
    hidden = (64, 64)
    model = mlp_policy_class()(hidden=hidden)
    paths = []
    for seed in (0, 1):
        variables = model.init(jax.random.PRNGKey(seed), jnp.zeros((1, OBS_DIM)))
        path = os.path.join(out, f"mlp_{seed}.msgpack")
        with open(path, "wb") as f:
            f.write(flax.serialization.to_bytes(variables))
        paths.append(path)
    return {"paths": paths, "model": model, "hidden": hidden, "activation": "relu", "final": "tanh",
            "obs_dim": OBS_DIM, "act_dim": ACT_DIM, "env": ENV}


@pytest.fixture(scope="session")
def orbax_checkpoint(tmp_path_factory, flax_mlp_checkpoints):
    """The first MLP's variables saved as an orbax checkpoint directory."""
    import flax.serialization
    import orbax.checkpoint as ocp

    with open(flax_mlp_checkpoints["paths"][0], "rb") as f:
        variables = flax.serialization.msgpack_restore(f.read())
    path = os.path.join(tmp_path_factory.mktemp("orbax"), "mlp_0")
    ocp.PyTreeCheckpointer().save(path, variables)
    return {**flax_mlp_checkpoints, "path": path}


def pytest_collection_modifyitems(config, items):
    """The end-to-end workflow files first, then the other files with slow tests, then the rest,
    each file's tests in their own order: `make test` hands out whole files to its pytest-xdist
    workers in this order (``--dist loadfile --no-loadscope-reorder``), so the long runs (the ci
    workflow, SLURM, the external agents' workflow) start at once instead of last, where one of
    them would keep a worker busy after the other has finished."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item):
        if item.path in slow_files:
            return 0 if item.path.parent.name == "workflow" else 1
        return 2

    items.sort(key=rank)  # stable: the order of files and of tests within a file is kept
