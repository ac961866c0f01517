"""Config validation: every shipped config is valid; bad values are refused naming the key."""

import copy
import os

import pytest
import yaml

from retland.config import ConfigError, load_schema, train_settings, validate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name):
    with open(os.path.join(REPO, "config", name)) as f:
        return yaml.safe_load(f)


def merged(name):
    """Snakemake merges --configfile over config/config.yaml key by key."""
    base = load("config.yaml")

    def upd(a, b):
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                upd(a[k], v)
            else:
                a[k] = v
        return a

    return upd(base, load(name)) if name != "config.yaml" else base


@pytest.mark.parametrize("name", ["config.yaml", "ci.yaml", "paper.yaml", "study.yaml", "appendix.yaml", "gpu.yaml"])
def test_shipped_configs_are_valid(name):
    validate(merged(name))


def test_gpu_config_has_table_1_sizes():
    # issue 22: one GPU, about an hour, at the paper's Table 1 sizes
    c = merged("gpu.yaml")
    for algo in ("td3", "sac"):
        a = c["agents"][algo]
        assert a["hidden"] == [256, 256] and a["batch_size"] == 256 and a["learning_starts"] == 10_000
    assert c["agents"]["ppo"]["hidden"] == [256, 256] and c["agents"]["ppo"]["num_envs"] == 2048
    assert c["post_update"]["n_samples"] == 1000 and c["post_update"]["horizon"] == 1000
    assert c["resources"]["gpu"] is True and c["interpolation"]["btp_perturbations"] == 100
    assert c["rejection"]["n_iterations"] == 40


def test_paper_config_is_the_paper_protocol():
    c = merged("paper.yaml")
    assert c["seeds"] == list(range(20))
    # Brax (Sec. 3.1) and the five DeepMind Control tasks of A.5 (Fig. 14-18)
    assert c["envs"] == ["ant", "halfcheetah", "hopper", "walker2d", "quadruped-walk", "quadruped-run",
                         "humanoid-stand", "humanoid-walk", "humanoid-run", "qbert", "mspacman", "breakout",
                         "seaquest"]  # and the four Atari games of A.6 (Fig. 19-21)
    # E11: every laptop-scale key of config.yaml's suites.atari / atari sections is set again
    base = load("config.yaml")
    for section in ("train", "post_update"):
        assert set(base["suites"]["atari"][section]) <= set(load("paper.yaml")["suites"]["atari"][section])
    assert set(base["suites"]["atari"]["agents"]["ppo"]) <= set(load("paper.yaml")["suites"]["atari"]["agents"]["ppo"])
    assert set(base["atari"]) <= set(load("paper.yaml")["atari"])
    assert c["train"]["total_steps"] == 1_000_000
    assert c["train"]["checkpoints"] == [50_000 + 100_000 * i for i in range(10)]
    assert c["post_update"]["n_samples"] == 1000 and c["post_update"]["horizon"] == 1000
    assert c["algos"] == ["td3", "sac", "ppo"]
    # PPO: 60M steps, 10 equally spaced checkpoints (A.1); TD3/SAC share the train keys
    ppo = train_settings(c, "ppo")
    assert ppo["total_steps"] == 60_000_000 and ppo["checkpoints"] == [6_000_000 * (i + 1) for i in range(10)]
    assert train_settings(c, "sac")["checkpoints"] == c["train"]["checkpoints"]
    # Table 1 everywhere: nothing of the small-scale default leaks through the merge
    from retland.config import agent_config

    td3, sac, ppo_cfg = (agent_config(c, a) for a in ("td3", "sac", "ppo"))
    assert td3.learning_starts == 10_000 and sac.learning_starts == 10_000
    for cfg in (td3, sac, ppo_cfg):
        assert tuple(cfg.hidden) == (256, 256)
    assert td3.batch_size == 256 and sac.batch_size == 256
    assert (ppo_cfg.num_envs, ppo_cfg.unroll_length, ppo_cfg.num_minibatches, ppo_cfg.epochs) == (2048, 16, 2, 4)
    assert ppo_cfg.learning_rate == 0.0026 and ppo_cfg.vf_coef == 2.0 and ppo_cfg.gae_lambda == 0.95
    assert ppo_cfg.normalize_observations is False  # the authors' PPO had no observation normaliser
    # Brax 0.14's tasks as they are: the default's hopper variant does not leak in
    for env, kw in (c.get("env_kwargs") or {}).items():
        assert kw.get("terminate_when_unhealthy", True) is True, (env, kw)
    assert c["stats"] == {"n_boot": 1000, "ci": 0.95, "cvar_alpha": 0.1, "seed": 0}


def test_every_schema_key_is_described():
    def walk(node, path):
        if not isinstance(node, dict):
            return
        for k, v in node.get("properties", {}).items():
            assert v.get("description"), f"{path}.{k} has no description"
            walk(v, f"{path}.{k}")
        if "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} allows unknown keys"

    walk(load_schema(), "config")


