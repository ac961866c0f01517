"""The public Python API (retland.api, exported lazily from retland): the paper's lenses on a
plain flax MLP policy on Brax hopper, checked against direct rollouts of the same parameters."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import retland
from retland import stats as S

H = 50  # horizon (and episode length) of every rollout here


def mlp(hidden: int = 8, out: int = 3):
    import flax.linen as nn

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.tanh(nn.Dense(out)(nn.tanh(nn.Dense(hidden)(x))))

    return MLP()


@pytest.fixture(scope="module")
def setting(jax_cache):
    """The policy (two parameter sets of one MLP), the task, and the direct deterministic
    returns of both: the deterministic rollout of the analyses (``analyses.failures``'
    re-simulator, what ``failure_anatomy`` runs: the test run's compilation cache serves it
    there), on a Source made here, not through the API."""
    from types import SimpleNamespace

    from retland.analyses.failures import make_resimulator
    from retland.analyses.source import Source
    from retland.base.envs import make_env

    model = mlp()
    pa = model.init(jax.random.PRNGKey(0), jnp.zeros(11))
    pb = model.init(jax.random.PRNGKey(1), jnp.zeros(11))
    env = retland.environment("hopper", backend="spring", episode_length=H)
    direct = make_resimulator(Source(SimpleNamespace(make_policy=lambda act_dim, cfg: model.apply), env, None), H)
    start = make_env("hopper", "spring", H).reference_state()

    def returns(*params):
        """Returns and lengths of 1 or 2 parameter sets (always a batch of 2: one compiled shape)."""
        batch = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *(params * 2)[:2])
        r, l, _, _ = direct(batch, start)
        return np.asarray(r, np.float64)[: len(params)], np.asarray(l)[: len(params)]

    (ra, rb), (la, lb) = returns(pa, pb)
    return {"apply": model.apply, "pa": pa, "pb": pb, "env": env, "ra": ra, "rb": rb, "la": la, "lb": lb,
            "returns": returns}


def test_import_retland_is_jax_free_and_exports_the_api_lazily():
    code = ("import sys, retland; assert 'jax' not in sys.modules and 'retland.api' not in sys.modules; "
            "f = retland.post_update_distribution; assert 'retland.api' in sys.modules; "
            "assert 'matplotlib' not in sys.modules, 'the figures load on first use'; "
            "print(retland.__version__, f.__name__)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [retland.__version__, "post_update_distribution"]
    from retland import api

    assert set(api.__all__) == set(retland._API) <= set(dir(retland))
    with pytest.raises(AttributeError):
        retland.no_such_name  # noqa: B018


def test_post_update_with_no_noise_or_nothing_perturbed_is_the_deterministic_return(setting):
    s = setting
    policy = retland.Policy(s["apply"], s["pa"])
    r, l = retland.post_update_distribution(policy, s["env"], n_samples=6, horizon=H, sigma=0.0, chunk_size=4)
    assert r.dtype == np.float64 and l.dtype == np.int32 and r.shape == l.shape == (6,)
    # the direct rollout is another compiled function (batch of 2): equal up to float rounding
    np.testing.assert_allclose(r, np.full(6, s["ra"]), rtol=1e-5)
    assert len(set(r)) == 1
    np.testing.assert_array_equal(l, np.full(6, s["la"]))
    # a mask that excludes every leaf: even a large sigma changes nothing
    nothing = jax.tree_util.tree_map(lambda x: False, s["pa"])
    r0, _ = retland.post_update_distribution(retland.Policy(s["apply"], s["pa"], perturb=nothing), s["env"],
                                             n_samples=4, horizon=H, sigma=0.5)
    np.testing.assert_array_equal(r0, np.full(4, r[0]))


def test_post_update_returns_are_the_returns_of_the_perturbed_parameters(setting):
    """Each sample's return is the direct rollout of its parameters (post_update_params), only
    the masked leaves move, and the same key gives the same distribution (no recompilation
    across sigma: the same compiled estimator served the sigma = 0 test)."""
    s = setting
    policy = retland.Policy(s["apply"], s["pa"], perturb=r"Dense_0/")  # first layer only
    kw = dict(n_samples=8, horizon=H, sigma=0.05, key=3, chunk_size=4)  # chunks of 4: the shape compiled above
    r, l = retland.post_update_distribution(policy, s["env"], **kw)
    assert np.std(r) > 0 and np.isfinite(r).all() and ((l >= 1) & (l <= H)).all()
    np.testing.assert_array_equal(retland.post_update_distribution(policy, s["env"], **kw)[0], r)
    thetas = [retland.post_update_params(policy, index=i, n_samples=8, key=3, sigma=0.05) for i in (0, 4)]
    for theta in thetas:
        layers = theta["params"]
        assert not np.array_equal(layers["Dense_0"]["kernel"], s["pa"]["params"]["Dense_0"]["kernel"])
        np.testing.assert_array_equal(layers["Dense_1"]["kernel"], s["pa"]["params"]["Dense_1"]["kernel"])
    direct, _ = s["returns"](*thetas)
    np.testing.assert_allclose(direct, r[[0, 4]], rtol=1e-5)


def test_return_statistics_has_the_workflow_columns(setting):
    rng = np.random.default_rng(0)
    returns = np.concatenate([rng.normal(100, 5, 60), [1.0, 2.0, np.nan]])
    df = retland.return_statistics(returns, np.full(63, 40), n_boot=50, seed=1)
    assert len(df) == 1
    expected = S.summarize(returns, n_boot=50, seed=1, cvar_alpha=0.1)
    # stats/post_update.csv's statistics (docs/file-formats.md), in its order
    cols = ["mean_length", "n", "n_nonfinite", "mean", "std", "skewness", "mode", "ltp", "ltp_all", "cvar_0.1"]
    assert list(df.columns[: len(cols)]) == cols
    for stat in ("mean", "std", "skewness", "mode", "ltp", "cvar_0.1"):
        assert {f"{stat}_boot_mean", f"{stat}_lo", f"{stat}_hi"} <= set(df.columns)
    assert df.iloc[0].drop("mean_length").to_dict() == pytest.approx(expected, nan_ok=True)
    assert df.loc[0, "n_nonfinite"] == 1 and df.loc[0, "mean_length"] == 40


def test_landscape_map(setting, tmp_path):
    s = setting
    policy = retland.Policy(s["apply"], s["pa"])
    chunk = dict(chunk_size=4)  # every map below in chunks of 4 points: one compiled evaluator
    m = retland.landscape_map(policy, s["env"], grid=3, extent=2.0, horizon=H, sigma=0.05, key=1, **chunk)
    np.testing.assert_array_equal(m["alphas"], [-2.0, 0.0, 2.0])
    assert m["returns"].shape == m["lengths"].shape == (3, 3) and len(m["table"]) == 9
    assert m["returns"][1, 1] == m["return_theta0"] == s["ra"]  # (0, 0) is theta: bit for bit
    assert m["lengths"][1, 1] == s["la"]
    assert len(np.unique(m["returns"])) > 1
    row = m["table"].query("alpha == 2.0 and beta == -2.0").iloc[0]
    assert row["return"] == m["returns"][2, 0]
    # the user's own update u(theta, X) and explicit directions, on the same compiled map
    scale = lambda p, k: jax.tree_util.tree_map(lambda x: x * 1.5, p)  # noqa: E731
    m2 = retland.landscape_map(policy, s["env"], grid=2, extent=1.0, horizon=H, update=scale, **chunk)
    scaled = jax.tree_util.tree_map(lambda x: x * 1.5, s["pa"])
    assert m2["return_theta1"] == pytest.approx(float(s["returns"](scaled)[0][0]), rel=1e-5)
    # explicit directions: (1, 0) is theta_a + (theta_b - theta_a), (0, 1) theta_a
    d1 = jax.tree_util.tree_map(lambda a, b: b - a, s["pa"], s["pb"])
    zero = jax.tree_util.tree_map(jnp.zeros_like, s["pa"])
    m3 = retland.landscape_map(policy, s["env"], directions=(d1, zero), grid=2, horizon=H, **chunk)
    assert m3["return_theta1"] == pytest.approx(s["rb"], rel=1e-4)
    assert m3["return_theta2"] == pytest.approx(s["ra"], rel=1e-5)
    retland.plot_landscape(m, tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 0


def test_interpolation_path(setting, tmp_path):
    s = setting
    paths, btp = retland.interpolation_path(s["pa"], s["pb"], s["apply"], s["env"], n_points=4, n_perturbations=2,
                                            sigma=0.0, horizon=H, chunk_size=4)
    assert list(paths["alpha"]) == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert paths["return"].iloc[-1] == s["ra"] and paths["return"].iloc[0] == s["rb"]  # a = 1: theta_a
    np.testing.assert_array_equal(paths["purd_mean"], paths["return"])  # sigma 0: every perturbation is the point
    assert (paths["purd_std"] == 0).all() and (paths["n_perturbations"] == 2).all()
    inner = paths["purd_mean"].to_numpy()[1:-1]
    assert btp == pytest.approx(np.mean(inner < 0.1 * min(s["ra"], s["rb"])))
    assert paths.attrs["return_a"] == s["ra"] and paths.attrs["return_b"] == s["rb"]
    retland.plot_interpolation(paths, tmp_path / "fig05.png", env="hopper", out_purd_png=tmp_path / "fig08.png")
    assert (tmp_path / "fig05.png").exists() and (tmp_path / "fig08.png").exists()


def test_failure_anatomy(setting):
    s = setting
    table, misstep = retland.failure_anatomy(s["apply"], s["env"], failing_params=s["pb"], success_params=s["pa"],
                                             horizon=H)
    assert list(table.columns) == ["t", "reward_success", "reward_failing", "return_success", "return_failing"]
    assert len(table) == H and list(table["t"][:2]) == [1, 2]
    assert table["return_success"].iloc[-1] == pytest.approx(s["ra"], rel=1e-5)
    assert table["return_failing"].iloc[-1] == pytest.approx(s["rb"], rel=1e-5)
    assert table.attrs["length_failing"] == s["lb"] and 0 <= misstep < H
    assert (table["reward_failing"].iloc[int(s["lb"]):] == 0).all()  # nothing after termination


def test_plot_post_update_feeds_the_fig02_histograms(tmp_path):
    rng = np.random.default_rng(0)
    retland.plot_post_update({"a": rng.normal(size=50), "b": rng.normal(size=50)}, tmp_path / "h.png", env="hopper")
    assert (tmp_path / "h.png").stat().st_size > 0
    from retland.plots.post_update import fig02_histograms

    assert retland.fig02_histograms is fig02_histograms  # the workflow's figure, re-exported


def test_a_policy_that_does_not_fit_the_task_is_refused_before_any_rollout(setting):
    s = setting
    env = s["env"]
    small = mlp().init(jax.random.PRNGKey(0), jnp.zeros(5))  # a 5-dim observation
    with pytest.raises(ValueError, match="observation of size 11"):
        retland.post_update_distribution(retland.Policy(s["apply"], small), env, n_samples=2, horizon=H)
    two = mlp(out=2)
    with pytest.raises(ValueError, match=r"actions of shape \(3,\)"):
        retland.landscape_map(retland.Policy(two.apply, two.init(jax.random.PRNGKey(0), jnp.zeros(11))), env,
                              grid=2, horizon=H)
    nan = jax.tree_util.tree_map(lambda x: x, s["pa"])
    nan["params"]["Dense_1"]["bias"] = nan["params"]["Dense_1"]["bias"].at[0].set(jnp.nan)
    with pytest.raises(ValueError, match="Dense_1/bias.*non-finite"):
        retland.interpolation_path(s["pa"], nan, s["apply"], env, n_points=3, n_perturbations=1, horizon=H)
    with pytest.raises(ValueError, match="matches no floating parameter leaf"):
        retland.post_update_distribution(retland.Policy(s["apply"], s["pa"], perturb="^nope"), env, n_samples=2,
                                         horizon=H)
    with pytest.raises(ValueError, match="structure"):
        retland.Policy(s["apply"], s["pa"], perturb={"params": False}).mask()


def test_a_brax_env_object_of_the_users(setting):
    """A brax.envs.Env is wrapped as a JAX-stepped suite: its spec, s_I = reset(PRNGKey(0)) (or
    the user's), the policy check; what it cannot do it refuses by name."""
    from brax import envs as brax_envs
    from brax.envs.wrappers.training import VmapWrapper

    from retland.base.user_env import UserBraxEnv

    raw = brax_envs.get_environment("hopper", backend="spring")
    env = retland.environment(raw)
    assert isinstance(env, UserBraxEnv) and env is retland.environment(raw)  # one adapter per object
    assert (env.spec.obs_dim, env.spec.act_dim, env.spec.suite) == (11, 3, "brax")
    start = env.reference_state()
    assert start.obs.shape == (11,) and env.reference_state() is start  # reset(PRNGKey(0)), once
    retland.Policy(setting["apply"], setting["pa"]).check(env)
    mine = retland.environment(raw, reference_state=start, name="my_hopper", episode_length=H)
    assert mine.reference_state() is start and mine.spec.name == "my_hopper"
    with pytest.raises(NotImplementedError, match="cannot rebuild a simulator state"):
        env.state_from_obs(start.obs)
    with pytest.raises(ValueError, match="VmapWrapper"):
        UserBraxEnv(VmapWrapper(raw, batch_size=2))
    with pytest.raises(TypeError, match="task name, a brax.envs.Env or a suite"):
        retland.environment(3)
