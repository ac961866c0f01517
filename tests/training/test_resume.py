"""A training job killed part-way and started again continues from its last resume
point and produces the same files as an uninterrupted run (CPU): a JAX-stepped suite
(Brax hopper) and a host-stepped one (DMC quadruped-walk, whose resume point also holds
every environment's simulator and random-stream snapshot)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import assert_same_training_files

pytestmark = pytest.mark.slow

SCRIPT = r"""
import sys
from retland.runtime import setup_jax
setup_jax(sys.argv[2])
from retland.agents import get_agent
from retland.base.envs import make_env
from retland.training import train
out, name = sys.argv[1], sys.argv[3]
agent = get_agent("td3")
cfg = agent.Config(hidden=(16, 16), batch_size=32, learning_starts=60)
env = make_env(name, "spring", episode_length=50)
attrs = {"suite": env.spec.suite, "env": name, "algo": "td3", "backend": env.spec.backend, "episode_length": 50,
         "agent_config": cfg.to_dict()}
s = train(agent, env, cfg, [0, 1], total_steps=600, checkpoint_steps=[200, 400, 600],
          out_paths=[f"{out}/seed0.h5", f"{out}/seed1.h5"], attrs=attrs, max_chunk=100,
          log=lambda m: print(m, flush=True), resume_every=0.0)
print("RESUMED_FROM", s["resumed_from"], flush=True)
"""


def run(out, cache, env):
    return subprocess.run([sys.executable, "-c", SCRIPT, out, cache, env], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("env", ["hopper", "quadruped-walk"])
def test_killed_training_resumes_to_identical_files(tmp_path, env):
    cache = str(tmp_path / "cache")
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    ref.mkdir()
    killed.mkdir()
    p = run(str(ref), cache, env)
    assert p.returncode == 0, p.stderr[-3000:]

    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(killed), cache, env],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 400
    for line in proc.stdout:  # kill (SIGKILL: no clean-up) once step 300 of 600 is logged
        if "step 300/600" in line or time.time() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not os.path.exists(killed / "seed0.h5")  # nothing that looks complete
    assert os.path.exists(killed / ".seed0.h5.resume.h5")

    p = run(str(killed), cache, env)
    assert p.returncode == 0, p.stderr[-3000:]
    resumed = int(p.stdout.split("RESUMED_FROM")[1].split()[0])
    assert 200 <= resumed < 600
    assert not os.path.exists(killed / ".seed0.h5.resume.h5")
    assert sorted(os.listdir(killed)) == ["seed0.h5", "seed1.h5"]
    assert_same_training_files(ref, killed)
