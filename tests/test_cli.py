"""The ``retland`` command line (retland.cli), run as a user runs it: a subprocess, on a tiny
flax MLP saved with flax.serialization.to_bytes whose apply function lives in a module of
the user's (a directory on PYTHONPATH). Its numbers equal the Python API's."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
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


@pytest.mark.slow
def test_post_update_landscape_interpolate_equal_the_api(work, imported):
    """The three analysis commands on the imported file: outputs, provenance, and the API's
    numbers for the same policy, keys and settings."""
    import jax

    import retland as R
    from retland.base.checkpoints import read_post_update
    from retland.jobs.sources import sample_key
    from retland.plots.landscape import read_landscape

    path, _ = imported
    d = work["dir"]
    apply, (p100, p200) = work["module"].apply, work["params"]
    env = R.environment("hopper", episode_length=H)

    # post-update: the workflow's E2 files, statistics and Fig. 2 histograms
    p = retland(work, "post-update", path, "--step", 100, "--step", 200, "--n-samples", 8, "--horizon", H,
                "--chunk-size", 4, "--n-boot", 50, "--out", "pu")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "[post_update]" in p.stderr and "[post_update]" not in p.stdout  # progress on stderr
    returns, lengths, attrs = read_post_update(str(d / "pu" / "step100.h5"))
    assert json.loads(attrs["provenance"])["config"]["command"] == "retland post-update"
    assert (attrs["update_kind"], attrs["noise_scale"], attrs["algo"]) == ("gaussian_perturbation", 3e-4, "mymlp")
    api_r, api_l = R.post_update_distribution(R.Policy(apply, p100), env, n_samples=8, horizon=H, sigma=3e-4,
                                              key=sample_key(0, 3, 100), chunk_size=4)
    np.testing.assert_allclose(returns, api_r, rtol=1e-5)
    np.testing.assert_array_equal(lengths, api_l)
    stats = pd.read_csv(d / "pu" / "post_update.csv")
    assert list(stats["step"]) == [100, 200]
    assert stats.loc[0, "mean"] == pytest.approx(R.return_statistics(returns)["mean"][0])
    for name in ("post_update", "fig02_histograms"):
        assert json.loads((d / "pu" / f"{name}.provenance.json").read_text())["config"]["command"] == \
            "retland post-update"
    assert (d / "pu" / "fig02_histograms.png").stat().st_size > 0

    # landscape: a pair (Fig. 1's noisy and smooth) in the workflow's landscape file
    p = retland(work, "landscape", path, "--step", 100, "--step-b", 200, "--grid", 3, "--extent", 2, "--horizon", H,
                "--n-samples", 8, "--chunk-size", 4, "--frames", 2, "--width", 32, "--height", 32, "--out", "land")
    assert p.returncode == 0, p.stderr[-3000:]
    data = read_landscape(str(d / "land" / "landscape.h5"))
    role = next(r for r in ("noisy", "smooth") if int(data[r]["step"]) == 100)
    assert data[role]["returns"].shape == (3, 3, 3)  # three scales (Fig. 27)
    np.testing.assert_array_equal(data[role]["post_update_returns"], returns)  # the post-update command's samples
    api = R.landscape_map(R.Policy(apply, p100), env, grid=3, extent=2.0, horizon=H, sigma=3e-4,
                          key=sample_key(0, 3, 100), chunk_size=4)
    np.testing.assert_allclose(data[role]["returns"][0], api["returns"], rtol=1e-5)
    with h5py.File(d / "land" / "landscape.h5") as f:
        assert json.loads(f.attrs["provenance"])["config"]["command"] == "retland landscape"
    for name in ("fig01_landscape", "fig27_multiscale"):
        assert (d / "land" / f"{name}.png").stat().st_size > 0 and (d / "land" / f"{name}.provenance.json").exists()

    # interpolate: the workflow's paths table, the BTP, Fig. 5 and 8
    p = retland(work, "interpolate", path, "--step-a", 100, path, "--step-b", 200, "--n-points", 4,
                "--n-perturbations", 2, "--horizon", H, "--chunk-size", 4, "--seed", 5, "--out", "interp")
    assert p.returncode == 0, p.stderr[-3000:]
    paths = pd.read_csv(d / "interp" / "paths.csv")
    assert {"env", "kind", "pair", "seed_a", "step_a", "seed_b", "step_b", "alpha", "return", "purd_mean", "purd_std",
            "purd_n_nonfinite", "n_perturbations", "mean_a", "similar_mean"} <= set(paths.columns)
    assert set(paths["kind"]) == {"same_run"} and list(paths["step_a"].unique()) == [100]
    api_paths, api_btp = R.interpolation_path(p100, p200, apply, env, n_points=4, n_perturbations=2, sigma=3e-4,
                                              horizon=H, key=jax.random.PRNGKey(5), chunk_size=4)
    for col in ("alpha", "return", "purd_mean"):
        np.testing.assert_allclose(paths[col], api_paths[col], rtol=1e-5)
    btp = pd.read_csv(d / "interp" / "btp.csv").iloc[0]
    assert btp["btp"] == pytest.approx(api_btp, nan_ok=True)
    assert "below-threshold proportion" in p.stdout
    for name in ("paths", "btp", "fig05_interpolation", "fig08_interpolation_purd"):
        assert json.loads((d / "interp" / f"{name}.provenance.json").read_text())["config"]["command"] == \
            "retland interpolate"
