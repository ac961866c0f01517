"""`make bench --run` on a finished run's trained checkpoints runs (its numbers are measured,
never asserted)."""
import shutil

import pytest

pytestmark = pytest.mark.slow


def test_bench_on_trained_checkpoints(tiny_training, tmp_path, capsys):
    from retland.bench import bench_run

    d = tmp_path / "train" / "hopper" / "td3"
    d.mkdir(parents=True)
    shutil.copy(tiny_training["paths"][0], d / "seed0.h5")
    assert bench_run(str(tmp_path), ["td3"], n=4, horizon=20, repeats=1) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("hopper")]
    assert len(row) == 1 and row[0].split()[1:3] == ["td3", "200"]
    with pytest.raises(SystemExit, match="no TD3/SAC training files"):
        bench_run(str(tmp_path), ["sac"], n=4, horizon=20, repeats=1)


def test_rejax_rows_say_how_to_install_rejax(monkeypatch, capsys):
    from retland.bench import bench_rejax

    monkeypatch.setenv("RETLAND_REJAX_PYTHON", "/nonexistent/python")
    assert bench_rejax(("td3",), rounds=1) == {}
    assert "rejax not installed: make bench-rejax-venv" in capsys.readouterr().out


def test_short_episode_rows_and_profile_run(capsys):
    """The short-episode estimator rows and the profile (docs/profile.md) run; their numbers
    are printed, never asserted on."""
    from retland import profiling
    from retland.bench import bench_short_episodes

    out = bench_short_episodes(["td3"], n=4, horizon=10, repeats=1, replay_rows=1000)
    assert out["td3"][2] == 10.0  # hopper without termination: every rollout runs the horizon
    got = profiling.profile_training("td3", k=10, repeats=1, hidden=(16, 16))
    assert got["chunk_us"] > 0 and "critic step" in got["parts"]
    est = profiling.profile_estimator("td3", n=4, horizon=10, repeats=1, rows=1000)
    assert 0 < est["ceiling"] <= 1
    text = capsys.readouterr().out
    assert "short episodes" in text and "whole chunk" in text and "ratio cannot pass" in text


def test_bench_dmc_rows_run(capsys):
    """The DMC rows (E10): estimator vs bare host rollout, env-steps/s vs a plain loop, and
    host-stepped training; printed, never asserted on their values."""
    from retland.bench import bench_dmc

    assert bench_dmc("quadruped-walk", ["td3"], n=4, horizon=10, repeats=1, workers=2, seeds_list=[1],
                     train_steps=10) == 0
    out = capsys.readouterr().out
    assert "plain loop" in out and "vs plain loop" in out
    assert any(line.split()[:2] == ["td3", "4"] for line in out.splitlines())
    assert any(line.split()[:3] == ["td3", "1", "seed(s):"] for line in out.splitlines())


def test_bench_atari_rows_run(capsys):
    """The Atari rows (E11): PatchConv vs nn.Conv, estimator vs bare host rollout, training
    frames/s; printed, never asserted on their values."""
    from retland.bench import bench_atari

    tiny = {"cnn_channels": [4, 8, 8], "cnn_dense": 16, "num_envs": 2, "unroll_length": 8, "num_minibatches": 2,
            "epochs": 1}
    assert bench_atari("pong", n=2, horizon=10, repeats=1, workers=1, seeds_list=[1], train_iters=1,
                       overrides=tiny) == 0
    out = capsys.readouterr().out
    assert "PatchConv" in out and "nn.Conv" in out and "speed-up" in out
    assert "estimator" in out and "bare rollout" in out and "frames/s per seed" in out
