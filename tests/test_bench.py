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
