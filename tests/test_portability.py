"""Numbers that travel (issue 21, README "Numbers that travel"): the same config and seed
give the same bits on every x86-64 CPU, with 1 thread and with 2.

The literals below were produced on an AMD EPYC with AVX-512 under the default setting
(``--xla_cpu_max_isa=AVX2``) and reproduced bit for bit on an emulated Intel Haswell (no
AVX-512: ``qemu-x86_64 -cpu Haswell``) and with 1 and 2 cores. Under ``native`` the same
AVX-512 machine gives other bits (final return 232 instead of 157), and under AVX or
SSE4_2 others again (README table). If this test fails on your machine, your numbers do
not match the README's: please report the machine line it prints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from retland import portability

#: python -m retland.portability, default setting (AVX2), on every x86-64 machine
EXPECTED = {
    "params_sha256": "b01da4c9da484ef234caa40f14999ef901e0f8d9b0d2b39d0f59d953c9f25515",
    "state_sha256": "d29b7890de88fd67fdd60d971f3252d07a91955bf5ba2046bdc8bb48d9d8605f",
    "returns_sha256": "564dd4e524b81d9de87ae05623c17d75ccb8c4aacdf6770ad22971200ffa5cb3",
    "final_return": 156.6876983642578,
    "mean": 143.66092777252197,
    "std": 9.143810307359939,
    "ltp": 0.0,
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
    cmd = [sys.executable, "-m", "retland.portability"]
    if cores is not None:
        if shutil.which("taskset") is None:
            pytest.skip("taskset (util-linux) not found: cannot restrict the run to one core")
        cmd = ["taskset", "-c", cores] + cmd
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


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
        assert got["machine"]["xla_cpu_max_isa"] == "AVX2", line
        for k, want in EXPECTED.items():
            msg = f"{name}: {k} = {got[k]!r}, pinned {want!r}; numbers do not travel to {line}"
            if k in NUMPY_STATS:  # numpy's own SIMD dispatch may reorder a float64 sum: last bits only
                assert got[k] == pytest.approx(want, rel=1e-12, abs=1e-12), msg
            else:  # JAX's bits: checksums and the float32 return, exactly
                assert got[k] == want, msg


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
    assert portability.tree_sha256(a) == portability.tree_sha256(b)
    b["w"].view(np.uint32)[0, 0] ^= 1
    assert portability.tree_sha256(a) != portability.tree_sha256(b)
    assert portability.tree_sha256({"w": np.ones((3, 2), np.float32)}) != portability.tree_sha256(a)
