"""E11 (paper A.6, Fig. 19-21) around the Atari PPO agent: the CNN's patch convolutions,
the per-suite config sections, Fig. 19's host-stepped path evaluator (the E7 code) and the
Fig. 20 / 21 plots."""

import copy
import os

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from retland.agents import ppo
from retland.agents.ppo import agent as ppo_agent, networks as ppo_networks, state as ppo_state
from retland.config import ConfigError, agent_config, agent_overrides, settings_for, train_settings, validate
from test_config import merged

GAME = "pong"
TINY = dict(cnn_channels=[4, 8, 8], cnn_dense=16, num_envs=2, unroll_length=8, num_minibatches=2, epochs=1)


# --- the CNN ---------------------------------------------------------------------------

@pytest.mark.parametrize("k, s, cin, size", [(8, 4, 4, 84), (4, 2, 32, 20), (3, 1, 64, 9)])
def test_patch_convolution_is_flax_convolution(k, s, cin, size):
    """The Nature CNN's layers as patches x kernel compute nn.Conv's VALID convolution with
    the same parameters (also vmapped over parameters, as a batch of different policies)."""
    import flax.linen as nn

    from retland.agents.ppo.networks import PatchConv

    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 3, size, size, cin))
    mine = PatchConv(8, k, s)
    p = jax.vmap(lambda key: mine.init(key, x[0]))(jax.random.split(jax.random.PRNGKey(1), 2))
    ref = nn.Conv(8, (k, k), (s, s), padding="VALID")
    want = jax.vmap(lambda pp, xx: ref.apply(pp, xx))(p, x)
    got = jax.vmap(lambda pp, xx: mine.apply(pp, xx))(p, x)
    assert got.shape == want.shape == (2, 3, (size - k) // s + 1, (size - k) // s + 1, 8)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_cnn_width_is_configurable_and_checked():
    cfg = ppo.PPOConfig.from_dict({**ppo.SUITE_DEFAULTS["atari"], "anneal_lr_steps": 0, **TINY})
    actor, critic = ppo_networks.nets(cfg, 6).init(jax.random.PRNGKey(0), 84 * 84 * 4)
    torso = actor["torso"]["params"]
    assert [torso[f"Conv_{i}"]["kernel"].shape[-1] for i in range(3)] == [4, 8, 8]
    assert torso["Dense_0"]["kernel"].shape == (7 * 7 * 8, 16) and critic["params"]["kernel"].shape == (16, 1)
    with pytest.raises(ValueError, match="cnn_channels"):
        ppo.PPOConfig(actions="discrete", torso="nature_cnn", normalize_observations=False, cnn_channels=(4, 8))


# --- config: suites.<suite> and the atari section ------------------------------------

def test_suite_sections_override_only_their_suite():
    c = merged("appendix.yaml")
    validate(c)
    brax_like = settings_for(c, "quadruped-walk")
    atari = settings_for(c, "breakout")
    assert brax_like["train"]["total_steps"] == c["train"]["total_steps"] == 16000
    assert atari["train"]["total_steps"] == 12800 and atari["episode_length"] == 27000
    assert atari["post_update"]["n_samples"] == 16 and atari["post_update"]["sample_seed"] == 0
    assert train_settings(c, "ppo", "breakout")["checkpoints"] == [2560, 5120, 7680, 10240, 12800]
    # PPO on Atari: CleanRL's settings beneath the suite's overrides, annealed over the run
    cfg = agent_config(c, "ppo", "breakout")
    assert (cfg.torso, cfg.actions, cfg.num_envs, cfg.num_minibatches) == ("nature_cnn", "discrete", 8, 4)
    assert ppo.SUITE_DEFAULTS["atari"]["epochs"] == 4 and cfg.epochs == 2  # laptop scale: 2 epochs
    assert (cfg.learning_rate, cfg.clip_coef, cfg.ent_coef, cfg.vf_coef, cfg.max_grad_norm) == (2.5e-4, 0.1, 0.01, 0.5, 0.5)
    assert cfg.anneal_lr_steps == 10_000_000 and cfg.post_update_protocol == "authors_atari"  # the paper's schedule
    c2 = copy.deepcopy(c)
    c2["suites"]["atari"]["agents"]["ppo"]["anneal_lr_steps"] = -1  # -1 = over this run
    assert agent_config(c2, "ppo", "breakout").anneal_lr_steps == 12800
    assert cfg.unroll_length == 32 and list(cfg.cnn_channels) == [16, 32, 32]
    # the Brax PPO keeps Table 1 under the top-level agents.ppo
    assert agent_overrides(c, "ppo", "hopper") == c["agents"]["ppo"]


def test_paper_config_runs_the_authors_atari_protocol():
    c = merged("paper.yaml")
    validate(c)
    s = settings_for(c, "qbert")
    assert s["seeds"] == [0, 1, 2, 3, 4] and settings_for(c, "ant")["seeds"] == list(range(20))
    t = train_settings(c, "ppo", "qbert")
    assert t["total_steps"] == 10_000_000 and t["checkpoints"] == [1_000_000 * i for i in range(1, 11)]
    cfg = agent_config(c, "ppo", "qbert")
    assert (cfg.num_envs, cfg.unroll_length, cfg.epochs, list(cfg.cnn_channels), cfg.cnn_dense) == (8, 128, 4, [32, 64, 64], 512)
    assert cfg.anneal_lr_steps == 10_000_000 and cfg.learning_rate == 2.5e-4
    assert s["post_update"]["n_samples"] == 1000 and c["atari"]["btp_points"] == 50 and c["atari"]["btp_pairs"] >= 20
    assert c["atari"]["noise_scale"] == 3e-4 and c["atari"]["btp_fraction"] == 0.1
    # the authors' README run: --purd-samples 1000 --outer-batch-size 100 --eval-len 10000, their
    # return, fresh Adam without clipping, one pool of environments (docs/appendix-suites.md)
    pu = s["post_update"]
    assert (pu["horizon"], pu["chunk_size"], pu["return_definition"]) == (10000, 100, "authors")
    assert pu["n_samples"] % pu["chunk_size"] == 0
    assert (cfg.post_update_optimizer, cfg.post_update_data) == ("fresh_adam_no_clip", "pool")
    # ppo_interpolate.py: --eval-len 1000 (README), 50 perturbations per point evaluated together
    a = c["atari"]
    assert (a["horizon"], a["btp_perturbations"], a["return_definition"]) == (1000, 50, "authors")
    assert a["chunk_size"] % a["btp_perturbations"] == 0


def test_fig19_grid_is_the_authors_50_points_with_the_endpoints():
    """ppo_interpolate.py l. 108: np.linspace(0, 1, 50, endpoint=True), 48 intermediate points;
    Fig. 6 (Brax) keeps 98 intermediate points plus the endpoints."""
    from retland.analyses.interpolation import btp_alphas

    c = merged("paper.yaml")
    grid = btp_alphas(c["atari"]["btp_points"], c["atari"]["btp_grid"])
    assert len(grid) == 50 and list(grid[:2]) == [1.0, 0.0]
    np.testing.assert_allclose(np.sort(grid), np.linspace(0, 1, 50))
    assert "btp_grid" not in c["interpolation"] and len(btp_alphas(c["interpolation"]["btp_points"])) == 100
    np.testing.assert_array_equal(btp_alphas(3), [1.0, 0.0, 0.25, 0.5, 0.75])
    assert len(btp_alphas(merged("appendix.yaml")["atari"]["btp_points"], "inclusive")) == 50
    with pytest.raises(ValueError, match="no intermediate point"):
        btp_alphas(2, "inclusive")


def _atari_cfg(**changes):
    c = copy.deepcopy(merged("appendix.yaml"))
    for k, v in changes.items():
        node = c
        *path, last = k.split("__")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = v
    return c


@pytest.mark.parametrize("change, message", [
    ({"envs": ["breakot"]}, "'envs': unknown environment 'breakot'"),
    ({"algos": ["td3", "sac"], "envs": ["breakout"]}, "'algos'"),
    ({"atari__algo": "ppo", "algos": ["td3", "sac"]}, "'atari.algo'"),
    ({"suites__atari__seeds": [0]}, "'suites.atari.seeds'"),
    ({"seeds": [0]}, "'seeds'"),
    ({"suites__atari__train__checkpoints": [12800]}, "'suites.atari.train.checkpoints'"),
    ({"suites__atari__train__checkpoints": [2560, 99999]}, "'suites.atari.train.checkpoints': steps [99999]"),
    ({"suites__atari__agents__ppo__cnn_channels": [16, 32]}, "suites.atari.agents.ppo.cnn_channels"),
    ({"suites__atari__agents__ppo__actions": "continuous"}, "'suites.atari.agents.ppo': PPO torso 'nature_cnn'"),
    ({"suites__brax": {}}, "suites"),
    ({"atari__btp_points": 0}, "atari.btp_points"),
    ({"atari__btp_points": 2}, "'atari.btp_points': the inclusive grid"),
    ({"atari__btp_grid": "authors"}, "atari.btp_grid"),
    ({"atari__return_definition": "all_lives"}, "atari.return_definition"),
    ({"suites__dmc__post_update__return_definition": "authors"}, "'suites.dmc.post_update.return_definition'"),
    ({"suites__atari__agents__ppo__post_update_data": "fresh"}, "post_update_data"),
])
def test_bad_atari_configs_are_refused_naming_the_key(change, message):
    with pytest.raises(ConfigError) as e:
        validate(_atari_cfg(**change))
    assert message in str(e.value)


# --- Fig. 19: the E7 path evaluator on a host-stepped suite ---------------------------

@pytest.fixture(scope="module")
def atari_env():
    from retland.base.atari import AtariEnv

    return AtariEnv(GAME, episode_length=50)


def test_host_path_evaluator_rolls_out_the_interpolated_policies(atari_env, jax_cache):
    """Endpoints are the policies themselves, the same (alpha, key) gives the same return,
    and each return is the host rollout of perturb(interpolate(alpha), key, sigma)."""
    from retland.analyses import interpolation as I
    from retland.analyses.source import Source
    from retland.rollout import HostRollout

    env = atari_env
    cfg = ppo.PPOConfig.from_dict({**ppo.SUITE_DEFAULTS["atari"], "anneal_lr_steps": 0, **TINY})
    ta, tb = (ppo_state.policy_params(ppo_state.init(jax.random.PRNGKey(i), env.spec.obs_dim, env.spec.act_dim, cfg))
              for i in (0, 1))
    horizon, chunk = 40, 4
    ev = I.make_path_evaluator(Source(ppo_agent, env, cfg), horizon, chunk_size=chunk)
    ref = HostRollout(env, ppo_agent.make_policy(env.spec.act_dim, cfg), horizon, chunk)
    start = env.reference_state()
    try:
        alphas = np.array([1.0, 0.0, 0.3, 0.7])
        r0 = I.path_returns(ev, ta, tb, alphas, n_perturbations=1, sigma=0.0, key=jax.random.PRNGKey(0),
                            chunk_size=chunk, start_state=start)[:, 0]
        stack = lambda ps: jax.tree_util.tree_map(lambda *x: jnp.stack(x), *ps)  # noqa: E731
        want = ref(stack([I.interpolate(ta, tb, a) for a in alphas]), start)[0]
        np.testing.assert_array_equal(r0, want)
        keys = jax.random.split(jax.random.PRNGKey(3), 4)
        r1, r2 = (I.path_returns(ev, ta, tb, alphas, n_perturbations=1, sigma=0.5, key=jax.random.PRNGKey(3),
                                 chunk_size=chunk, start_state=start)[:, 0] for _ in range(2))
        np.testing.assert_array_equal(r1, r2)
        noisy = stack([I.gaussian_perturbation(I.interpolate(ta, tb, a), k, 0.5) for a, k in zip(alphas, keys)])
        np.testing.assert_array_equal(r1, ref(noisy, start)[0])
    finally:
        ev.rollout.close()
        ref.close()
    with pytest.raises(ValueError, match="chunk size"):
        I.make_path_evaluator(Source(ppo_agent, env, cfg), horizon)


def test_host_path_evaluator_with_the_authors_return_groups_each_points_perturbations(atari_env, jax_cache):
    """Fig. 19 under the authors' return (ppo_interpolate.py parallel_eval: a point's
    perturbations in one evaluate_policy call): each point's copies are one early-stop group."""
    from retland.analyses import interpolation as I
    from retland.analyses.source import Source
    from retland.rollout import HostRollout

    env = atari_env
    cfg = ppo.PPOConfig.from_dict({**ppo.SUITE_DEFAULTS["atari"], "anneal_lr_steps": 0, **TINY})
    ta, tb = (ppo_state.policy_params(ppo_state.init(jax.random.PRNGKey(i), env.spec.obs_dim, env.spec.act_dim, cfg))
              for i in (0, 1))
    horizon, chunk, start = 40, 4, env.reference_state()
    ev = I.make_path_evaluator(Source(ppo_agent, env, cfg), horizon, chunk_size=chunk, return_definition="authors")
    ref = HostRollout(env, ppo_agent.make_policy(env.spec.act_dim, cfg), horizon, chunk, return_definition="authors")
    try:
        two = np.array([0.3, 0.7])
        r = I.path_returns(ev, ta, tb, two, n_perturbations=2, sigma=0.5, key=jax.random.PRNGKey(4),
                           chunk_size=chunk, start_state=start)
        keys = jax.random.split(jax.random.PRNGKey(4), 4)
        noisy = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *[
            I.gaussian_perturbation(I.interpolate(ta, tb, a), k, 0.5) for a, k in zip(np.repeat(two, 2), keys)])
        np.testing.assert_array_equal(r.ravel(), ref(noisy, start, groups=[0, 0, 1, 1])[0])
    finally:
        ev.rollout.close()
        ref.close()


