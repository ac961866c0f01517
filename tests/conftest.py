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
