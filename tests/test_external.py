"""Checkpoints trained elsewhere -> training files (retland.external, issue 24): the three
formats, the checks against the task (wrong observation or action size, NaN parameters, a
missing apply function, a checkpoint of another task, mixed architectures), nothing written
on error, and the file the analyses read (the external agent's state, template and
post-update)."""

import json
import os

import h5py
import numpy as np
import pytest

from retland.external import ExternalError, as_tree, import_checkpoints, load_params

APPLY = "retland.policies:flax_mlp"


def _import(tmp_path, ckpt, **kw):
    args = dict(name="mine", env="hopper", fmt="flax", apply=APPLY, apply_kwargs={"hidden": [64, 64]},
                checkpoints={100: ckpt["paths"][0], 200: ckpt["paths"][1]}, seed=3,
                out_h5=str(tmp_path / "seed3.h5"), episode_length=50, log=lambda m: None)
    args.update(kw)
    return import_checkpoints(**args)


def test_a_flax_checkpoint_becomes_a_training_file_the_analyses_read(tmp_path, flax_mlp_checkpoints):
    import jax
    import jax.numpy as jnp

    from retland.jobs.sources import CheckpointSource
    from retland.policies import flax_mlp
    from retland.rollout import make_rollout

    out = _import(tmp_path, flax_mlp_checkpoints, perturb="kernel", noise_scale=0.05)
    with h5py.File(tmp_path / "seed3.h5") as f:
        assert f.attrs["format"] == "retland.train/1" and f.attrs["complete"]
        assert f.attrs["algo"] == "mine" and f.attrs["agent"] == "external" and int(f.attrs["seed"]) == 3
        assert json.loads(f.attrs["checkpoint_steps"]) == [100, 200]
        src = json.loads(f.attrs["source_files"])
        assert src["100"]["path"] == os.path.abspath(flax_mlp_checkpoints["paths"][0]) and len(src["100"]["sha256"]) == 64
        assert f["replay/obs"].shape == (0, 11) and list(f["learning_curve/step"][()]) == [100, 200]
    src = CheckpointSource(str(tmp_path / "seed3.h5"))
    theta, (lo, hi) = src.checkpoint(200)
    assert (lo, hi) == (0, 0) and src.replay is None
    with open(flax_mlp_checkpoints["paths"][1], "rb") as f:
        from flax import serialization

        saved = serialization.msgpack_restore(f.read())
    np.testing.assert_array_equal(theta["params"]["Dense_2"]["kernel"], saved["params"]["Dense_2"]["kernel"])
    # the learning curve is the deterministic return of each checkpoint from s_I
    rollout = make_rollout(src.env, lambda p, o: flax_mlp(p, o, hidden=(64, 64)), 50)
    ret, _ = jax.jit(rollout)(theta, src.env.reference_state())
    assert out["returns"][1] == pytest.approx(float(ret), rel=1e-5)
    # post-update: only the kernels move, by sigma-sized steps
    new = src.agent.post_update(theta, jax.random.PRNGKey(0), None, 0, 0, src.cfg, src.env)
    d_kernel = np.asarray(new["params"]["Dense_0"]["kernel"] - theta["params"]["Dense_0"]["kernel"])
    assert 0.03 < d_kernel.std() < 0.07
    np.testing.assert_array_equal(new["params"]["Dense_0"]["bias"], theta["params"]["Dense_0"]["bias"])
    assert jnp.asarray(new["params"]["Dense_0"]["kernel"]).dtype == jnp.float32


def test_orbax_and_brax_checkpoints_load(orbax_checkpoint, brax_ppo_checkpoints):
    a = as_tree(load_params(orbax_checkpoint["path"], "orbax"))
    b = as_tree(load_params(orbax_checkpoint["paths"][0], "flax"))
    np.testing.assert_array_equal(a["params"]["Dense_0"]["kernel"], b["params"]["Dense_0"]["kernel"])
    ppo = as_tree(load_params(brax_ppo_checkpoints["paths"][0], "brax"))
    assert set(ppo) == {"0", "1", "2"} and "mean" in ppo["0"]  # (normaliser, policy, value)


@pytest.mark.parametrize("change, message", [
    (dict(env="walker2d"), r"fails on an observation of size 17 \(brax task walker2d\)"),
    (dict(apply="retland.policies:no_such"), r"module 'retland.policies' has no 'no_such'"),
    (dict(apply="no_such_module:apply"), r"module 'no_such_module' cannot be imported"),
    (dict(apply="flax_mlp"), r"not named as module:function"),
    (dict(fmt="brax"), r"not a readable brax checkpoint"),
    (dict(fmt="pickle"), r"unknown checkpoint format 'pickle'"),
    (dict(name="td3"), r"taken by a built-in agent"),
    (dict(perturb="no_leaf_matches"), r"perturb pattern 'no_leaf_matches' matches no floating parameter leaf"),
    (dict(checkpoints={}), r"no checkpoints given"),
])
def test_bad_inputs_are_named_and_write_nothing(tmp_path, flax_mlp_checkpoints, change, message):
    with pytest.raises(ExternalError, match=message):
        _import(tmp_path, flax_mlp_checkpoints, **change)
    assert os.listdir(tmp_path) == []


