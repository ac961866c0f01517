"""envs/*.yaml (conda) pin the same versions as requirements.lock (pip)."""

import glob
import os
import re

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def norm(name):
    return re.sub(r"[-_.]+", "-", re.sub(r"\[.*\]", "", name)).lower()


def lock():
    pins = {}
    for line in open(os.path.join(REPO, "requirements.lock")):
        line = line.split("#")[0].strip()
        if line:
            assert "==" in line, f"requirements.lock line {line!r} is not pinned with =="
            n, v = line.split("==")
            pins[norm(n)] = v
    return pins


def test_lock_has_the_known_pins():
    p = lock()
    assert p["mujoco"] == "3.17.0"  # dm-control 1.0.50 breaks on mujoco 4
    assert p["dm-control"] == "1.0.50"  # E10; requires mujoco>=3.17.0
    assert p["rliable"] == "1.2.0" and p["arch"] == "7.2.0" and int(p["pandas"].split(".")[0]) < 3
    for k in ("jax", "jaxlib", "flax", "optax", "brax", "snakemake", "h5py"):
        assert k in p


def test_conda_envs_agree_with_the_lock():
    pins = lock()
    files = glob.glob(os.path.join(REPO, "envs", "*.yaml"))
    assert len(files) >= 2
    for f in files:
        env = yaml.safe_load(open(f))
        pip = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
        assert pip, f"{f} has no pip section"
        for spec in pip[0]["pip"]:
            assert "==" in spec, f"{f}: {spec} is not pinned"
            n, v = spec.split("==")
            assert norm(n) in pins, f"{f}: {n} is not in requirements.lock"
            assert pins[norm(n)] == v, f"{f}: {n}=={v} but requirements.lock has {pins[norm(n)]}"
