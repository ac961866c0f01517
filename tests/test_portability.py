"""Numbers that travel (issue 21, docs/numbers-that-travel.md): the same config and seed
give the same bits on every x86-64 CPU, with 1 thread and with 2.

The literals below were produced on an AMD EPYC with AVX-512 under the default setting
(``--xla_cpu_max_isa=AVX2``, platform-dependent math and YNNPACK fusions off,
``ONEDNN_MAX_CPU_ISA=AVX2``) and reproduced bit for bit on an emulated Intel Haswell (no
AVX-512: ``qemu-x86_64 -cpu Haswell``) and with 1 and 2 cores. Under ``native`` the same
AVX-512 machine gives other bits (final return 232 instead of 245), and with only the
instruction-set flag (no oneDNN cap) the AVX-512 machine and the Haswell disagree (157
against 243): docs/numbers-that-travel.md. If this test fails on your machine, your numbers do
not match that page's: please report the machine line it prints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from retland import fingerprint, portability

#: python -m retland.fingerprint, default setting (AVX2), on every x86-64 machine
EXPECTED = {
    "params_sha256": "e304f026d65ef9c44b9896d584144209616ad423728188243c21f319082c0ba8",
    "state_sha256": "75da2bdb70d6834cf873094f1dc1a6b5fdf92b23a7b4b0203a5e2c0c3f0cc6c8",
    "returns_sha256": "4a3b0d457996334a06ac5642603517f3e01ab96ce1e32869a593ac73f6435c98",
    "final_return": 245.30760192871094,
    "mean": 139.7563500404358,
    "std": 60.06958992809691,
    "ltp": 0.125,
}
#: statistics numpy computes from the returns (the returns themselves are pinned by checksum)
NUMPY_STATS = ("mean", "std", "ltp")


def _skip_reason() -> str | None:
    if not portability.is_x86_64():
        return (f"the pinned numbers are x86-64 numbers (XLA's --xla_cpu_max_isa levels are x86 names); "
                f"this CPU is {portability.platform.machine()}")
    feats = portability.cpu_isa_features()
    if feats and not {"avx2", "fma"} <= set(feats):
        return f"this CPU lacks AVX2/FMA ({feats}): XLA cannot compile the pinned instruction set here"
    if portability.effective_isa() != portability.DEFAULT_ISA:
        return (f"XLA's CPU instruction set is {portability.effective_isa()!r} here (RETLAND_XLA_CPU_ISA or "
                f"XLA_FLAGS), not the pinned {portability.DEFAULT_ISA}: numbers are not expected to travel")
    return None


def _fingerprint(cores: str | None) -> dict:
    cmd = [sys.executable, "-m", "retland.fingerprint"]
    if cores is not None:
        if shutil.which("taskset") is None:
            pytest.skip("taskset (util-linux) not found: cannot restrict the run to one core")
        cmd = ["taskset", "-c", cores] + cmd
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])  # the last line: imports may print before it


@pytest.mark.slow
def test_tiny_td3_run_gives_the_same_bits_on_every_x86_64_cpu_with_1_and_2_threads():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    first_core = str(min(os.sched_getaffinity(0)))
    runs = {"1 thread": _fingerprint(first_core), "all threads": _fingerprint(None)}
    assert runs["1 thread"]["machine"]["threads"] == 1
    for name, got in runs.items():
        line = portability.machine_line(got["machine"])
        assert got["machine"]["xla_cpu_max_isa"] == "AVX2" and got["machine"]["onednn_max_cpu_isa"] == "AVX2", line
        for k, want in EXPECTED.items():
            msg = f"{name}: {k} = {got[k]!r}, pinned {want!r}; numbers do not travel to {line}"
            if k in NUMPY_STATS:  # numpy's own SIMD dispatch may reorder a float64 sum: last bits only
                assert got[k] == pytest.approx(want, rel=1e-12, abs=1e-12), msg
            else:  # JAX's bits: checksums and the float32 return, exactly
                assert got[k] == want, msg


#: the post-updates of 200 keys of a 64x64 TD3 (the default config's size) from a 150k-row buffer;
#: prints the sha256 of the updated parameters (rollout.map_updates via the estimator's updates)
_UPDATES = """
from retland.runtime import add_xla_cpu_flags, start_cpu_backend
add_xla_cpu_flags(); start_cpu_backend()
import jax
from retland.agents import get_agent
from retland.analyses.post_update import make_estimator
from retland.analyses.source import Source
from retland.base.envs import make_env
from retland.fingerprint import tree_sha256
from retland.profiling import fake_replay
agent = get_agent("td3"); cfg = agent.Config(hidden=(64, 64)); env = make_env("hopper", "spring")
state = agent.init(jax.random.PRNGKey(0), env.spec.obs_dim, env.spec.act_dim, cfg)
keys = jax.random.split(jax.random.PRNGKey(2), 200)
est = make_estimator(Source(agent, env, cfg), 10)
print(tree_sha256(est.updates(keys, state, fake_replay(env.spec, 150_000), 0, 150_000)))
"""


@pytest.mark.slow
def test_post_update_bits_do_not_depend_on_the_threads():
    """The post-update parameters are the same bits with 1 XLA CPU thread and with all: the
    updates run one key after another (rollout.map_updates); vmapped over these 200 keys they
    differed between 1 and 2 threads (docs/profile.md)."""
    if _skip_reason():
        pytest.skip(_skip_reason())
    got = {}
    for threads in ("1", ""):
        env = {**os.environ, "JAX_PLATFORMS": "cpu", portability.THREADS_ENV: threads}
        p = subprocess.run([sys.executable, "-c", _UPDATES], capture_output=True, text=True, env=env, timeout=900)
        assert p.returncode == 0, p.stderr[-3000:]
        got[threads or "all"] = p.stdout.strip().splitlines()[-1]
    assert got["1"] == got["all"], got


def test_threads_setting_is_validated_and_recorded(monkeypatch):
    """RETLAND_XLA_CPU_THREADS caps XLA's CPU threads (runtime.start_cpu_backend); the machine
    line records the threads in effect."""
    monkeypatch.delenv(portability.THREADS_ENV, raising=False)
    assert portability.threads_setting() is None
    cores = portability.cpu_threads()
    monkeypatch.setenv(portability.THREADS_ENV, "1")
    assert portability.threads_setting() == 1 and portability.cpu_threads() == 1
    assert portability.machine()["threads"] == 1
    monkeypatch.setenv(portability.THREADS_ENV, "999")
    assert portability.cpu_threads() == cores
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(portability.THREADS_ENV, bad)
        with pytest.raises(ValueError, match="RETLAND_XLA_CPU_THREADS"):
            portability.threads_setting()


def test_isa_setting_is_validated_and_recorded(monkeypatch):
    monkeypatch.setenv("RETLAND_XLA_CPU_ISA", "sse4_2")
    assert portability.isa_setting() == "SSE4_2"
    monkeypatch.setenv("RETLAND_XLA_CPU_ISA", "Native")
    assert portability.isa_setting() == "native" and portability.isa_flags() == ()
    monkeypatch.setenv("RETLAND_XLA_CPU_ISA", "bogus")
    with pytest.raises(ValueError, match="RETLAND_XLA_CPU_ISA='bogus'.*AVX2"):
        portability.isa_setting()
    monkeypatch.delenv("RETLAND_XLA_CPU_ISA")
    assert portability.isa_setting() == "AVX2"
    assert portability.effective_isa({"XLA_FLAGS": "--a=1 --xla_cpu_max_isa=AVX"}) == "AVX"


def test_tree_checksum_sees_one_bit():
    import numpy as np

    a = {"w": np.ones((2, 3), np.float32)}
    b = {"w": np.ones((2, 3), np.float32)}
    assert fingerprint.tree_sha256(a) == fingerprint.tree_sha256(b)
    b["w"].view(np.uint32)[0, 0] ^= 1
    assert fingerprint.tree_sha256(a) != fingerprint.tree_sha256(b)
    assert fingerprint.tree_sha256({"w": np.ones((3, 2), np.float32)}) != fingerprint.tree_sha256(a)


def test_workflow_jobs_compute_on_one_xla_thread():
    """Every workflow job (make run, a direct snakemake call, SLURM) gets one XLA CPU thread
    unless RETLAND_XLA_CPU_THREADS was set before snakemake (empty: XLA's default): large
    products (the Atari CNN's) change their last bits with XLA's thread count."""
    smk = open(os.path.join(os.path.dirname(__file__), "..", "workflow", "rules", "common.smk")).read()
    assert 'os.environ.setdefault("RETLAND_XLA_CPU_THREADS", "1")' in smk
    m = portability.machine()
    assert m["cores"] >= m["threads"] >= 1