BAD = [
    (lambda c: c.update(colour="red"), r"unknown key\(s\) \['colour'\]"),
    (lambda c: c["post_update"].update(nsamples=3), r"unknown key\(s\) \['nsamples'\] under 'post_update'"),
    (lambda c: c.update(seeds=[]), r"'seeds'"),
    (lambda c: c["post_update"].update(n_samples=0), r"'post_update.n_samples'"),
    (lambda c: c["post_update"].update(horizon=-5), r"'post_update.horizon'"),
    (lambda c: c.update(envs=["hopper", "cartpole"]), r"'envs': unknown environment 'cartpole'; known: .*'quadruped-walk'"),
    (lambda c: c.update(envs=["humanoid-run"], algos=["td3", "ppo"]), r"'algos': ppo runs in suites \['brax', 'atari'\], none"),
    (lambda c: c.update(algos=["dqn"]), r"'algos.0'"),
    (lambda c: c["train"].update(checkpoints=[3000, 99999]), r"'train.checkpoints'.*99999.*beyond"),
    (lambda c: c["train"]["ppo"].update(checkpoints=[100000, 10**9]), r"'train.ppo.checkpoints'.*beyond.*ppo"),
    (lambda c: c["train"].update(sac={"total_steps": 500}), r"'agents.sac.learning_starts'.*sac training length"),
    (lambda c: c["train"].update(ppo={"steps": 5}), r"unknown key\(s\) \['steps'\] under 'train.ppo'"),
    (lambda c: c.update(backend="physx"), r"'backend'"),
    (lambda c: c["agents"].update(td3={"learning_starts": 10**9}), r"'agents.td3.learning_starts'"),
    (lambda c: c["agents"].update(td3={"lr": 1}), r"unknown key\(s\) \['lr'\] under 'agents.td3'"),
    (lambda c: c.pop("run"), r"'run' is a required property"),
    (lambda c: c["stats"].update(ci=1.5), r"'stats.ci'"),
]


@pytest.mark.parametrize("mutate, match", BAD)
def test_bad_config_names_the_key(mutate, match):
    c = copy.deepcopy(merged("config.yaml"))
    mutate(c)
    with pytest.raises(ConfigError, match=match):
        validate(c)


def test_xla_cpu_flags_are_added_once_and_respect_the_user(monkeypatch):
    from retland import portability
    from retland.runtime import XLA_CPU_FLAGS, with_xla_cpu_flags

    monkeypatch.setattr(portability, "is_x86_64", lambda: True)
    monkeypatch.delenv("RETLAND_XLA_CPU_ISA", raising=False)
    flag, isa = "--xla_cpu_enable_concurrency_optimized_scheduler", "--xla_cpu_max_isa"
    fast = "--xla_llvm_disable_expensive_passes"  # runtime.COMPILE_FLAGS: shorter compilation, same bits
    cons = "--xla_cpu_enable_platform_dependent_math=false --xla_cpu_experimental_ynn_fusion_type="
    assert " ".join(portability.CONSISTENCY_FLAGS) == cons
    both = f"{flag}=false {fast}=true {isa}=AVX2 {cons}"
    assert with_xla_cpu_flags("") == both
    assert with_xla_cpu_flags(with_xla_cpu_flags("--x=1")) == f"--x=1 {both}"
    assert with_xla_cpu_flags(f"{flag}=true") == f"{flag}=true {fast}=true {isa}=AVX2 {cons}"  # an explicit user choice wins
    assert with_xla_cpu_flags(f"{fast}=false") == f"{fast}=false {flag}=false {isa}=AVX2 {cons}"
    assert with_xla_cpu_flags(f"{isa}=AVX512") == f"{isa}=AVX512 {flag}=false {fast}=true {cons}"
    # the one documented setting: another level, or native (no cap, XLA's defaults)
    assert with_xla_cpu_flags("", {"RETLAND_XLA_CPU_ISA": "avx"}) == f"{flag}=false {fast}=true {isa}=AVX {cons}"
    assert with_xla_cpu_flags("", {"RETLAND_XLA_CPU_ISA": "native"}) == f"{flag}=false {fast}=true"
    with pytest.raises(ValueError, match="RETLAND_XLA_CPU_ISA='avx3' is not an XLA CPU instruction set"):
        with_xla_cpu_flags("", {"RETLAND_XLA_CPU_ISA": "avx3"})
    # a CPU that is not x86-64: XLA's x86 levels do not apply; the consistency flags still do
    monkeypatch.setattr(portability, "is_x86_64", lambda: False)
    assert with_xla_cpu_flags("") == f"{flag}=false {fast}=true {cons}"
    assert portability.effective_isa({"XLA_FLAGS": ""}).startswith("native (")
    assert "AVX2" in " ".join(XLA_CPU_FLAGS) or not portability.is_x86_64()


def test_machine_provenance_names_cpu_isa_flags_versions_threads(monkeypatch):
    from retland import portability, provenance

    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2 --xla_cpu_enable_concurrency_optimized_scheduler=false")
    m = provenance.record({})["machine"]
    assert set(m) >= {"cpu_model", "arch", "isa_setting", "xla_cpu_max_isa", "xla_flags", "jax", "jaxlib", "threads"}
    assert m["xla_cpu_max_isa"] == "AVX2" and m["xla_flags"] == "--xla_cpu_max_isa=AVX2 --xla_cpu_enable_concurrency_optimized_scheduler=false"
    assert m["threads"] >= 1 and m["jax"] and m["jaxlib"]
    assert "AVX2" in portability.machine_line(m)