# --- Fig. 20 / 21 ------------------------------------------------------------------------

def _stats(games=("qbert", "breakout")):
    rows = []
    rng = np.random.default_rng(0)
    for g in games:
        for seed in (0, 1):
            for step in (2560, 5120, 7680):
                m = float(rng.uniform(1, 20))
                rows.append({"suite": "atari", "env": g, "algo": "ppo", "seed": seed, "step": step, "mean": m,
                             "std": float(rng.uniform(0, m)), "skewness": 0.0, "ltp": float(rng.uniform(0, 0.3))})
    return pd.DataFrame(rows)


def test_fig20_selection_and_fig21_scatter(tmp_path):
    from retland.plots.atari import fig20_histograms_atari, fig21_scatter_atari, select_atari_policies

    stats = _stats()
    chosen = select_atari_policies(stats, ["qbert", "breakout", "seaquest"], 2)
    assert [c["env"] for c in chosen] == ["qbert", "qbert", "breakout", "breakout"]
    assert chosen == select_atari_policies(stats, ["qbert", "breakout"], 2)  # deterministic
    assert len({(c["seed"], c["step"]) for c in chosen[:2]}) == 2
    q = stats[stats["env"] == "qbert"].sort_values("std", ascending=False)
    assert [(c["seed"], c["step"]) for c in chosen[:2]] == list(zip(q["seed"][:2], q["step"][:2]))  # largest std
    fig21_scatter_atari(stats, ["qbert", "breakout"], tmp_path / "f21.png", tmp_path / "f21.pdf", dpi=40)
    items = [(c["env"], f"run {c['seed']}", np.array([0, 1, 1, 2, 5, np.nan])) for c in chosen]
    fig20_histograms_atari(items, tmp_path / "f20.png", tmp_path / "f20.pdf", dpi=40)
    for f in ("f20.png", "f20.pdf", "f21.png", "f21.pdf"):
        assert os.path.getsize(tmp_path / f) > 1000
    with pytest.raises(ValueError, match="no post-update statistics for the Atari games"):
        fig21_scatter_atari(stats, ["seaquest"], tmp_path / "x.png", None)
    with pytest.raises(ValueError, match="no policies"):
        fig20_histograms_atari([], tmp_path / "y.png")


