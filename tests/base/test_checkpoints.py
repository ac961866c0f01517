"""HDF5 contracts: round trips, truncated/corrupt/incomplete files, atomic writes."""

import os

import h5py
import jax
import numpy as np
import pytest

from retland.base import checkpoints as C
from retland.base.atomic import atomic_path, write_text


def test_post_update_round_trip_and_attrs(tmp_path):
    p = str(tmp_path / "step10.h5")
    C.write_post_update(p, np.array([1.0, 2.0, np.nan]), np.array([10, 20, 5]),
                        {"n_samples": 3, "horizon": 1000, "update_kind": "td3_actor_step", "provenance": {"a": 1}})
    r, l, a = C.read_post_update(p)
    assert r.dtype == np.float64 and l.dtype == np.int32
    np.testing.assert_array_equal(l, [10, 20, 5])
    assert np.isnan(r[2]) and a["horizon"] == 1000 and a["format"] == C.POST_UPDATE_FORMAT
    assert os.listdir(tmp_path) == ["step10.h5"]


def test_truncated_file_is_refused_with_its_name(tmp_path):
    p = str(tmp_path / "step10.h5")
    C.write_post_update(p, np.arange(100.0), np.arange(100), {"n_samples": 100})
    data = open(p, "rb").read()
    open(p, "wb").write(data[: len(data) // 2])
    with pytest.raises(C.CheckpointError, match="step10.h5"):
        C.read_post_update(p)


def test_garbage_missing_and_incomplete_files(tmp_path):
    p = str(tmp_path / "x.h5")
    open(p, "w").write("not hdf5")
    with pytest.raises(C.CheckpointError, match="not a readable HDF5"):
        C.read_post_update(p)
    with pytest.raises(C.CheckpointError, match="does not exist"):
        C.read_post_update(str(tmp_path / "missing.h5"))
    q = str(tmp_path / "inc.h5")
    with h5py.File(q, "w") as f:
        f.attrs["format"] = C.POST_UPDATE_FORMAT
        f["returns"] = np.zeros(3)
    with pytest.raises(C.CheckpointError, match="incomplete"):
        C.read_post_update(q)
    with h5py.File(q, "a") as f:
        f.attrs["complete"] = True
        f.attrs["format"] = "something/else"
    with pytest.raises(C.CheckpointError, match="format"):
        C.read_post_update(q)


def test_wrong_length_is_refused(tmp_path):
    p = str(tmp_path / "s.h5")
    C.write_post_update(p, np.zeros(4), np.zeros(4), {"n_samples": 5})
    with pytest.raises(C.CheckpointError, match="expected 5 returns"):
        C.read_post_update(p)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    p = str(tmp_path / "s.h5")
    C.write_post_update(p, np.ones(3), np.ones(3), {"n_samples": 3})
    before = open(p, "rb").read()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(RuntimeError):
        C.write_post_update(p, np.zeros(3), np.zeros(3), {"n_samples": 3})
    assert open(p, "rb").read() == before  # the old complete file is untouched
    assert os.listdir(tmp_path) == ["s.h5"]  # no temporary left behind
    with pytest.raises(RuntimeError):
        with atomic_path(str(tmp_path / "t.txt")) as tmp:
            open(tmp, "w").write("partial")
            raise RuntimeError("killed")
    assert sorted(os.listdir(tmp_path)) == ["s.h5"]
    write_text(str(tmp_path / "ok.txt"), "x")
    assert open(tmp_path / "ok.txt").read() == "x"


def test_pytree_round_trip_and_shape_check(tmp_path):
    from retland.agents.td3 import agent as td3

    cfg = td3.TD3Config(hidden=(8,))
    state = td3.init(jax.random.PRNGKey(0), 3, 2, cfg)
    with h5py.File(tmp_path / "p.h5", "w") as f:
        C.write_pytree(f.create_group("s"), state)
    template = jax.eval_shape(lambda k: td3.init(k, 3, 2, cfg), jax.random.PRNGKey(0))
    with h5py.File(tmp_path / "p.h5", "r") as f:
        back = C.read_pytree(f["s"], template, where="p.h5")
        for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(back)):
            np.testing.assert_array_equal(np.asarray(a), b)
        wrong = jax.eval_shape(lambda k: td3.init(k, 4, 2, cfg), jax.random.PRNGKey(0))
        with pytest.raises(C.CheckpointError, match="shape"):
            C.read_pytree(f["s"], wrong, where="p.h5")
