"""Headless rendering of gait / misstep frames (paper Fig. 1, 4): non-blank images.
(conftest.py chose MuJoCo's GL backend before anything imported mujoco.)"""
import numpy as np
import pytest

from retland.base import render as R


@pytest.fixture(scope="module")
def hopper_poses():
    import jax

    from retland.base.envs import make_env

    env = make_env("hopper", "spring", episode_length=50)
    s = env.reference_state()
    return env, [R.pose_of(s.pipeline_state), R.pose_of(jax.jit(env.step)(s, jax.numpy.ones(3)).pipeline_state)]


def _check(frames, h, w):
    assert frames.dtype == np.uint8 and frames.shape == (2, h, w, 3)
    for f in frames:
        assert f.std() > 0 and not R.is_blank(f)


def test_fallback_renderer_draws_the_robot(hopper_poses):
    env, poses = hopper_poses
    frames, name = R.render(env.sys, poses, 80, 60, renderer="fallback")
    assert name == "fallback"
    _check(frames, 60, 80)
    # the robot's colour is present (not only sky and ground)
    robot = np.all(np.abs(frames[0].astype(int) - [0xC9, 0x76, 0x2F]) < 30, axis=-1)
    assert robot.sum() > 20


def test_active_renderer_is_not_blank(hopper_poses):
    env, poses = hopper_poses
    frames, name = R.render(env.sys, poses, 64, 48, log=lambda m: None)
    assert name == ("mujoco" if R.mujoco_available() else "fallback")
    _check(frames, 48, 64)


def test_render_errors_and_blank_detection(hopper_poses):
    env, poses = hopper_poses
    with pytest.raises(ValueError, match="no poses"):
        R.render(env.sys, [], 8, 8)
    with pytest.raises(ValueError, match="unknown renderer"):
        R.render(env.sys, poses, 8, 8, renderer="vulkan")
    assert R.is_blank(np.zeros((4, 4, 3), np.uint8))
    assert not R.is_blank(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