@pytest.mark.parametrize("run", [".", "..", "a/b", "/abs", ".hidden", "../x", "a b", ""])
def test_run_name_must_be_a_plain_file_name(run):
    c = merged("config.yaml")
    c["run"] = run
    with pytest.raises(ConfigError, match="'run'"):
        validate(c)


@pytest.mark.parametrize("kw, message", [
    ({"hopper": {"n_frame": 10}}, "'env_kwargs.hopper.n_frame': not a settable argument"),
    ({"hopper": {"n_frames": 0}}, "'env_kwargs.hopper.n_frames' must be an integer >= 1"),
    ({"hopper": {"n_frames": 2.5}}, "'env_kwargs.hopper.n_frames' must be an integer >= 1"),
    ({"hopper": {"terminate_when_unhealthy": "no"}}, "'env_kwargs.hopper.terminate_when_unhealthy' must be true or false"),
    ({"hopper": {"healthy_angle_range": [0.2, -0.2]}}, "'env_kwargs.hopper.healthy_angle_range' must be \\[low, high\\]"),
    ({"hopper": {"reset_noise_scale": -1}}, "'env_kwargs.hopper.reset_noise_scale' must be >= 0"),
    ({"halfcheetah": {"healthy_angle_range": [-1, 1]}}, "'env_kwargs.halfcheetah.healthy_angle_range': not a settable"),
    ({"hopper": {"exclude_current_positions_from_observation": False}}, "not a settable argument"),
    ({"pong": {}}, "unknown key"),
])
def test_bad_task_variants_are_refused_naming_the_key(kw, message):
    c = merged("config.yaml")
    c["env_kwargs"] = kw
    with pytest.raises(ConfigError, match=message):
        validate(c)


def test_settable_task_arguments_are_real_brax_arguments():
    """BRAX_KWARGS (what a config may set) against the installed Brax constructors."""
    import inspect

    from brax import envs as brax_envs

    from retland.base.brax_env import BRAX_KWARGS, BRAX_TASKS

    for name, allowed in BRAX_KWARGS.items():
        cls = brax_envs._envs[BRAX_TASKS[name]]
        params = set(inspect.signature(cls.__init__).parameters) | {"n_frames"}  # n_frames: PipelineEnv
        assert set(allowed) <= params, (name, set(allowed) - params)


def test_task_variant_reaches_the_simulator():
    from retland.base.envs import make_env

    env = make_env("hopper", "spring", 100, {"n_frames": 10, "healthy_angle_range": [-1000, 1000.0]})
    assert env._train._n_frames == 10 and env._ref._n_frames == 10
    assert env._train._healthy_angle_range == (-1000.0, 1000.0)
    assert env._ref._reset_noise_scale == 0.0 and env.env_kwargs["healthy_angle_range"] == [-1000.0, 1000.0]


def test_appendix_config_is_every_dmc_task_and_atari_game_of_the_paper_at_laptop_scale():
    """E10 (A.5): all five tasks with TD3 and SAC; E11 (A.6): all four games with PPO (fewer
    seeds and steps, never fewer tasks); Fig. 19 with >= 20 pairs per kind and 50 points."""
    from retland.agents import runs_in

    c = merged("appendix.yaml")
    validate(c)
    assert c["envs"] == ["quadruped-walk", "quadruped-run", "humanoid-stand", "humanoid-walk", "humanoid-run",
                         "qbert", "mspacman", "breakout", "seaquest"]
    assert c["algos"] == ["td3", "sac", "ppo"] and c["post_update"]["horizon"] == 1000 and c["episode_length"] == 1000
    assert [a for a in c["algos"] if runs_in(a, "qbert")] == ["ppo"]
    assert [a for a in c["algos"] if runs_in(a, "humanoid-run")] == ["td3", "sac"]
    n_ck = len(train_settings(c, "ppo", "qbert")["checkpoints"])
    n_seeds = len(c["seeds"])
    assert n_seeds * n_ck * (n_ck - 1) // 2 >= 20 and n_seeds * (n_seeds - 1) // 2 * n_ck ** 2 >= 20
    assert c["atari"]["btp_pairs"] >= 20 and c["atari"]["btp_points"] == 50 and c["atari"]["noise_scale"] == 3e-4


def test_a_config_without_brax_tasks_needs_no_brax_analysis_settings():
    """E3-E9 and E12 study Brax tasks: their cross-key checks do not apply to a DMC-only config."""
    c = copy.deepcopy(merged("appendix.yaml"))
    c["bc"]["teachers_per_run"] = 9  # more teachers than checkpoints: only an error with Brax tasks
    validate(c)
    c["envs"] = ["hopper"]
    with pytest.raises(ConfigError, match="bc.teachers_per_run"):
        validate(c)