def test_a_policy_of_the_wrong_action_size_is_refused(tmp_path, tmp_path_factory, monkeypatch, flax_mlp_checkpoints):
    mod = tmp_path_factory.mktemp("mod")
    (mod / "wrong_act.py").write_text("def apply(params, obs):\n    return obs[:2]\n")
    monkeypatch.syspath_prepend(str(mod))
    with pytest.raises(ExternalError, match=r"returns \(2,\) for one observation; task hopper takes actions of shape \(3,\)"):
        _import(tmp_path, flax_mlp_checkpoints, apply="wrong_act:apply", apply_kwargs={})
    assert os.listdir(tmp_path) == []


def test_nan_parameters_and_mixed_architectures_are_refused(tmp_path, flax_mlp_checkpoints):
    from flax import serialization

    with open(flax_mlp_checkpoints["paths"][0], "rb") as f:
        params = serialization.msgpack_restore(f.read())
    bias = np.array(params["params"]["Dense_1"]["bias"])
    bias[2] = np.nan
    params["params"]["Dense_1"]["bias"] = bias
    bad = tmp_path / "nan.msgpack"
    bad.write_bytes(serialization.msgpack_serialize(params))
    out = tmp_path / "out"
    with pytest.raises(ExternalError, match=r"parameter 'params/Dense_1/bias' has 1 non-finite values"):
        _import(out, flax_mlp_checkpoints, checkpoints={1: str(bad)}, out_h5=str(out / "s.h5"))
    params["params"]["Dense_1"]["bias"] = np.zeros_like(bias)
    params["params"]["extra"] = {"w": np.zeros(3, np.float32)}
    other = tmp_path / "other.msgpack"
    other.write_bytes(serialization.msgpack_serialize(params))
    with pytest.raises(ExternalError, match=r"checkpoint at step 2 differs from step 1 in \['params/extra/w'\]"):
        _import(out, flax_mlp_checkpoints, checkpoints={1: flax_mlp_checkpoints["paths"][0], 2: str(other)},
                out_h5=str(out / "s.h5"))
    assert not out.exists() or os.listdir(out) == []


def test_external_config_errors_name_the_key(tmp_path):
    import copy

    import yaml

    from retland.config import ConfigError, validate

    base = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "config", "config.yaml")))
    ck = tmp_path / "a.msgpack"
    ck.write_bytes(b"x")
    good = {"env": "hopper", "format": "flax", "apply": APPLY,
            "checkpoints": [{"seed": 0, "step": 1, "path": str(ck)}, {"seed": 1, "step": 1, "path": str(ck)}]}
    validate({**copy.deepcopy(base), "external": {"mine": good}})
    cases = [
        ({"td3": good}, r"'external.td3': the name must be an identifier and not a built-in agent's"),
        ({"mine": {**good, "env": "walker2d"}}, r"'external.mine.env': 'walker2d' is not among the config's envs"),
        ({"mine": {**good, "format": "npz"}}, r"'external.mine.format'"),
        ({"mine": {**good, "apply": "fn"}}, r"'external.mine.apply': 'fn' is not named as module:function"),
        ({"mine": {**good, "checkpoints": [{"seed": 0, "step": 1, "path": "/nope"}]}}, r"file '/nope' .* does not exist"),
        ({"mine": {**good, "checkpoints": good["checkpoints"] + [{"seed": 0, "step": 2, "path": str(ck)}]}},
         r"every seed must have the same steps"),
    ]
    for ext, message in cases:
        with pytest.raises(ConfigError, match=message):
            validate({**copy.deepcopy(base), "external": ext})
    # analyses pointed at the external agent: what it lacks is said before any job
    c = {**copy.deepcopy(base), "external": {"mine": good}}
    c["rejection"]["algo"] = "mine"
    with pytest.raises(ConfigError, match=r"'rejection.algo': mine lacks \['explore', 'full_update', 'replay_log'\]"):
        validate(c)
    c = {**copy.deepcopy(base), "external": {"mine": good}}
    c["landscape"]["pair"] = [{"seed": 0, "step": 1}, {"seed": 0, "step": 5}]
    c["landscape"]["algo"] = "mine"
    with pytest.raises(ConfigError, match=r"'landscape.pair': mine has no checkpoint at seed 0, step 5"):
        validate(c)
    c = {**copy.deepcopy(base), "algos": []}
    with pytest.raises(ConfigError, match=r"nothing to analyse"):
        validate(c)
