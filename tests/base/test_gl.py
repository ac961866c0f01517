"""MuJoCo's GL backend is chosen, never assumed (issue 10): with libOSMesa missing, every
MUJOCO_GL value a user may have set still lets jobs import brax, and frames come from the
fallback renderer."""

import os
import subprocess
import sys

import pytest

from no_osmesa import without_osmesa
from retland.base import gl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def fresh(monkeypatch):
    """As in a new process: mujoco not imported yet, MUJOCO_GL unset."""
    monkeypatch.delitem(sys.modules, "mujoco", raising=False)
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    return monkeypatch


@pytest.mark.parametrize("user, render, loadable, expected, warns", [
    (None, False, False, "", False),          # simulation only: nothing is set
    (None, True, False, "disable", False),    # frames wanted, no library: fallback renderer
    (None, True, True, "osmesa", False),      # frames wanted, library loads: MuJoCo frames
    ("osmesa", False, False, "disable", True),  # a value that would make `import mujoco` raise
    ("osmesa", True, True, "osmesa", False),
    ("egl", True, False, "egl", False),       # the user's own choice is respected
    ("disable", True, True, "disable", False),
])
def test_configure_mujoco_gl(fresh, user, render, loadable, expected, warns):
    if user is not None:
        fresh.setenv("MUJOCO_GL", user)
    fresh.setattr(gl, "osmesa_status", lambda: (loadable, "libOSMesa not found (test)"))
    said = []
    assert gl.configure_mujoco_gl(render=render, log=said.append) == expected
    assert os.environ.get("MUJOCO_GL", "") == expected
    assert bool(said) == warns and all("libOSMesa not found (test)" in m for m in said)


def test_too_late_once_mujoco_is_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco", object())
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    monkeypatch.setattr(gl, "osmesa_status", lambda: (False, "x"))
    assert gl.configure_mujoco_gl(render=True) == "osmesa" and os.environ["MUJOCO_GL"] == "osmesa"


JOB = """
import os
from retland.base.gl import osmesa_status
assert not osmesa_status()[0], "libOSMesa is still loadable: " + osmesa_status()[1]
from retland.runtime import setup_jax
setup_jax(render={render})
import brax.envs  # imports mujoco with the MUJOCO_GL now in force
from retland.base import render as R
from retland.base.envs import make_env
env = make_env("hopper", "spring", episode_length=10)
frames, name = R.render(env.sys, [R.pose_of(env.reference_state().pipeline_state)], 32, 24)
assert frames.shape == (1, 24, 32, 3) and not R.is_blank(frames[0])
print("RESULT", os.environ.get("MUJOCO_GL", ""), name)
"""


@pytest.mark.parametrize("user, render, expected_gl, renderers", [
    (None, True, "disable", ["fallback"]), ("osmesa", True, "disable", ["fallback"]),
    ("osmesa", False, "disable", ["fallback"]), ("disable", True, "disable", ["fallback"]),
    ("egl", True, "egl", ["mujoco", "fallback"]),  # EGL is not OSMesa: it may or may not work here
])
def test_jobs_work_without_libosmesa(user, render, expected_gl, renderers):
    """A real process in which libOSMesa cannot be loaded (hidden where installed)."""
    cmd = without_osmesa([sys.executable, "-c", JOB.format(render=render)])
    if cmd is None:
        pytest.skip("libOSMesa is installed and cannot be hidden here (needs root and unshare)")
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    if user is not None:
        env["MUJOCO_GL"] = user
    p = subprocess.run(cmd, env=dict(env, JAX_PLATFORMS="cpu"), capture_output=True, text=True, timeout=300,
                       cwd=REPO)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert any(f"RESULT {expected_gl} {r}" in p.stdout for r in renderers), p.stdout
    if user == "osmesa":
        assert "MUJOCO_GL=osmesa, but libOSMesa" in p.stdout + p.stderr  # the user is told why
