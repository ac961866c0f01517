"""The ``retland`` command line (retland.cli), run as a user runs it: a subprocess, on a tiny
flax MLP saved with flax.serialization.to_bytes whose apply function lives in a module of
the user's (a directory on PYTHONPATH). Its numbers equal the Python API's."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
SCRIPT = os.path.join(os.path.dirname(sys.executable), "retland")
#: the console script where the package is installed (pip install -e .), else the module
RETLAND = [SCRIPT] if os.path.exists(SCRIPT) else [sys.executable, "-m", "retland.cli"]
H = 40  # horizon and episode length
MODULE = "retland_cli_test_policy"
POLICY = '''
import flax.linen as nn


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.tanh(nn.Dense(3)(nn.tanh(nn.Dense(8)(x))))


def apply(params, obs):
    return MLP().apply(params, obs)


def init(seed, obs_dim=11):
    import jax
    import jax.numpy as jnp

    return MLP().init(jax.random.PRNGKey(seed), jnp.zeros(obs_dim))
'''


@pytest.fixture(scope="module")
def work(tmp_path_factory, jax_cache):
    """The user's directory: the policy module, two checkpoints (flax msgpack), a third with a
    NaN and a fourth for a 5-dim observation; and the subprocesses' environment (this
    test run's compilation cache: the API calls below reuse what the commands compiled)."""
    from flax import serialization

    d = tmp_path_factory.mktemp("cli")
    (d / f"{MODULE}.py").write_text(POLICY)
    sys.path.insert(0, str(d))
    try:
        mod = __import__(MODULE)
    finally:
        sys.path.remove(str(d))
    params = [mod.init(0), mod.init(1)]
    for i, p in enumerate(params):
        (d / f"ck{i}.msgpack").write_bytes(serialization.to_bytes(p))
    nan = mod.init(2)
    nan["params"]["Dense_1"]["kernel"] = nan["params"]["Dense_1"]["kernel"].at[0, 0].set(np.nan)
    (d / "nan.msgpack").write_bytes(serialization.to_bytes(nan))
    (d / "small.msgpack").write_bytes(serialization.to_bytes(mod.init(0, obs_dim=5)))
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg", RETLAND_JAX_CACHE=jax_cache,
               PYTHONPATH=os.pathsep.join([str(d), SRC] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    return {"dir": d, "env": env, "module": mod, "params": params}


def retland(work, *args, timeout=600):
    return subprocess.run(RETLAND + [str(a) for a in args], cwd=work["dir"], env=work["env"], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def imported(work):
    """``retland import`` of the two checkpoints (steps 100 and 200) as agent 'mymlp'."""
    p = retland(work, "import", "--name", "mymlp", "--env", "hopper", "--format", "flax", "--apply", f"{MODULE}:apply",
                "--checkpoint", "100=ck0.msgpack", "--checkpoint", "200=ck1.msgpack", "--episode-length", H,
                "--seed", 3, "--out", "runs/seed3.h5")
    assert p.returncode == 0, p.stderr[-3000:]
    return work["dir"] / "runs" / "seed3.h5", p


def error_line(p, command: str) -> str:
    """The one error line of a refused command: exit status 2, no traceback."""
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith(f"retland {command}: error: "), last
    return last


def test_help_lists_the_commands(work):
    p = retland(work, "--help", timeout=120)
    assert p.returncode == 0
    for command in ("import", "post-update", "landscape", "interpolate"):
        assert command in p.stdout
    assert retland(work, timeout=120).returncode == 2  # no command


def test_import_writes_a_training_file_with_provenance(work, imported):
    from retland.base.checkpoints import TrainFile

    path, p = imported
    assert "runs/seed3.h5: mymlp on hopper, steps [100, 200]" in p.stdout
    with TrainFile(str(path)) as tf:
        attrs, steps, curve = tf.attrs, tf.checkpoint_steps, tf.learning_curve()
    assert (attrs["algo"], attrs["agent"], int(attrs["seed"]), steps) == ("mymlp", "external", 3, [100, 200])
    prov = json.loads(attrs["provenance"])
    assert prov["config"]["command"] == "retland import" and prov["git_commit"] and "jax" in prov["versions"]
    assert curve["return"].shape == (2,) and np.isfinite(curve["return"]).all()


@pytest.mark.parametrize("case", ["missing", "not_hdf5", "foreign", "unknown_step"])
def test_post_update_refuses_bad_inputs(work, imported, case):
    path, _ = imported
    with h5py.File(work["dir"] / "foreign.h5", "w") as f:  # another format of the package's
        f.attrs.update({"format": "retland.post_update/1", "complete": True})
    train, step, why = {"missing": ("runs/nope.h5", 100, "runs/nope.h5: no such file"),
                        "not_hdf5": ("ck0.msgpack", 100, "not a readable HDF5 file"),
                        "foreign": ("foreign.h5", 100, "format attribute is 'retland.post_update/1', expected "
                                                       "'retland.train/1'"),
                        "unknown_step": (path, 7, "no checkpoint at step 7; it has steps [100, 200]")}[case]
    out = work["dir"] / f"out_{case}"
    line = error_line(retland(work, "post-update", train, "--step", step, "--out", out, timeout=120), "post-update")
    assert why in line
    assert not out.exists()


@pytest.mark.parametrize("case", ["apply", "obs_size", "nan"])
def test_import_refuses_bad_inputs(work, case):
    ckpt, apply, env, why = {
        "apply": ("ck0.msgpack", "no_such_module:apply", "hopper", "module 'no_such_module' cannot be imported"),
        "obs_size": ("small.msgpack", f"{MODULE}:apply", "hopper", "fails on an observation of size 11"),
        "nan": ("nan.msgpack", f"{MODULE}:apply", "hopper", "'params/Dense_1/kernel' has 1 non-finite values"),
    }[case]
    before = set(os.listdir(work["dir"]))
    p = retland(work, "import", "--name", "bad", "--env", env, "--format", "flax", "--apply", apply,
                "--checkpoint", f"5={ckpt}", "--episode-length", H, "--out", f"bad_{case}.h5", timeout=300)
    assert why in error_line(p, "import")
    assert set(os.listdir(work["dir"])) == before  # nothing written, not even a temporary file


# The analysis commands' outputs, provenance and numbers against the API: the README's worked
# example, tests/external/test_worked_example.py (a brax.training PPO through the same commands).
