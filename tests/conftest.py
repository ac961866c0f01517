import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
from retland.base.gl import configure_mujoco_gl  # noqa: E402  (before anything imports mujoco)
from retland.jobs import add_xla_cpu_flags  # noqa: E402  (no JAX import: before any backend starts)

add_xla_cpu_flags()
configure_mujoco_gl(render=True)  # OSMesa frames where libOSMesa loads, else the fallback renderer

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory):
    """One persistent compilation cache for the whole test session."""
    from retland.jobs import setup_jax

    d = str(tmp_path_factory.mktemp("jax_cache"))
    setup_jax(d)
    return d


@pytest.fixture(scope="session")
def tiny_training(tmp_path_factory, jax_cache):
    """A tiny real TD3 run on Brax hopper (2 seeds vmapped), shared by the tests."""
    from retland.agents import get_agent
    from retland.base.envs import make_env
    from retland.training import train_offpolicy

    d = tmp_path_factory.mktemp("train")
    agent = get_agent("td3")
    cfg = agent.Config(hidden=(16, 16), batch_size=32, learning_starts=60)
    env = make_env("hopper", "spring", episode_length=50)
    paths = [str(d / f"seed{s}.h5") for s in (0, 1)]
    attrs = {"suite": "brax", "env": "hopper", "algo": "td3", "backend": "spring", "episode_length": 50,
             "total_steps": 200, "checkpoint_steps": [100, 200], "agent_config": cfg.to_dict()}
    summary = train_offpolicy(agent, env, cfg, [0, 1], 200, [100, 200], paths, attrs, max_chunk=100,
                              log=lambda m: None)
    return {"agent": agent, "cfg": cfg, "env": env, "paths": paths, "summary": summary, "attrs": attrs, "dir": d}
