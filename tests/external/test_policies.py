"""``retland.policies``: the ready-made apply functions give exactly the actions of the
libraries that trained the policies, on real checkpoints (fixtures in ``tests/conftest.py``),
jitted and vmapped over parameters as the analyses call them."""

from __future__ import annotations

import copy
import functools
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def observations(n=32, dim=11, seed=0):
    """A batch of hopper-sized observations, spread wider than the normaliser's data."""
    return np.random.default_rng(seed).normal(0.0, 2.0, (n, dim)).astype(np.float32)


def stack(trees):
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *trees)


def brax_state_dicts(ckpt):
    import flax.serialization
    from brax.io import model

    raw = [model.load_params(p) for p in ckpt["paths"]]
    return raw, [flax.serialization.to_state_dict(r) for r in raw]


def brax_kwargs(ckpt):
    return {"policy_hidden_layer_sizes": ckpt["policy_hidden_layer_sizes"], "activation": ckpt["activation"],
            "normalize_observations": ckpt["normalize_observations"]}


# --- brax.training PPO -----------------------------------------------------------------------

def test_brax_ppo_is_brax_own_deterministic_inference(brax_ppo_checkpoints):
    import jax
    from flax import linen
    from brax.training.acme import running_statistics
    from brax.training.agents.ppo import networks as ppo_networks

    from retland.policies import brax_ppo

    ckpt = brax_ppo_checkpoints
    print(f"tiny brax PPO fixture: {ckpt['train_seconds']:.1f} s of ppo.train (with compilation)")
    raw, converted = brax_state_dicts(ckpt)
    assert set(converted[0]) == {"0", "1", "2"} and "mean" in converted[0]["0"]
    assert float(np.asarray(converted[0]["0"]["count"]["lo"])) > 0  # the normaliser has seen data

    networks = ppo_networks.make_ppo_networks(
        ckpt["obs_dim"], ckpt["act_dim"], preprocess_observations_fn=running_statistics.normalize,
        policy_hidden_layer_sizes=ckpt["policy_hidden_layer_sizes"],
        value_hidden_layer_sizes=ckpt["value_hidden_layer_sizes"], activation=linen.swish)
    make_policy = ppo_networks.make_inference_fn(networks)
    obs = observations(dim=ckpt["obs_dim"])
    key = jax.random.PRNGKey(0)
    expected = np.stack([np.asarray(jax.jit(make_policy(p, deterministic=True))(obs, key)[0]) for p in raw])
    assert expected.shape == (2, len(obs), ckpt["act_dim"])
    assert not np.allclose(expected[0], expected[1])  # two different checkpoints

    apply = functools.partial(brax_ppo, **brax_kwargs(ckpt))
    # unjitted, one checkpoint: the very same operations as brax's
    np.testing.assert_array_equal(np.asarray(apply(converted[0], obs)),
                                  np.asarray(make_policy(raw[0], deterministic=True)(obs, key)[0]))
    batched = np.asarray(jax.jit(jax.vmap(apply, in_axes=(0, None)))(stack(converted), obs))
    np.testing.assert_allclose(batched, expected, rtol=1e-6, atol=1e-6)
    assert np.all(np.abs(batched) <= 1.0)

    # one observation at a time, vmapped over the observations too (the rollouts' shape)
    single = jax.jit(jax.vmap(jax.vmap(apply, in_axes=(None, 0)), in_axes=(0, None)))(stack(converted), obs)
    np.testing.assert_allclose(np.asarray(single), expected, rtol=1e-6, atol=1e-6)


def test_brax_ppo_without_the_params_level_and_with_numpy_leaves(brax_ppo_checkpoints):
    import jax

    from retland.policies import brax_ppo

    ckpt = brax_ppo_checkpoints
    _, (converted, _) = brax_state_dicts(ckpt)
    as_numpy = jax.tree_util.tree_map(np.asarray, converted)
    flat = {**as_numpy, "1": as_numpy["1"]["params"]}
    obs = observations(8)
    a = brax_ppo(converted, obs, **brax_kwargs(ckpt))
    np.testing.assert_array_equal(np.asarray(brax_ppo(as_numpy, obs, **brax_kwargs(ckpt))), np.asarray(a))
    np.testing.assert_array_equal(np.asarray(brax_ppo(flat, obs, **brax_kwargs(ckpt))), np.asarray(a))