def test_fig19_summary_aggregates_games_as_tasks():
    """Fig. 19 is E7's aggregation: pairs with undefined BTP are left out and counted."""
    from retland.analyses.interpolation import below_threshold_summary

    btp = pd.DataFrame({"env": ["qbert"] * 4 + ["breakout"] * 4,
                        "kind": ["same_run", "same_run", "different_run", "different_run"] * 2,
                        "btp": [0.0, 0.1, 0.5, np.nan, 0.0, 0.0, 0.3, 0.7]})
    s = below_threshold_summary(btp, 200, 0.95, 0).set_index("kind")
    assert s.loc["same_run", "n_pairs"] == 4 and s.loc["different_run", "n_pairs"] == 3
    assert s.loc["different_run", "n_undefined"] == 1
    assert s.loc["same_run", "mean"] == pytest.approx(0.025)
    assert s.loc["same_run", "lo"] <= s.loc["same_run", "mean"] <= s.loc["same_run", "hi"]


def test_fig19_pairs_come_from_all_policies():
    """Fig. 6 screens out policies below half the best mean; Fig. 19 (A.6) samples all
    policies: with 2 runs x 5 checkpoints there are 20 same-run and 25 different-run pairs."""
    from retland.analyses.interpolation import sample_random_pairs

    rows = [{"env": "qbert", "algo": "ppo", "seed": s, "step": k, "mean": 10.0 if (s, k) in ((0, 1), (0, 2)) else 1.0,
             "std": 1.0, "ltp": 0.0} for s in (0, 1) for k in range(1, 6)]
    stats = pd.DataFrame(rows)
    same = sample_random_pairs(stats, "qbert", "ppo", "same_run", 20, 0, screen=False)
    diff = sample_random_pairs(stats, "qbert", "ppo", "different_run", 20, 0, screen=False)
    assert len(same) == 20 and len(diff) == 20 and (same["seed_a"] == same["seed_b"]).all()
    assert (diff["seed_a"] != diff["seed_b"]).all() and not same.duplicated().any()
    assert len(sample_random_pairs(stats, "qbert", "ppo", "same_run", 20, 0)) < 20  # Fig. 6's screening


def test_suite_sections_in_the_schema_are_the_ones_settings_for_merges():
    """A key allowed under suites.<suite> by the schema is one ``settings_for`` applies."""
    from retland.config import SUITE_SECTIONS, load_schema

    assert set(load_schema()["$defs"]["suite_section"]["properties"]) == set(SUITE_SECTIONS)
    c = merged("appendix.yaml")
    assert set(settings_for(c, "qbert")) == set(SUITE_SECTIONS)
