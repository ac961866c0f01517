"""Agents trained elsewhere through the workflow (config ``external``, issue 24): a tiny
``brax.training`` PPO run saved with ``brax.io.model.save_params`` (``bppo``) and plain flax
MLP policies saved with ``flax.serialization`` (``mine``) are imported (rule
import_external), never trained, and get E2 (Gaussian post-update distributions, Fig. 2),
E3 (Fig. 1 on the PPO pair named in the config), E4 (failure anatomy of the PPO policies)
and E6-E7 (interpolation on a named pair of MLPs, Fig. 5, 6, 8); E5, E8 and E12, which need
a replay log or a TD3 run, are skipped and the parse says why. Slow: one Snakemake run."""

import os
import shutil
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_workflow import copy_workflow, planned, snake  # noqa: E402

slow = pytest.mark.slow
HIDDEN = [16, 16]


def _write_policies(d):
    """Four plain MLP policies for hopper (2 seeds x 2 steps), saved as a flax user saves them."""
    import jax
    from flax import serialization

    from retland.policies import _mlp_class
    import flax.linen as nn

    model = _mlp_class()(hidden=tuple(HIDDEN), out=3, activation=nn.relu, final=nn.tanh)
    paths = []
    for seed in (0, 1):
        for step in (1000, 2000):
            variables = model.init(jax.random.PRNGKey(10 * seed + step), np.zeros(11, np.float32))
            p = os.path.join(d, "ckpt", f"seed{seed}_{step}.msgpack")
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(serialization.to_bytes(variables))
            paths.append({"seed": seed, "step": step, "path": os.path.relpath(p, d)})
    return paths


def external_config(checkpoints, ppo):
    steps = [int(os.path.basename(p).split("_")[1].split(".")[0]) for p in ppo["paths"]]
    return {
        "run": "ext", "envs": ["hopper"], "algos": [], "episode_length": 100,
        "external": {
            # the policy network only (leaves under "1/"), not the observation normaliser
            "bppo": {"env": "hopper", "format": "brax", "apply": "retland.policies:brax_ppo",
                     "apply_kwargs": {"policy_hidden_layer_sizes": list(ppo["policy_hidden_layer_sizes"])},
                     "perturb": "^1/", "noise_scale": 0.01,
                     "checkpoints": [{"seed": 0, "step": s, "path": p} for s, p in zip(steps, ppo["paths"])]},
            "mine": {"env": "hopper", "format": "flax", "apply": "retland.policies:flax_mlp",
                     "apply_kwargs": {"hidden": HIDDEN}, "perturb": "kernel", "noise_scale": 0.01,
                     "checkpoints": checkpoints}},
        "post_update": {"n_samples": 16, "horizon": 100, "chunk_size": 16, "sample_seed": 0},
        "landscape": {"algo": "bppo", "grid": 3, "pair": [{"seed": 0, "step": s} for s in steps]},
        "failures": {"algo": "bppo", "max_policies": 2},
        "interpolation": {"algo": "mine", "horizon": 100, "chunk_size": 16, "n_points": 5, "n_perturbations": 2,
                          "btp_pairs": 2, "btp_points": 3, "btp_perturbations": 2, "noise_scale": 0.01,
                          "pairs": [{"a": {"seed": 0, "step": 2000}, "b": {"seed": 1, "step": 1000}}]},
        "render": {"width": 64, "height": 64},
    }


@pytest.fixture(scope="module")
def extdir(tmp_path_factory, brax_ppo_checkpoints):
    d = copy_workflow(tmp_path_factory.mktemp("ext"))
    cfg = external_config(_write_policies(d), brax_ppo_checkpoints)
    with open(os.path.join(d, "config", "ext.yaml"), "w") as f:
        yaml.safe_dump(cfg, f)
    return d