@pytest.mark.parametrize("noise_std_type, state_dependent_std", [("scalar", False), ("log", False),
                                                                 ("scalar", True)])
def test_brax_ppo_normal_distribution(brax_ppo_checkpoints, noise_std_type, state_dependent_std):
    """A ``distribution_type="normal"`` policy (brax's ``PolicyModuleWithStd``): freshly
    initialised, with the trained normaliser; the std layout is read off the keys."""
    import flax.serialization
    import jax
    from brax.training.acme import running_statistics
    from brax.training.agents.ppo import networks as ppo_networks

    from retland.policies import brax_ppo

    raw, _ = brax_state_dicts(brax_ppo_checkpoints)
    networks = ppo_networks.make_ppo_networks(
        11, 3, preprocess_observations_fn=running_statistics.normalize, policy_hidden_layer_sizes=(8, 8),
        value_hidden_layer_sizes=(8,), activation=jax.nn.tanh, distribution_type="normal",
        noise_std_type=noise_std_type, state_dependent_std=state_dependent_std)
    params = (raw[0][0], networks.policy_network.init(jax.random.PRNGKey(3)),
              networks.value_network.init(jax.random.PRNGKey(4)))
    obs = observations(16)
    expected = ppo_networks.make_inference_fn(networks)(params, deterministic=True)(obs, jax.random.PRNGKey(0))[0]
    got = jax.jit(functools.partial(brax_ppo, policy_hidden_layer_sizes=(8, 8), activation="tanh",
                                    distribution_type="normal"))(flax.serialization.to_state_dict(params), obs)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("path, name", [
    (("0", "mean"), "params['0']['mean']"),
    (("0", "std"), "params['0']['std']"),
    (("1", "params", "hidden_2"), "params['1']['params']['hidden_2']"),
    (("1", "params", "hidden_0", "kernel"), "params['1']['params']['hidden_0']['kernel']"),
    (("1",), "params['1']"),
])
def test_brax_ppo_names_a_missing_key(brax_ppo_checkpoints, path, name):
    from retland.policies import brax_ppo

    ckpt = brax_ppo_checkpoints
    _, (converted, _) = brax_state_dicts(ckpt)
    broken = copy.deepcopy(converted)
    node = broken
    for k in path[:-1]:
        node = node[k]
    del node[path[-1]]
    with pytest.raises(ValueError) as e:
        brax_ppo(broken, observations(4), **brax_kwargs(ckpt))
    assert name in str(e.value) and repr(path[-1]) in str(e.value)


def test_brax_ppo_names_the_layer_a_wrong_architecture_misses(brax_ppo_checkpoints):
    from retland.policies import brax_ppo

    ckpt = brax_ppo_checkpoints
    _, (converted, _) = brax_state_dicts(ckpt)
    kwargs = {**brax_kwargs(ckpt), "policy_hidden_layer_sizes": (16, 16, 16)}  # one layer too many
    with pytest.raises(ValueError, match=r"params\['1'\]\['params'\]\['hidden_3'\]"):
        brax_ppo(converted, observations(4), **kwargs)
    kwargs = {**brax_kwargs(ckpt), "policy_hidden_layer_sizes": (32, 32)}  # brax's default widths
    with pytest.raises(ValueError, match=r"hidden layers are \(16, 16\)"):
        brax_ppo(converted, observations(4), **kwargs)
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        brax_ppo(converted, observations(4), **{**brax_kwargs(ckpt), "activation": "swishy"})


# --- a plain flax MLP ------------------------------------------------------------------------

def mlp_state_dicts(paths):
    import flax.serialization

    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(flax.serialization.msgpack_restore(f.read()))
    return out


def mlp_kwargs(ckpt):
    return {"hidden": ckpt["hidden"], "activation": ckpt["activation"], "final": ckpt["final"]}


