"""The README's worked example ("Your own agent"), end to end on a tiny policy: a
``brax.training`` PPO run saved with ``brax.io.model.save_params`` (the session-wide
fixture), imported with ``retland import``, then ``retland post-update``, ``retland
landscape`` and ``retland interpolate`` as the README writes them (with small counts), and
the outputs checked against the same computation done with the Python API. Slow: four
commands, each compiling its simulator."""

import functools
import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(os.path.dirname(sys.executable), "retland")
RETLAND = [SCRIPT] if os.path.exists(SCRIPT) else [sys.executable, "-m", "retland.cli"]
H = 60  # horizon and episode length
SMALL = {"post-update": ["--n-samples", 8, "--horizon", H, "--chunk-size", 8, "--n-boot", 50],
         "landscape": ["--grid", 3, "--horizon", H, "--n-samples", 8, "--chunk-size", 8, "--frames", 2,
                       "--width", 32, "--height", 32],
         "interpolate": ["--n-points", 4, "--n-perturbations", 2, "--horizon", H, "--chunk-size", 8]}


def readme_commands():
    """The ``retland ...`` commands of the README's "Your own agent" block, as argument lists."""
    text = open(os.path.join(REPO, "README.md")).read()
    block = re.search(r"## Your own agent.*?```bash\n(.*?)```", text, re.S).group(1)
    lines = block.replace("\\\n", " ").splitlines()
    import shlex

    return [shlex.split(line)[1:] for line in lines if line.startswith("retland ")]


@pytest.mark.slow
def test_the_readme_worked_example_on_a_brax_training_ppo(tmp_path, jax_cache, brax_ppo_checkpoints):
    import retland as R
    from retland.base.checkpoints import read_post_update
    from retland.external import as_tree, load_params
    from retland.jobs.sources import sample_key
    from retland.plots.landscape import read_landscape
    from retland.policies import brax_ppo

    ppo = brax_ppo_checkpoints
    s1, s2 = (int(re.search(r"_(\d+)\.params$", p).group(1)) for p in ppo["paths"])
    os.symlink(ppo["paths"][0], tmp_path / "ppo_5M.params")
    os.symlink(ppo["paths"][1], tmp_path / "ppo_10M.params")
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg", RETLAND_JAX_CACHE=jax_cache,
               PYTHONPATH=os.pathsep.join([os.path.join(REPO, "src")] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    commands = readme_commands()
    assert [c[0] for c in commands] == ["import", "post-update", "landscape", "interpolate"]
    for args in commands:
        # the README's paper-scale steps and network are the fixture's tiny ones here
        args = [a.replace("5000000", str(s1)).replace("10000000", str(s2)) for a in args]
        args = [a.replace("[32, 32, 32, 32]", json.dumps(list(ppo["policy_hidden_layer_sizes"]))) for a in args]
        extra = SMALL.get(args[0], ["--episode-length", H])
        p = subprocess.run(RETLAND + args + [str(x) for x in extra], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=900)
        assert p.returncode == 0, (args, p.stderr[-3000:])

    run = tmp_path / "my_ppo"
    apply = functools.partial(brax_ppo, policy_hidden_layer_sizes=tuple(ppo["policy_hidden_layer_sizes"]))
    theta = [as_tree(load_params(path, "brax")) for path in ppo["paths"]]
    hopper = R.environment("hopper", episode_length=H)
    # post-update: the Gaussian distribution of the policy network's weights only
    returns, _, attrs = read_post_update(str(run / "post_update" / f"step{s2}.h5"))
    assert (attrs["algo"], attrs["update_kind"]) == ("my_ppo", "gaussian_perturbation")
    api, _ = R.post_update_distribution(R.Policy(apply, theta[1], perturb="^1/"), hopper, n_samples=8, horizon=H,
                                        sigma=3e-4, key=sample_key(0, 0, s2), chunk_size=8)
    np.testing.assert_allclose(returns, api, rtol=1e-5)
    assert list(pd.read_csv(run / "post_update" / "post_update.csv")["step"]) == [s1, s2]
    # landscape: both checkpoints mapped, the centre of each map is the policy's own return
    data = read_landscape(str(run / "landscape" / "landscape.h5"))
    assert {int(data[r]["step"]) for r in ("noisy", "smooth")} == {s1, s2}
    for r in ("noisy", "smooth"):
        i = [s1, s2].index(int(data[r]["step"]))
        det = R.landscape_map(R.Policy(apply, theta[i], perturb="^1/"), hopper, grid=3, extent=3.0, horizon=H,
                              sigma=3e-4, key=sample_key(0, 0, [s1, s2][i]), chunk_size=8)
        np.testing.assert_allclose(data[r]["returns"][0], det["returns"], rtol=1e-4)
    # interpolation: the path between the two, its endpoints the two policies' returns
    paths = pd.read_csv(run / "interpolate" / "paths.csv")
    ends = paths.set_index("alpha")["return"]
    for i, alpha in ((0, 1.0), (1, 0.0)):
        det, _ = R.post_update_distribution(R.Policy(apply, theta[i]), hopper, n_samples=1, horizon=H, sigma=0.0)
        assert ends[alpha] == pytest.approx(det[0], rel=1e-5)
    assert os.path.exists(run / "interpolate" / "fig05_interpolation.png")
    # every output carries its provenance: the command that wrote it
    assert json.loads(attrs["provenance"])["config"]["command"] == "retland post-update"
    for sub, name, command in (("post_update", "post_update", "post-update"), ("post_update", "fig02_histograms", "post-update"),
                               ("landscape", "fig01_landscape", "landscape"), ("interpolate", "paths", "interpolate"),
                               ("interpolate", "fig05_interpolation", "interpolate")):
        prov = json.loads((run / sub / f"{name}.provenance.json").read_text())
        assert prov["config"]["command"] == f"retland {command}", (sub, name)