def test_external_agents_plan_no_training_and_say_what_is_skipped(extdir):
    p = snake(extdir, "-n", "--quiet", "rules", "--configfile", "config/ext.yaml")
    jobs = planned(extdir, "--configfile", "config/ext.yaml")
    assert jobs["import_external"] == 3 and jobs["post_update_mine"] == 2 and jobs["post_update_bppo"] == 1
    assert not any(r.startswith("train") for r in jobs), jobs
    for rule in ("landscape", "failures", "interpolation"):
        assert jobs[rule] == 1, (rule, jobs)
    for rule in ("rejection", "start_states", "bc_train", "claims"):
        assert rule not in jobs, (rule, jobs)
    assert "start_states: skipped, its agent td3 is not trained here" in p.stderr
    assert "rejection: skipped" in p.stderr


@slow
def test_external_agents_run_through_the_workflow(extdir):
    snake(extdir, "--configfile", "config/ext.yaml")
    res = os.path.join(extdir, "results", "ext")
    cfg = yaml.safe_load(open(os.path.join(extdir, "config", "ext.yaml")))
    ppo_steps = sorted(c["step"] for c in cfg["external"]["bppo"]["checkpoints"])
    with h5py.File(os.path.join(res, "train", "hopper", "mine", "seed1.h5")) as f:
        assert f.attrs["agent"] == "external" and f.attrs["algo"] == "mine" and f.attrs["complete"]
        assert f["replay/obs"].shape == (0, 11)
        assert sorted(f["checkpoints"]) == ["step1000", "step2000"]
        assert "provenance" in f.attrs and "source_files" in f.attrs
    with h5py.File(os.path.join(res, "post_update", "hopper", "mine", "seed0", "step2000.h5")) as f:
        assert f.attrs["update_kind"] == "gaussian_perturbation" and f.attrs["noise_scale"] == 0.01
        assert f["returns"].shape == (16,) and np.all(np.isfinite(f["returns"][()]))
    stats = pd.read_csv(os.path.join(res, "stats", "post_update.csv"))
    assert sorted(set(stats["algo"])) == ["bppo", "mine"] and len(stats) == 6
    with h5py.File(os.path.join(res, "post_update", "hopper", "bppo", "seed0", f"step{ppo_steps[-1]}.h5")) as f:
        assert np.std(f["returns"][()]) > 0  # the perturbations reach the policy network
    with h5py.File(os.path.join(res, "landscape", "hopper", "landscape.h5")) as f:
        named = {(int(f[r].attrs["seed"]), int(f[r].attrs["step"])) for r in ("noisy", "smooth")}
        assert named == {(0, s) for s in ppo_steps} and f.attrs["criterion"] == "chosen in the config"
        assert {f[r].attrs["algo"] for r in ("noisy", "smooth")} == {"bppo"}
        # the smooth one is the policy of lower post-update std
        std = {(r.seed, r.step): r.std for r in stats[stats.algo == "bppo"].itertuples()}
        assert std[(int(f["smooth"].attrs["seed"]), int(f["smooth"].attrs["step"]))] <= \
            std[(int(f["noisy"].attrs["seed"]), int(f["noisy"].attrs["step"]))]
    paths = pd.read_csv(os.path.join(res, "interpolation", "hopper", "paths.csv"))
    assert set(zip(paths.seed_a, paths.step_a, paths.seed_b, paths.step_b)) == {(0, 2000, 1, 1000)}
    assert set(paths.kind) == {"different_run"} and len(paths) == 5
    assert pd.read_csv(os.path.join(res, "failures", "hopper", "summary.csv"))["algo"].tolist() == ["bppo"]
    figs = os.path.join(extdir, "paper_figures", "ext")
    for name in ("fig02_scatter_hopper", "fig01_landscape_hopper", "fig05_interpolation_hopper",
                 "fig06_below_threshold", "fig03_failures_hopper", "extra_learning_curves"):
        assert os.path.getsize(os.path.join(figs, name + ".png")) > 1000, name
    assert planned(extdir, "--configfile", "config/ext.yaml") == {}  # nothing left, nothing retrained


@slow
def test_a_changed_checkpoint_file_reimports_that_seed_only(extdir):
    shutil.copy(os.path.join(extdir, "ckpt", "seed1_2000.msgpack"), os.path.join(extdir, "ckpt", "seed1_1000.msgpack"))
    jobs = planned(extdir, "--configfile", "config/ext.yaml")
    assert jobs["import_external"] == 1 and jobs["post_update_mine"] == 1, jobs