def test_flax_mlp_is_the_module_that_made_the_params(flax_mlp_checkpoints):
    import jax

    from retland.policies import flax_mlp

    ckpt = flax_mlp_checkpoints
    converted = mlp_state_dicts(ckpt["paths"])
    assert set(converted[0]) == {"params"} and set(converted[0]["params"]) == {"Dense_0", "Dense_1", "Dense_2"}
    obs = observations(dim=ckpt["obs_dim"])
    expected = np.stack([np.asarray(jax.jit(ckpt["model"].apply)(c, obs)) for c in converted])
    assert expected.shape == (2, len(obs), ckpt["act_dim"]) and not np.allclose(expected[0], expected[1])

    apply = functools.partial(flax_mlp, **mlp_kwargs(ckpt))
    np.testing.assert_array_equal(np.asarray(apply(converted[0], obs)),
                                  np.asarray(ckpt["model"].apply(converted[0], obs)))
    batched = np.asarray(jax.jit(jax.vmap(apply, in_axes=(0, None)))(stack(converted), obs))
    np.testing.assert_allclose(batched, expected, rtol=1e-6, atol=1e-6)
    # the variables without their "params" level (a saved variables["params"])
    np.testing.assert_array_equal(np.asarray(apply(converted[1]["params"], obs)),
                                  np.asarray(apply(converted[1], obs)))
    assert np.all(np.abs(batched) <= 1.0)
    # the raw output: tanh dropped
    raw = flax_mlp(converted[0], obs, hidden=ckpt["hidden"], final=None)
    np.testing.assert_allclose(np.tanh(np.asarray(raw)), expected[0], rtol=1e-6, atol=1e-6)


def test_flax_mlp_from_an_orbax_checkpoint(orbax_checkpoint):
    import flax.serialization
    import orbax.checkpoint as ocp

    from retland.policies import flax_mlp

    ckpt = orbax_checkpoint
    restored = flax.serialization.to_state_dict(ocp.PyTreeCheckpointer().restore(ckpt["path"]))
    (variables,) = mlp_state_dicts(ckpt["paths"][:1])
    obs = observations(dim=ckpt["obs_dim"])
    np.testing.assert_array_equal(np.asarray(flax_mlp(restored, obs, **mlp_kwargs(ckpt))),
                                  np.asarray(ckpt["model"].apply(variables, obs)))


@pytest.mark.parametrize("drop, kwargs, name", [
    (("params", "Dense_2"), {}, "params['params']['Dense_2']"),
    (("params", "Dense_1", "bias"), {}, "params['params']['Dense_1']['bias']"),
    (("params", "Dense_0"), {}, "params['params']['Dense_0']"),
    ((), {"hidden": (64, 64, 64)}, "params['params']['Dense_3']"),
])
def test_flax_mlp_names_a_missing_key(flax_mlp_checkpoints, drop, kwargs, name):
    from retland.policies import flax_mlp

    ckpt = flax_mlp_checkpoints
    (broken,) = mlp_state_dicts(ckpt["paths"][:1])
    if drop:
        node = broken
        for k in drop[:-1]:
            node = node[k]
        del node[drop[-1]]
    with pytest.raises(ValueError) as e:
        flax_mlp(broken, observations(4), **{**mlp_kwargs(ckpt), **kwargs})
    assert name in str(e.value)


def test_flax_mlp_refuses_a_wider_or_deeper_checkpoint(flax_mlp_checkpoints):
    from retland.policies import flax_mlp

    (variables,) = mlp_state_dicts(flax_mlp_checkpoints["paths"][:1])
    with pytest.raises(ValueError, match=r"hidden=\(32, 32\) does not match .*hidden layers are \(64, 64\)"):
        flax_mlp(variables, observations(4), hidden=(32, 32))
    with pytest.raises(ValueError, match=r"hidden=\(64,\) does not match"):
        flax_mlp(variables, observations(4), hidden=(64,))
    with pytest.raises(ValueError, match="nested dicts"):
        flax_mlp([1, 2], observations(4))


def test_importing_the_module_imports_no_jax():
    code = "import sys, retland.policies; assert 'jax' not in sys.modules and 'flax' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": os.path.join(REPO, "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
